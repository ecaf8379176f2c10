"""Helpers shared by sub-commands: loading rules with user-facing errors, printing results."""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from rules import Evaluation, Questionnaire, RulesError, load_questionnaire

from ..errors import UserError


def add_rules_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", metavar="FILE", type=Path, default=None,
                        help="questionnaire/rules YAML (default: the packaged rules/massage.yaml)")


def load_rules(path: Path | None, cfg=None) -> Questionnaire:
    """The rules from --rules, else config `rules_file`, else the packaged file."""
    if path is None and cfg is not None and cfg.get("rules_file"):
        path = Path(cfg["rules_file"]).expanduser()
    try:
        return load_questionnaire(path)
    except RulesError as exc:
        raise UserError(f"bad rules file: {exc}") from None


def format_result(result: Evaluation, width: int = 78) -> str:
    """The written result for the screen: outcome, why, then the full guidance."""
    lines = [f"Outcome: {result.outcome.value}", f"Rules fired: {', '.join(result.rules)}", ""]
    lines += textwrap.wrap(result.explanation, width)
    if result.sources:
        lines += ["", "Sources:"] + [f"  - {s}" for s in result.sources]
    return "\n".join(lines)
