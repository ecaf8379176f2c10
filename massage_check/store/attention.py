"""Sessions that need a person: which ones, the desk's queue, acknowledging one.

Why a flag in the store rather than a notification: the desk is often another
computer and may be closed, so the flag must outlive any process. It is set in
the same transaction that ends the session (db.py), so it is as durable as the
result; it is cleared only by a named member of staff acknowledging it, which
goes to the audit log in that same transaction.

The review page notes when a logged-in page last looked (`note_desk_view`); the
kiosk tells a patient "the staff have been told" only if the flag is stored and
a desk page looked recently (`desk_seen_within`), because a flag nobody sees
has told nobody.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from massage_check.errors import UserError
from massage_check.store.errors import UnknownSession

if TYPE_CHECKING:  # pragma: no cover
    from massage_check.store.db import TranscriptStore

# Outcomes that send the patient to a person: a red flag or contraindication, or a
# safety answer we do not have. A session with no outcome (cut off) needs one too.
ATTENTION_OUTCOMES = ("see_doctor_first", "ask_staff")
STAFF_NAME = re.compile(r"^[\w .'-]{1,40}$")


class AttentionError(UserError):
    """The session cannot be acknowledged (not flagged, already acknowledged, bad name)."""


def needs_attention(outcome: str | None) -> bool:
    """Does a session that ended with this outcome need a member of staff?"""
    return outcome is None or outcome in ATTENTION_OUTCOMES


@dataclass(frozen=True)
class AttentionItem:
    """One flagged session, as the desk sees it."""

    id: str
    started_at: str
    flagged_at: str
    mode: str
    status: str
    outcome: str | None
    ended_by: str | None
    rules: tuple[str, ...]
    ack_by: str | None = None
    ack_at: str | None = None

    @property
    def reason(self) -> str:
        """A few words for the desk: why a person is needed."""
        if self.status == "interrupted" or self.outcome is None:
            return "session cut off before a result"
        if self.outcome == "see_doctor_first":
            return "see a doctor first: " + (self.rules[0] if self.rules else "?")
        if self.ended_by in ("stop", "failures", "turn_limit"):
            return {"stop": "stopped before the end", "failures": "no answer understood",
                    "turn_limit": "too many turns"}[self.ended_by]
        return "unsure about a safety question"

    @property
    def urgent(self) -> bool:
        return self.outcome == "see_doctor_first"


def desk_window(refresh_seconds: int) -> float:
    """How recently a desk page must have looked for the kiosk to say the staff were told."""
    return float(max(60, 3 * max(0, refresh_seconds)))


def clean_name(name: str, what: str = "the name") -> str:
    """A staff name or initials for the audit log: 1-40 letters, digits, spaces, . ' -"""
    name = " ".join((name or "").split())
    if not STAFF_NAME.match(name):
        raise AttentionError(f"{what} {name!r} is not usable: give your name or initials "
                             "(1-40 letters, digits, spaces, . ' -)")
    return name


_COLUMNS = "id, started_at, attention_at, mode, status, outcome, ended_by, rules_json, ack_by, ack_at"


def _item(r) -> AttentionItem:  # noqa: ANN001 - a sqlite3.Row
    return AttentionItem(r["id"], r["started_at"], r["attention_at"], r["mode"], r["status"], r["outcome"],
                         r["ended_by"], tuple(json.loads(r["rules_json"] or "[]")), r["ack_by"], r["ack_at"])


def list_attention(store: TranscriptStore, *, acknowledged: bool = False, limit: int = 200) -> list[AttentionItem]:
    """Flagged sessions not yet acknowledged (or, with `acknowledged`, only those that were).

    Unacknowledged ones come most urgent first (see a doctor, then the rest), and
    within that longest waiting first; acknowledged ones newest acknowledgement first.
    """
    if acknowledged:
        sql = (f"SELECT {_COLUMNS} FROM sessions WHERE attention_at IS NOT NULL AND ack_at IS NOT NULL "
               "ORDER BY ack_at DESC LIMIT ?")
    else:
        sql = (f"SELECT {_COLUMNS} FROM sessions WHERE attention_at IS NOT NULL AND ack_at IS NULL "
               "ORDER BY CASE outcome WHEN 'see_doctor_first' THEN 0 ELSE 1 END, attention_at LIMIT ?")
    return [_item(r) for r in store._read(sql, (int(limit),))]


def acknowledge(store: TranscriptStore, session_id: str, by: str, actor: str) -> AttentionItem:
    """Record that `by` (a member of staff) has taken care of a flagged session.

    One transaction: the acknowledgement and its audit line are kept together, and
    a second acknowledgement of the same session is refused, naming the first.
    """
    from massage_check.store.db import utc_now
    by = clean_name(by)
    now = utc_now()
    with store._tx() as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None:
            raise UnknownSession(f"no session {session_id!r}")
        if row["attention_at"] is None:
            raise AttentionError(f"session {session_id[:8]} is not flagged for attention "
                                 f"(outcome {row['outcome'] or '-'}): nothing to acknowledge")
        if row["ack_at"] is not None:
            raise AttentionError(f"session {session_id[:8]} was already acknowledged by {row['ack_by']} "
                                 f"at {_local(row['ack_at'])}")
        conn.execute("UPDATE sessions SET ack_by=?, ack_at=? WHERE id=?", (by, now, session_id))
        conn.execute("INSERT INTO audit (time, actor, action, session_id, detail) VALUES (?,?,?,?,?)",
                     (now, actor, "acknowledge", session_id, f"by {by}"))
        row = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id=?", (session_id,)).fetchone()
    return _item(row)


def note_desk_view(store: TranscriptStore, who: str) -> None:
    """A logged-in review page has just shown the attention list."""
    from massage_check.store.db import utc_now
    with store._tx() as conn:
        conn.execute("INSERT INTO desk (id, seen_at, seen_by) VALUES (1, ?, ?) "
                     "ON CONFLICT (id) DO UPDATE SET seen_at=excluded.seen_at, seen_by=excluded.seen_by",
                     (utc_now(), who))


def desk_seen_within(store: TranscriptStore, seconds: float) -> bool:
    """Did a logged-in review page show the attention list in the last `seconds`?"""
    rows = store._read("SELECT seen_at FROM desk WHERE id=1")
    if not rows:
        return False
    seen = datetime.fromisoformat(rows[0]["seen_at"])
    return datetime.now(timezone.utc) - seen <= timedelta(seconds=seconds)


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
