"""`massage-check text`: the whole check on the keyboard, or with answers piped on stdin.

The same DialogManager as the voice loop; typed lines are the "heard" text
(confidence None: typed answers are never asked to be confirmed). End of input
counts as silence, so a short script still ends the session politely.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from dialog import DialogManager, Heard, Prompt
from massage_check.store import SafeRecorder
from massage_check.store.attention import desk_window

from ..config import load_config
from .common import add_rules_option, format_result, load_rules


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("text", help="run the check by typing answers (or piping them, one per line)")
    add_rules_option(p)
    p.add_argument("--transcript", metavar="FILE", type=Path, help="write the session transcript as JSON")
    p.add_argument("--quiet", action="store_true", help="print only the result (for scripts)")
    p.add_argument("--no-store", action="store_true",
                   help="do not save the session in the transcript store for staff review")
    p.set_defaults(func=run)


def show(prompts: list[Prompt], out: TextIO, quiet: bool) -> None:
    if quiet:
        return
    for p in prompts:
        out.write(p.text + "\n")
    out.flush()


def run_session(dm: DialogManager, inp: TextIO, out: TextIO, quiet: bool = False) -> None:
    interactive = inp.isatty()
    show(dm.start(), out, quiet)
    exhausted = False
    while not dm.finished:
        if interactive and not quiet:
            out.write("> ")
            out.flush()
        line = "" if exhausted else inp.readline()
        if line == "":
            exhausted = True  # end of input: treated as silence until the dialog ends
        elif not interactive and not quiet:
            out.write(f"> {line.strip()}\n")
        show(dm.handle(Heard(line.strip())), out, quiet)


def run(args: argparse.Namespace) -> int:
    cfg = load_config()
    q = load_rules(args.rules, cfg)
    # Saved turn by turn for staff review; a storage failure is reported, never fatal.
    rec = None if args.no_store else SafeRecorder.open(cfg=cfg)
    within = desk_window(int(cfg.get("review_refresh_seconds", 20) or 0))
    dm = DialogManager(q, mode="text", confidence_threshold=cfg["confidence_threshold"],
                       on_turn=rec.on_turn if rec is not None else None,
                       on_end=(lambda t: rec.tell_staff(t, within)) if rec is not None else None)
    if rec is not None:
        rec.begin(dm.transcript)
    run_session(dm, sys.stdin, sys.stdout, args.quiet)
    if rec is not None:
        rec.finish(dm.transcript)
    print()
    print(format_result(dm.result))
    if args.transcript:
        path = dm.transcript.write(args.transcript)
        print(f"\nTranscript written to {path}")
    return 0
