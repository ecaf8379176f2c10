"""Record a dialog into the store without ever letting storage break the dialog.

Why a wrapper: a full disk or a read-only data dir must not leave a patient
hanging mid-question. Every store call is guarded; the first failure is
reported once (to staff, via `warn`), later turns are kept in memory, and at the
end the whole transcript is written again in one go in case the problem has
cleared (e.g. space was freed). `errors` tells the front-end what went wrong.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from massage_check.store.attention import desk_seen_within, needs_attention
from massage_check.store.db import TranscriptStore, _plain
from massage_check.store.errors import StorageError


MAX_UNSAVED = 1000  # results kept in memory while the disk refuses them (a few KB each)


def _stderr(message: str) -> None:
    print(f"massage-check: warning: {message}", file=sys.stderr)


class SafeRecorder:
    """Guarded front-end to a TranscriptStore.

        rec = SafeRecorder.open()                       # from config; never raises StorageError
        dm = DialogManager(q, on_turn=rec.on_turn)
        rec.begin(dm.transcript)                        # may come before or after the first turn
        ...
        rec.finish(dm.transcript)
    """

    def __init__(self, store: TranscriptStore | None, opener: Callable[[], TranscriptStore] | None = None,
                 warn: Callable[[str], None] = _stderr) -> None:
        self.store = store
        self._opener = opener
        self._warn = warn
        self.errors: list[StorageError] = []
        self.session_id: str | None = None
        self._pending: list[dict[str, Any]] = []
        self._failed = False
        self._finished = False
        # finished sessions not yet stored (disk full, say), oldest first: tried again at each next session
        self._unsaved: list[dict[str, Any]] = []

    @classmethod
    def open(cls, data_dir: Path | str | None = None, cfg: Any = None,
             warn: Callable[[str], None] = _stderr) -> SafeRecorder:
        """Open the configured store (or `data_dir`); a failure is recorded, not raised."""
        if data_dir is not None:
            def opener() -> TranscriptStore:
                return TranscriptStore.open(data_dir)
        else:
            def opener() -> TranscriptStore:
                return TranscriptStore.from_config(cfg)
        rec = cls(None, opener, warn)
        rec.store = rec._guard(opener)
        if rec.store is not None:
            for notice in rec.store.report.notices:
                warn(notice)
        return rec

    def next_session(self) -> SafeRecorder:
        """A fresh recorder for the next patient, sharing this store (kiosk: one store, many sessions).

        A session this recorder began but never finished is marked interrupted now,
        not only when the process ends. A finished session that could not be stored
        (the disk was full) is tried once more now: space may have been freed since.
        """
        unsaved = list(self._unsaved)
        if self.store is not None and unsaved:
            store = self.store
            unsaved = [r for r in unsaved if self._guard(lambda r=r: store.save_transcript(r)) is None]
        if self.store is not None and self.session_id is not None and not self._finished:
            store, sid = self.store, self.session_id
            self._guard(lambda: store.interrupt_session(sid))
            self._finished = True
        following = SafeRecorder(self.store, self._opener, self._warn)
        if len(unsaved) > MAX_UNSAVED:
            self._warn(f"{len(unsaved) - MAX_UNSAVED} session result(s) could not be stored and are dropped")
        following._unsaved = unsaved[-MAX_UNSAVED:]  # still not stored: carried on to the next patient
        return following

    @property
    def ok(self) -> bool:
        """True while nothing has failed (the stored session is complete so far)."""
        return not self.errors

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except StorageError as exc:
            if not self.errors:
                self._warn(f"transcript not saved: {exc}")
            self.errors.append(exc)
            self._failed = True
            return None

    def begin(self, meta: Mapping[str, Any] | Any) -> None:
        """Start the stored session; turns that arrived earlier are written now."""
        if self.store is None or self.session_id is not None:
            return
        self.session_id = self._guard(lambda: self.store.begin_session(_plain(meta)))
        if self.session_id is not None:
            pending, self._pending = self._pending, []
            for turn in pending:
                self.on_turn(turn)

    def on_turn(self, turn: Mapping[str, Any] | Any, audio: bytes | None = None) -> None:
        """The DialogManager `on_turn` callback: commit this turn now.

        `audio` (the reply as WAV bytes) is kept only if the store has keep_audio on.
        """
        data = _plain(turn)
        if self.store is None or self.session_id is None:
            self._pending.append(data)
            return
        sid, store = self.session_id, self.store
        self._guard(lambda: store.add_turn(sid, data, audio=audio))

    def finish(self, transcript: Mapping[str, Any] | Any) -> str | None:
        """Record the result. After any earlier failure, rewrite the whole transcript."""
        self._finished = True
        record = _plain(transcript)
        if self.store is None and self._opener is not None:
            self.store = self._guard(self._opener)  # the problem may have cleared
        if self.session_id:
            record = {**record, "session_id": self.session_id}
        if self.store is None:
            self._keep_unsaved(record)
            return None
        store = self.store
        if self._failed or self.session_id is None:
            sid = self._guard(lambda: store.save_transcript(record))
            if sid:
                self.session_id = sid
            if not sid:
                self._keep_unsaved(record)
            return sid
        sid = self.session_id
        self._guard(lambda: store.finish_session(
            sid, record.get("outcome"), record.get("rules") or [], record.get("explanation"),
            record.get("answers") or {}, record.get("ended_by"),
            completed=record.get("completed"), ended_at=record.get("ended_at")))
        if self._failed:
            self._keep_unsaved(record)
            return None
        return sid

    def _keep_unsaved(self, record: dict[str, Any]) -> None:
        """Hold a result the store refused, once per session (finish may be called twice for one)."""
        sid = record.get("session_id")
        self._unsaved = [r for r in self._unsaved if not sid or r.get("session_id") != sid] + [record]

    def interrupt(self, transcript: Mapping[str, Any] | Any) -> None:
        """The session was cut off before a result (the kiosk was stopped, or an error): keep every
        turn heard so far and mark it `interrupted` (which flags it for the staff), never finished."""
        self._finished = True
        record = {k: v for k, v in _plain(transcript).items() if k not in ("ended_at", "outcome", "ended_by")}
        if self.store is None and self._opener is not None:
            self.store = self._guard(self._opener)
        if self.store is None:
            return
        store = self.store
        if self._failed or self.session_id is None:
            if self.session_id:
                record["session_id"] = self.session_id
            self.session_id = self._guard(lambda: store.save_transcript(record)) or self.session_id
        if self.session_id is not None:
            sid = self.session_id
            self._guard(lambda: store.interrupt_session(sid))

    def tell_staff(self, transcript: Mapping[str, Any] | Any, desk_within: float | None = None) -> bool:
        """End the session now (result and attention flag committed) and say if the staff were told.

        Called by the dialog before it speaks the result, so that "the staff have
        been told" is said only when true: the session needs a person, it is
        durably stored with its flag, and (with `desk_within`) a logged-in review
        page showed the attention list within that many seconds. The usual
        `finish` afterwards is still needed for the closing turn.
        """
        record = _plain(transcript)
        sid = self.finish(record)
        if sid is None or self.store is None or not needs_attention(record.get("outcome")):
            return False
        if desk_within is None:
            return True
        store = self.store
        return bool(self._guard(lambda: desk_seen_within(store, desk_within)))
