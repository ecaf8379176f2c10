"""The `massage-check` command line: one sub-command module per job.

Each module in COMMANDS exposes `register(subparsers)`, which adds its parser and
sets `func` (taking the parsed args, returning an exit code). Modules are imported
only when the CLI starts, so an audio import problem cannot break `rules check`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from massage_check.errors import UserError  # noqa: F401  (re-exported: commands raise it)

COMMANDS = [
    "massage_check.commands.text",
    "massage_check.commands.evaluate",
    "massage_check.commands.rules_check",
    "massage_check.commands.models",
    "massage_check.commands.transcripts",
    "massage_check.commands.review",
    "massage_check.commands.run",
    "massage_check.commands.demo",
    "massage_check.commands.devices",
    "massage_check.commands.config_cmd",
    "massage_check.commands.status",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="massage-check",
        description="Offline, hands-free check: is medical massage right for you? "
        "Guidance only, never a diagnosis.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"massage-check: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        print("\nmassage-check: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
