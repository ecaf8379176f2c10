"""`massage-check config check [FILE]`: is this config file right, before the kiosk restarts with it?"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check the config file")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    check = csub.add_parser(
        "check", help="validate every setting for real: keys, types, the model loads, the rules file, "
        "devices, voice, data dir (exit 1 on any problem)",
        description="Checks a config file (default: the one massage-check uses, $MASSAGE_CHECK_CONFIG or "
        "~/.config/massage-check/config.yaml). Each problem names the file, the line and the fix.")
    check.add_argument("file", type=Path, nargs="?", default=None, help="config YAML (default: the active one)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from massage_check import config
    from massage_check.config_check import check_file

    path = args.file if args.file is not None else config.config_path()
    if args.file is not None and not path.exists():
        print(f"{path}: no such file. Fix: give the path of a config file "
              f"(deploy/config.example.yaml in the source is a commented example)")
        return 1
    report = check_file(path)
    if not report.exists:
        print(f"{path}: no config file: the defaults are used")
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"{path}: {len(report.problems)} problem(s)")
        return 1
    for note in report.notes:
        print(f"  {note}")
    print(f"{path}: OK")
    return 0
