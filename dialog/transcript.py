"""The record of one session: every turn, then the outcome and why.

Staff review this; it is health information. The JSON shape is a public
interface (docs/architecture.md): add keys, never rename them.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Turn:
    index: int
    time: str                       # ISO-8601, when the reply was heard (or the prompt spoken, if none)
    question_id: str | None         # the question being asked, None for greeting/result
    prompt: str                     # everything said to the patient before this reply
    heard: str | None               # what the recogniser or keyboard gave; None = no reply expected
    confidence: float | None
    interpretation: str | None      # intent, nothing_heard or not_understood
    answer: str | None = None       # yes/no/unsure when this turn recorded an answer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Transcript:
    mode: str
    rules_file: str
    rules_sha256: str
    model: str | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: str = field(default_factory=lambda: iso(utc_now()))
    ended_at: str | None = None
    completed: bool = False
    ended_by: str | None = None     # result | stop | failures | turn_limit | no_input
    outcome: str | None = None
    rules: list[str] = field(default_factory=list)
    explanation: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    turns: list[Turn] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["turns"] = [t.to_dict() for t in self.turns]
        # The keys staff tools look at first, first.
        head = {k: data.pop(k) for k in ("outcome", "rules", "explanation")}
        return {**head, **data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def write(self, path: str | Path) -> Path:
        return write_transcript_json(path, self.to_dict())


def write_transcript_json(path: str | Path, record: dict[str, Any]) -> Path:
    """Write a transcript record as JSON, atomically (temp file + rename) and readable by the owner only:
    a crash never leaves half a transcript, and health information is never world-readable."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
