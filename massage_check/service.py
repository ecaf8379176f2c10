"""`massage-check run --service`: the kiosk as a systemd service (deploy/massage-check.service).

What differs from an interactive `run`:

- The journal gets one line per session (its id, how it ended, its length, the number of
  turns) and one per fault, never what a patient answered or was told: the result, the
  explanation and "heard ..." lines are health information and stay in the transcript
  store. Tracebacks are folded into one line; the same fault repeating (a microphone that
  stays unplugged) is logged once, then at most every `REPEAT_SECONDS` with a count.
- A missing microphone at start is waited for (the source retries with back-off) instead of
  being an error: at boot the USB sound card may come up after the service.
- Any user-fixable error (a bad config file, rules file, model or voice) exits with
  EXIT_CONFIG (78), which the unit lists in RestartPreventExitStatus=: restarting cannot
  fix a file, so the service stops instead of looping. Anything else exits 1 and systemd
  restarts it (Restart=on-failure, within the unit's start limit).
- Prompts that cannot be played are dropped, not printed (printing would put the result in
  the journal).

Under systemd (JOURNAL_STREAM set) each line starts with a syslog priority ("<4>"), so
`journalctl -u massage-check -p warning` lists the faults alone.
"""
from __future__ import annotations

import io
import logging
import os
import sys
import time
import traceback
from typing import Any

from massage_check.config import EXIT_CONFIG
from massage_check.errors import UserError

REPEAT_SECONDS = 600.0
log = logging.getLogger("massage_check.service")


def under_journald(stream: Any = None) -> bool:
    """True when `stream` (stderr) is the journal: systemd sets JOURNAL_STREAM=dev:inode for it."""
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat((stream or sys.stderr).fileno())
    except (ValueError, OSError, io.UnsupportedOperation):
        return False
    return st.st_dev == dev and st.st_ino == ino


class OneLineFormatter(logging.Formatter):
    """'massage-check: <message>' on one line; an exception becomes 'Type: message (at file:line)'."""

    def __init__(self, priority_prefix: bool = False):
        super().__init__("massage-check: %(message)s")
        self.priority_prefix = priority_prefix

    def format(self, record: logging.LogRecord) -> str:
        message = " ".join(record.getMessage().split())
        if record.exc_info and record.exc_info[0] is not None:
            message += f": {one_line(record.exc_info[1])}"
        line = f"massage-check: {message}"
        if self.priority_prefix:
            level = 6 if record.levelno < logging.WARNING else 4 if record.levelno < logging.ERROR else 3
            line = f"<{level}>{line}"
        return line


def one_line(exc: BaseException | None) -> str:
    """An exception as one line: its type, message and where it was raised."""
    if exc is None:
        return ""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


class RepeatFilter(logging.Filter):
    """The same fault (same logger and message template) at most once per `every` seconds, with a count."""

    def __init__(self, every: float = REPEAT_SECONDS, clock: Any = time.monotonic):
        super().__init__()
        self.every = every
        self.clock = clock
        self.last: dict[tuple[str, str], float] = {}
        self.held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        if key in self.last and now - self.last[key] < self.every:
            self.held[key] = self.held.get(key, 0) + 1
            return False
        self.last[key] = now
        repeats = self.held.pop(key, 0)
        if repeats:
            record.msg = f"{record.msg} (and {repeats} more like it since the last such line)"
        return True


def setup_logging(stream: Any = None) -> logging.Handler:
    """Faults (warnings and errors) from every module, session lines from this one; nothing else."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(priority_prefix=under_journald(stream)))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    return handler


def session_line(report: Any) -> str:
    """The one journal line of a session: id, how it ended, length, turns. No answers, no advice."""
    t = report.transcript or {}
    sid = str(t.get("session_id") or "?")[:8]
    if getattr(report, "interrupted", False):
        ended = "interrupted" + (" by an error" if getattr(report, "error", None) else "")
    else:
        ended = f"{t.get('outcome') or 'no result'}" + (", abandoned" if report.abandoned else "")
    seconds = time.monotonic() - report.started_wall if report.started_wall else None
    length = f"{seconds:.0f} s" if seconds is not None else "?"
    return f"session {sid}: {ended}, {length}, {len(t.get('turns') or [])} turns"


def log_session(report: Any) -> None:
    log.info("%s", session_line(report))


class SilentSpeaker:
    """The fallback of a speaker that cannot play: the prompt is dropped, never printed to the journal."""

    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Any:
        from voice.speaker import Spoken

        now = time.monotonic()
        return Spoken(text, now, now, "printed", "not played")

    def close(self) -> None:
        pass


def quiet_fallback(speaker: Any) -> Any:
    if hasattr(speaker, "fallback"):
        speaker.fallback = SilentSpeaker()
    return speaker


def run_service(args: Any, body: Any) -> int:
    """Run `body(args)` (the kiosk) as a service: journal lines, exit codes for systemd."""
    setup_logging()
    try:
        if getattr(args, "verbose", False):
            raise UserError("--verbose logs what patients say: not with --service (the journal keeps no "
                            "answers). Fix: remove -v from the unit's ExecStart")
        return int(body(args) or 0)
    except UserError as exc:
        log.error("error: %s (the service stops and is not restarted until this is fixed: `massage-check "
                  "config check`, then `systemctl restart massage-check`)", exc)
        return EXIT_CONFIG
    except Exception as exc:  # a crash: one line, exit 1, systemd restarts the service
        log.error("stopped by a fault, exiting for a restart: %s", one_line(exc))
        return 1
