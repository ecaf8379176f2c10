"""`massage-check evaluate ANSWERS.yaml [--json]`: the rules applied to a set of answers."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from rules import RulesError, evaluate, validate_answers
from rules.yamlsource import LDict, load_yaml

from ..errors import UserError
from .common import add_rules_option, format_result, load_rules


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate the rules for a YAML mapping of question id -> yes/no/unsure")
    p.add_argument("answers", type=Path, help="YAML file: question_id: yes|no|unsure (one per line)")
    p.add_argument("--json", action="store_true", help="print JSON with keys outcome, rules, explanation")
    p.add_argument("--incomplete", action="store_true", help="treat the session as unfinished")
    add_rules_option(p)
    p.set_defaults(func=run)


def read_answers(path: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The raw mapping and the line of each key (for errors that point at the line)."""
    try:
        data, src = load_yaml(path)
    except RulesError as exc:
        raise UserError(f"bad answers file: {exc}") from None
    if not isinstance(data, LDict):
        raise UserError(f"bad answers file: {path}: expected a mapping like 'blood_clot: no', one per line")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            raise UserError(f"bad answers file: {path}:{data.key_lines[key]}: answer to {key!r} is {value!r}; "
                            "use yes, no or unsure")
        out[key] = value
    return out, dict(data.key_lines)


def run(args: argparse.Namespace) -> int:
    from massage_check.config import load_config

    q = load_rules(args.rules, None if args.rules else load_config())  # --rules, else config rules_file
    raw, lines = read_answers(args.answers)
    answers: dict[str, str] = {}
    for key, value in raw.items():
        try:
            answers.update(validate_answers(q, {key: value}, where=f"{args.answers}:{lines[key]}"))
        except ValueError as exc:
            raise UserError(f"bad answers file: {exc}") from None
    result = evaluate(q, answers, complete=not args.incomplete)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(format_result(result))
    return 0
