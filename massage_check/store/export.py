"""Export stored sessions as CSV (for a spreadsheet) or JSON (for programs).

CSV has one row per turn (a session with no turns gets one row with empty turn
columns), with the session's columns repeated, so a spreadsheet filter on
`outcome` or `question_id` works without joins. It is UTF-8 with a byte-order
mark (so spreadsheet programs detect UTF-8) and a header row. Text that a
spreadsheet would run as a formula (starting with = + - @) is prefixed with an
apostrophe: typed patient input must never execute.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

SESSION_COLUMNS = ["session_id", "started_at", "ended_at", "mode", "status", "outcome", "fired_rules",
                   "ended_by", "model", "rules_sha256", "explanation"]
TURN_COLUMNS = ["turn_index", "turn_time", "question_id", "prompt", "heard", "confidence",
                "interpretation", "answer"]
CSV_COLUMNS = SESSION_COLUMNS + TURN_COLUMNS
FORMATS = ("csv", "json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_rows(records: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """The header, then one row per turn."""
    yield CSV_COLUMNS
    for rec in records:
        session = [rec["session_id"], rec["started_at"], rec["ended_at"], rec["mode"], rec["status"],
                   rec["outcome"], " ".join(rec.get("rules") or []), rec["ended_by"], rec.get("model"),
                   rec.get("rules_sha256"), rec.get("explanation")]
        turns = rec.get("turns") or [None]
        for t in turns:
            turn = [] if t is None else [t["index"], t["time"], t["question_id"], t["prompt"], t["heard"],
                                         t["confidence"], t["interpretation"], t["answer"]]
            turn += [None] * (len(TURN_COLUMNS) - len(turn))
            yield [_cell(v) for v in session + turn]


def csv_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    """The whole CSV as UTF-8 bytes with a byte-order mark (for a download)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in csv_rows(records):
        writer.writerow(row)
    return buf.getvalue().encode("utf-8-sig")


def json_text(records: Iterable[dict[str, Any]]) -> str:
    """A JSON document: {"format", "exported_at", "sessions": [transcript dicts + status]}."""
    doc = {"format": "massage-check-transcripts/1",
           "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "sessions": list(records)}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def export_bytes(records: Iterable[dict[str, Any]], fmt: str) -> bytes:
    """Records in `fmt` ("csv" or "json") as the bytes of a file."""
    if fmt == "csv":
        return csv_bytes(records)
    if fmt == "json":
        return json_text(records).encode("utf-8")
    raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
