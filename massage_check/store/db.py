"""The transcript store: one SQLite file (WAL) in a private data directory.

Why SQLite in WAL mode with synchronous=FULL and one transaction per turn: a
patient session can be cut at any moment (power, kill -9) and a staff member may
read the page while a session is being written. Each committed turn survives a
crash; a session whose writer died is marked `interrupted` the next time any
process opens the store. secure_delete plus VACUUM make a deleted session's text
really leave the file (it is health information).

A session that needs a person (see `attention.needs_attention`) is flagged in the
same transaction that ends it, so a flag is never lost while its result is kept.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from massage_check.store.attention import needs_attention
from massage_check.store.errors import StorageError, UnknownSession, from_os, from_sqlite

DB_NAME = "transcripts.db"
AUDIO_DIR = "audio"
SCHEMA_VERSION = 2                 # 2: attention_at / ack_by / ack_at, the desk table
STATUSES = ("in_progress", "completed", "interrupted")
ANSWERS = ("yes", "no", "unsure")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id           TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,              -- UTC ISO-8601, sortable as text
    ended_at     TEXT,
    mode         TEXT NOT NULL,
    model        TEXT,
    rules_file   TEXT,
    rules_sha256 TEXT,
    status       TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'interrupted')),
    completed    INTEGER,                    -- the dialog's own flag: every question asked
    ended_by     TEXT,
    outcome      TEXT,
    rules_json   TEXT NOT NULL DEFAULT '[]',
    explanation  TEXT,
    answers_json TEXT NOT NULL DEFAULT '{}',
    writer       TEXT,                       -- host:pid:start of the writing process
    attention_at TEXT,                       -- ended needing a person (UTC), NULL = no
    ack_by       TEXT,                       -- staff member who acknowledged it
    ack_at       TEXT
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_at);
CREATE TABLE IF NOT EXISTS turns (
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx            INTEGER NOT NULL,
    time           TEXT NOT NULL,
    question_id    TEXT,
    prompt         TEXT NOT NULL DEFAULT '',
    heard          TEXT,
    confidence     REAL,
    interpretation TEXT,
    answer         TEXT,
    audio          TEXT,                     -- file name in audio/<session id>/, or NULL
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    session_id TEXT,
    detail     TEXT
);
CREATE TABLE IF NOT EXISTS desk (            -- the last time a logged-in review page looked
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    seen_at TEXT NOT NULL,
    seen_by TEXT
);
"""
# Columns added after schema 1, for files made by an older massage-check.
_ADDED_COLUMNS = {"attention_at": "TEXT", "ack_by": "TEXT", "ack_at": "TEXT"}



def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def to_utc_iso(value: str | datetime | None, what: str = "time") -> str | None:
    """Normalise a timestamp to UTC ISO-8601 so text order is time order."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{what} {value!r} is not an ISO-8601 date/time") from exc
    if value.tzinfo is None:
        value = value.astimezone()  # naive = this machine's local time
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def _process_tag(pid: int | None = None) -> str:
    """host:pid:start-time, so a reused pid is not mistaken for the old writer."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _writer_alive(tag: str | None) -> bool:
    if not tag:
        return False
    try:
        host, pid_text, start = tag.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # cannot tell; never mark another machine's live session
    if start != "?":
        return _start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain(obj: Any) -> dict[str, Any]:
    """Accept a mapping, an object with to_dict(), or a dataclass (dialog.Turn)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    raise TypeError(f"expected a mapping or dataclass, got {type(obj).__name__}")


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be text or null, got {value!r}")
    return value


def _check_turn(turn: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one turn dict (docs/architecture.md) before it reaches the database."""
    index = turn.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValueError(f"turn index must be a whole number >= 0, got {index!r}")
    conf = turn.get("confidence")
    if conf is not None:
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 <= conf <= 1.0:
            raise ValueError(f"turn {index}: confidence must be between 0 and 1 or null, got {conf!r}")
        conf = float(conf)
    answer = _opt_str(turn, "answer")
    if answer is not None and answer not in ANSWERS:
        raise ValueError(f"turn {index}: answer must be one of {ANSWERS} or null, got {answer!r}")
    prompt = turn.get("prompt") or ""
    if isinstance(prompt, (list, tuple)):
        prompt = " ".join(str(p) for p in prompt)
    if not isinstance(prompt, str):
        raise ValueError(f"turn {index}: prompt must be text, got {prompt!r}")
    return {
        "idx": index,
        "time": to_utc_iso(turn.get("time") or utc_now(), f"turn {index} time"),
        "question_id": _opt_str(turn, "question_id"),
        "prompt": prompt,
        "heard": _opt_str(turn, "heard"),
        "confidence": conf,
        "interpretation": _opt_str(turn, "interpretation"),
        "answer": answer,
    }


@dataclass(frozen=True)
class SessionSummary:
    """One line of the session list."""

    id: str
    started_at: str
    ended_at: str | None
    mode: str
    status: str
    outcome: str | None
    ended_by: str | None
    turns: int
    attention_at: str | None = None     # flagged for a person (UTC); None = not flagged
    ack_by: str | None = None


@dataclass(frozen=True)
class OpenReport:
    """What happened while opening: things an operator should hear about."""

    interrupted: tuple[str, ...] = ()
    purged: int = 0
    corrupt_moved_to: Path | None = None
    notices: tuple[str, ...] = field(default=())


class TranscriptStore:
    """Sessions, turns and the audit log in `<data_dir>/transcripts.db`.

    Safe to use from several threads (one connection per thread) and several
    processes (SQLite WAL locking). Open it with `TranscriptStore.open(...)`.
    """

    def __init__(self, data_dir: Path, *, keep_audio: bool, retention_days: int) -> None:
        self.data_dir = data_dir
        self.path = data_dir / DB_NAME
        self.audio_dir = data_dir / AUDIO_DIR
        self.keep_audio = keep_audio
        self.retention_days = retention_days
        self.report = OpenReport()
        self._local = threading.local()
        self._writer = _process_tag()
        self._last_purge = time.monotonic()

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, data_dir: Path | str, *, keep_audio: bool = False, retention_days: int = 0,
             purge: bool = True) -> TranscriptStore:
        """Create/open the store, recover from a crash or a corrupt file, apply retention."""
        store = cls(Path(data_dir).expanduser(), keep_audio=keep_audio, retention_days=retention_days)
        store._prepare_files()
        moved = store._check_or_replace()
        store._init_schema()
        interrupted = store.mark_interrupted()
        purged = store.purge() if (purge and retention_days > 0) else 0
        notices = []
        if moved:
            notices.append(f"{store.path} was damaged and could not be read; it was moved to "
                           f"{moved} and a fresh database was started. Keep the old file for "
                           f"recovery (sqlite3 '.recover') or delete it.")
            store.audit("system", "corrupt_database_replaced", detail=str(moved))
        if interrupted:
            notices.append(f"{len(interrupted)} session(s) were cut off earlier and are marked interrupted.")
        store.report = OpenReport(tuple(interrupted), purged, moved, tuple(notices))
        return store

    @classmethod
    def from_config(cls, cfg: Any = None, *, purge: bool = True) -> TranscriptStore:
        """Open the store where the user's config says (data dir, audio, retention)."""
        from massage_check import config as config_mod
        cfg = cfg if cfg is not None else config_mod.load_config()
        return cls.open(config_mod.data_dir(cfg), keep_audio=bool(cfg.get("keep_audio", False)),
                        retention_days=int(cfg.get("retention_days", 0) or 0), purge=purge)

    def _prepare_files(self) -> None:
        """0700 directory, 0600 database: created that way, tightened if found looser."""
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _tighten(self.data_dir, 0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                if p.exists():
                    _tighten(p, 0o600)
        except OSError as exc:
            raise from_os(exc.filename or self.data_dir, exc, "create the transcript database") from exc
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise StorageError(self.data_dir, "the data directory is not writable",
                               "Make it writable by this user (chown/chmod), or set `data_dir` "
                               "or MASSAGE_CHECK_DATA_DIR to a writable directory.")

    def _check_or_replace(self) -> Path | None:
        """Open the file; if SQLite says it is damaged, move it aside and start fresh."""
        try:
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row and row[0] == "ok":
                return None
        except (sqlite3.DatabaseError, StorageError) as exc:
            cause = exc.__cause__ if isinstance(exc, StorageError) else exc
            if not isinstance(cause, sqlite3.DatabaseError) or not _is_corruption(cause):
                if isinstance(exc, StorageError):
                    raise
                raise from_sqlite(self.path, exc) from exc
        self.close()
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        moved = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}")
        n = 1
        while moved.exists():                       # never overwrite an earlier damaged copy
            n += 1
            moved = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}-{n}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, f"{moved}{suffix}")
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise from_os(self.path, exc, "move the damaged database aside") from exc
        self._conn().execute("PRAGMA journal_mode=WAL").fetchone()
        return moved

    def _init_schema(self) -> None:
        with self._tx() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(self.path, f"made by a newer massage-check (schema {version})",
                                   "Upgrade massage-check, or point `data_dir` elsewhere.")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            have = {r["name"] for r in conn.execute("PRAGMA table_info(sessions)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:      # older sessions are not flagged: they were handled then
                    conn.execute(f"ALTER TABLE sessions ADD COLUMN {column} {kind}")
            conn.execute("CREATE INDEX IF NOT EXISTS sessions_attention ON sessions (attention_at) "
                         "WHERE attention_at IS NOT NULL AND ack_at IS NULL")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None,
                                       check_same_thread=True)
            except sqlite3.Error as exc:
                raise from_sqlite(self.path, exc) from exc
            try:
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA secure_delete=ON")
            except sqlite3.Error as exc:
                conn.close()
                raise from_sqlite(self.path, exc) from exc
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any SQLite failure becomes a StorageError."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise from_sqlite(self.path, exc) from exc

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise from_sqlite(self.path, exc) from exc

    # ----------------------------------------------------------------- writing
    def begin_session(self, meta: Mapping[str, Any] | Any) -> str:
        """Record a new session (status in_progress); returns its id.

        `meta` is a transcript dict (or part of one): session_id, started_at,
        mode, model, rules_file, rules_sha256. Missing id/time are generated.
        """
        self.maybe_purge()
        m = _plain(meta)
        sid = m.get("session_id") or uuid.uuid4().hex
        if not isinstance(sid, str) or not sid.isalnum():
            raise ValueError(f"session_id must be letters/digits, got {sid!r}")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO sessions (id, started_at, mode, model, rules_file, rules_sha256, "
                "status, writer) VALUES (?, ?, ?, ?, ?, ?, 'in_progress', ?)",
                (sid, to_utc_iso(m.get("started_at") or utc_now(), "started_at"),
                 m.get("mode") or "text", _opt_str(m, "model"), _opt_str(m, "rules_file"),
                 _opt_str(m, "rules_sha256"), self._writer))
        return sid

    def add_turn(self, session_id: str, turn: Mapping[str, Any] | Any, audio: bytes | None = None) -> None:
        """Commit one turn (its own transaction). Audio is kept only if keep_audio is on."""
        row = _check_turn(_plain(turn))
        audio_name = None
        if audio is not None and self.keep_audio:
            audio_name = f"turn-{row['idx']:03d}.wav"
            self._write_audio(session_id, audio_name, audio)
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                raise UnknownSession(f"no session {session_id!r}: call begin_session first")
            conn.execute(
                "INSERT OR REPLACE INTO turns (session_id, idx, time, question_id, prompt, heard, "
                "confidence, interpretation, answer, audio) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (session_id, row["idx"], row["time"], row["question_id"], row["prompt"], row["heard"],
                 row["confidence"], row["interpretation"], row["answer"], audio_name))

    def finish_session(self, session_id: str, outcome: str | None, rules: list[str] | tuple[str, ...],
                       explanation: str | None, answers: Mapping[str, str] | None, ended_by: str | None,
                       *, completed: bool | None = None, ended_at: str | None = None) -> None:
        """Record the result; the session becomes `completed` (it ended under control).

        An outcome that needs a person flags the session in the same transaction
        (never unflagged or un-acknowledged by a later call: finishing is repeatable).
        """
        ended = to_utc_iso(ended_at or utc_now(), "ended_at")
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE sessions SET status='completed', ended_at=?, outcome=?, rules_json=?, "
                "explanation=?, answers_json=?, ended_by=?, completed=?, "
                "attention_at=CASE WHEN ? THEN COALESCE(attention_at, ?) ELSE attention_at END WHERE id=?",
                (ended, outcome, json.dumps(list(rules or [])),
                 explanation, json.dumps(dict(answers or {}), sort_keys=True), ended_by,
                 None if completed is None else int(bool(completed)), int(needs_attention(outcome)),
                 utc_now(), session_id))
            if cur.rowcount == 0:
                raise UnknownSession(f"no session {session_id!r}: call begin_session first")

    def save_transcript(self, record: Mapping[str, Any] | Any) -> str:
        """Write a whole transcript (Transcript.to_dict() shape) at once; idempotent.

        Used to fill in a session whose turn-by-turn writes failed earlier.
        """
        rec = _plain(record)
        sid = rec.get("session_id")
        exists = bool(sid) and bool(self._read("SELECT 1 FROM sessions WHERE id=?", (sid,)))
        if not exists:
            sid = self.begin_session(rec)
        for turn in rec.get("turns") or []:
            self.add_turn(sid, turn)
        if rec.get("ended_at") or rec.get("outcome") or rec.get("ended_by"):
            self.finish_session(sid, rec.get("outcome"), rec.get("rules") or [], rec.get("explanation"),
                                rec.get("answers") or {}, rec.get("ended_by"),
                                completed=rec.get("completed"), ended_at=rec.get("ended_at"))
        return sid

    def _write_audio(self, session_id: str, name: str, data: bytes) -> None:
        folder = self.audio_dir / session_id
        target = folder / name
        try:
            self.audio_dir.mkdir(mode=0o700, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise from_os(target, exc, "save the answer's audio") from exc

    def interrupt_session(self, session_id: str) -> None:
        """Mark one unfinished session `interrupted` and flag it: a patient was left mid-way."""
        now = utc_now()
        with self._tx() as conn:
            conn.execute("UPDATE sessions SET status='interrupted', ended_at=COALESCE(ended_at, ?), "
                         "attention_at=COALESCE(attention_at, ?) WHERE id=? AND status='in_progress'",
                         (now, now, session_id))

    def mark_interrupted(self) -> list[str]:
        """Sessions still in_progress whose writing process is gone become `interrupted` (and flagged)."""
        rows = self._read("SELECT id, writer FROM sessions WHERE status='in_progress'")
        dead = [r["id"] for r in rows if not _writer_alive(r["writer"])]
        if dead:
            now = utc_now()
            with self._tx() as conn:
                conn.executemany("UPDATE sessions SET status='interrupted', "
                                 "attention_at=COALESCE(attention_at, ?) "
                                 "WHERE id=? AND status='in_progress'", [(now, s) for s in dead])
        return dead

    # ---------------------------------------------------------------- deleting
    def delete_session(self, session_id: str) -> None:
        """Delete one session, its turns and its audio."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM sessions WHERE id=?", (session_id,))
            if cur.rowcount == 0:
                raise UnknownSession(f"no session {session_id!r}")
        self._remove_audio([session_id])
        self._compact()

    def purge(self, older_than_days: int | None = None, now: datetime | None = None) -> int:
        """Delete sessions started more than N days ago (default: retention_days); VACUUM."""
        days = self.retention_days if older_than_days is None else older_than_days
        if days <= 0:
            return 0
        cutoff = to_utc_iso((now or datetime.now(timezone.utc)) - timedelta(days=days))
        with self._tx() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM sessions WHERE started_at < ? AND status != 'in_progress'", (cutoff,))]
            conn.executemany("DELETE FROM sessions WHERE id=?", [(s,) for s in ids])
        if ids:
            self._remove_audio(ids)
            self._compact()
        return len(ids)

    def maybe_purge(self, every_seconds: float = 6 * 3600) -> int:
        """Apply retention again if it last ran long ago: a kiosk or review page runs for months."""
        if self.retention_days <= 0 or time.monotonic() - self._last_purge < every_seconds:
            return 0
        self._last_purge = time.monotonic()
        try:
            return self.purge()
        except StorageError:
            return 0  # retried next time; never blocks a session from starting

    def _remove_audio(self, ids: list[str]) -> None:
        for sid in ids:
            folder = self.audio_dir / sid
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def _compact(self) -> None:
        """Rewrite the file without free pages, then empty the WAL: deleted text is gone."""
        conn = self._conn()
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.OperationalError:
            pass  # busy reader: secure_delete already zeroed the rows; VACUUM next time

    # ----------------------------------------------------------------- reading
    def list_sessions(self, *, since: str | datetime | None = None, outcome: str | None = None,
                      status: str | None = None, limit: int | None = None) -> list[SessionSummary]:
        """Sessions newest first, optionally filtered."""
        where, params = [], []
        if since is not None:
            where.append("s.started_at >= ?")
            params.append(to_utc_iso(since, "since"))
        if outcome:
            where.append("s.outcome = ?")
            params.append(outcome)
        if status:
            where.append("s.status = ?")
            params.append(status)
        sql = ("SELECT s.*, (SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) AS n "
               "FROM sessions s" + (" WHERE " + " AND ".join(where) if where else "") +
               " ORDER BY s.started_at DESC, s.rowid DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [SessionSummary(r["id"], r["started_at"], r["ended_at"], r["mode"], r["status"],
                               r["outcome"], r["ended_by"], r["n"], r["attention_at"], r["ack_by"])
                for r in self._read(sql, tuple(params))]

    def resolve_id(self, prefix: str) -> str:
        """A full id from a unique prefix (at least 4 characters), as typed by staff."""
        prefix = prefix.strip().lower()
        if len(prefix) < 4 or not prefix.isalnum():
            raise UnknownSession(f"session id {prefix!r}: give at least 4 letters/digits of the id "
                                 "(see `massage-check transcripts list`)")
        rows = self._read("SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
                          (prefix, prefix + "\uffff"))
        if not rows:
            raise UnknownSession(f"no session with id {prefix!r} (see `massage-check transcripts list`)")
        if len(rows) > 1:
            raise UnknownSession(f"session id {prefix!r} matches more than one session: give more of it")
        return rows[0]["id"]

    def get_session(self, session_id: str) -> dict[str, Any]:
        """The transcript dict (docs/architecture.md shape) plus `status` and audio file names."""
        rows = self._read("SELECT * FROM sessions WHERE id=?", (session_id,))
        if not rows:
            raise UnknownSession(f"no session {session_id!r}")
        return self._record(rows[0], self._read(
            "SELECT * FROM turns WHERE session_id=? ORDER BY idx", (session_id,)))

    def iter_sessions(self, *, since: str | datetime | None = None, outcome: str | None = None,
                      status: str | None = None) -> Iterator[dict[str, Any]]:
        """Full records, newest first (for export)."""
        for summary in self.list_sessions(since=since, outcome=outcome, status=status):
            try:
                yield self.get_session(summary.id)
            except UnknownSession:
                continue  # deleted meanwhile

    def _record(self, s: sqlite3.Row, turns: list[sqlite3.Row]) -> dict[str, Any]:
        return {
            "session_id": s["id"],
            "started_at": s["started_at"],
            "ended_at": s["ended_at"],
            "mode": s["mode"],
            "rules_file": s["rules_file"],
            "rules_sha256": s["rules_sha256"],
            "model": s["model"],
            "completed": None if s["completed"] is None else bool(s["completed"]),
            "ended_by": s["ended_by"],
            "outcome": s["outcome"],
            "rules": json.loads(s["rules_json"] or "[]"),
            "explanation": s["explanation"],
            "answers": json.loads(s["answers_json"] or "{}"),
            "status": s["status"],
            "attention": None if s["attention_at"] is None else {
                "flagged_at": s["attention_at"], "acknowledged_by": s["ack_by"],
                "acknowledged_at": s["ack_at"]},
            "turns": [
                {"index": t["idx"], "time": t["time"], "question_id": t["question_id"],
                 "prompt": t["prompt"], "heard": t["heard"], "confidence": t["confidence"],
                 "interpretation": t["interpretation"], "answer": t["answer"],
                 **({"audio": str(self.audio_dir / s["id"] / t["audio"])} if t["audio"] else {})}
                for t in turns
            ],
        }

    # ------------------------------------------------------------------- audit
    def audit(self, actor: str, action: str, session_id: str | None = None, detail: str | None = None) -> None:
        """Append one line to the audit log (who looked at or changed what, when)."""
        with self._tx() as conn:
            conn.execute("INSERT INTO audit (time, actor, action, session_id, detail) VALUES (?,?,?,?,?)",
                         (utc_now(), actor, action, session_id, detail))

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """Newest audit entries first."""
        return [dict(r) for r in self._read(
            "SELECT time, actor, action, session_id, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))]

    def integrity_ok(self) -> bool:
        rows = self._read("PRAGMA integrity_check")
        return len(rows) == 1 and rows[0][0] == "ok"


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or \
        "not a database" in str(exc) or "malformed" in str(exc)


def _tighten(path: Path, mode: int) -> None:
    """Remove group/other access; leave alone what we do not own."""
    st = path.stat()
    if st.st_mode & 0o777 & ~mode and st.st_uid == os.getuid():
        os.chmod(path, mode)
