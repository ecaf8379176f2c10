"""Read YAML keeping line numbers, so every validation error can name file:line.

pyyaml's safe loader drops positions and silently keeps the last of two
duplicate keys; both matter here (a duplicated `when:` would change a medical
rule without anyone noticing). We compose the node graph ourselves instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class RulesError(Exception):
    """A problem in a rules/answers/vocabulary file, with where it is and how to fix it."""

    def __init__(self, path: str | Path, line: int | None, problem: str, fix: str = "") -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{self.path}:{line}" if line else self.path
        message = f"{where}: {problem}"
        if fix:
            message += f" (fix: {fix})"
        super().__init__(message)


class LDict(dict):
    """A mapping that remembers its own line and the line of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LList(list):
    """A sequence that remembers its own line and the line of each item."""

    line: int = 0
    item_lines: list[int]


@dataclass(frozen=True)
class Source:
    path: Path
    text: str

    def error(self, line: int | None, problem: str, fix: str = "") -> RulesError:
        return RulesError(self.path, line, problem, fix)


def line_of(value: Any, key: str | None = None) -> int | None:
    """Best line number for `value` (or for `value[key]`)."""
    if key is not None and isinstance(value, LDict):
        return value.key_lines.get(key, value.line)
    return getattr(value, "line", None)


def load_yaml(path: str | Path) -> tuple[Any, Source]:
    """Parse a YAML file into LDict/LList/scalars; raise RulesError with a line on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(p, None, "file not found", "check the path") from None
    except UnicodeDecodeError as exc:
        raise RulesError(p, None, f"not UTF-8 text ({exc.reason})", "save the file as UTF-8") from None
    except OSError as exc:
        raise RulesError(p, None, f"cannot read file: {exc.strerror}", "check permissions") from None
    src = Source(p, text)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise src.error(line, f"YAML syntax error: {exc.problem or exc.context}",
                        "check indentation, colons and quotes on that line") from None
    except yaml.YAMLError as exc:
        raise src.error(None, f"YAML error: {exc}", "check the file is valid YAML") from None
    if node is None:
        raise src.error(1, "the file is empty", "see rules/massage.yaml for the expected layout")
    return _convert(node, src), src


_constructor = yaml.SafeLoader("")  # used only to resolve scalars (ints, bools, strings)


def _scalar(node: yaml.ScalarNode) -> Any:
    # YAML 1.1 reads a bare yes/no/on/off as a boolean; here yes and no are answers
    # and intent names, so they stay words. true/false remain booleans.
    if node.style is None and node.value.lower() in {"yes", "no"}:
        return node.value.lower()
    return _constructor.construct_object(node, deep=True)


def _convert(node: yaml.Node, src: Source) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LDict()
        out.line = line
        out.key_lines = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise src.error(key_node.start_mark.line + 1, "mapping keys must be plain words")
            key = _scalar(key_node)
            key = str(key) if not isinstance(key, str) else key
            key_line = key_node.start_mark.line + 1
            if key in out:
                raise src.error(key_line, f"duplicate key {key!r} (first on line {out.key_lines[key]})",
                                "keep one of them")
            out[key] = _convert(value_node, src)
            out.key_lines[key] = key_line
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LList()
        seq.line = line
        seq.item_lines = []
        for item in node.value:
            seq.append(_convert(item, src))
            seq.item_lines.append(item.start_mark.line + 1)
        return seq
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    raise src.error(line, f"unsupported YAML node {node.tag}")
