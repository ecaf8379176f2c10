"""`massage-check rules check FILE`: validate a questionnaire file, exit non-zero on error."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import load_rules


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="work with the rules file")
    rsub = p.add_subparsers(dest="rules_command", metavar="ACTION")
    rsub.required = True
    check = rsub.add_parser("check", help="validate a rules file (same checks as at start-up)")
    check.add_argument("file", type=Path, nargs="?", default=None,
                       help="rules YAML (default: config rules_file, else the packaged rules/massage.yaml)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from massage_check.config import load_config

    q = load_rules(args.file, None if args.file else load_config())
    safety = sum(1 for x in q.questions if x.safety)
    print(f"{q.path}: OK: {len(q.questions)} questions ({safety} safety), {len(q.rules)} rules, "
          f"sha256 {q.sha256[:12]}")
    return 0
