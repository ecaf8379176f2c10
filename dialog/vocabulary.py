"""The answer vocabulary (dialog/vocabulary.yaml): phrases per intent.

Kept in YAML so staff or a new language can change synonyms without code, and
so the speech model's closed vocabulary is derived from the same list the
interpreter uses: the two can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rules.yamlsource import LDict, LList, RulesError, line_of, load_yaml

DEFAULT_VOCABULARY = Path(__file__).with_name("vocabulary.yaml")

ANSWER_INTENTS = ("yes", "no", "unsure")
COMMAND_INTENTS = ("repeat", "help", "back", "stop", "slower", "faster", "start")
INTENTS = ANSWER_INTENTS + COMMAND_INTENTS


@dataclass(frozen=True)
class Vocabulary:
    spoken: dict[str, tuple[str, ...]]      # intent -> phrases the speech model knows
    typed: dict[str, tuple[str, ...]]       # intent -> extra phrases for typed/large-model input
    negators: tuple[str, ...]
    corrections_spoken: tuple[str, ...]
    corrections_typed: tuple[str, ...]
    fillers: tuple[str, ...]
    path: str = ""

    def phrases(self, intent: str, spoken_only: bool = False) -> tuple[str, ...]:
        extra = () if spoken_only else self.typed.get(intent, ())
        return self.spoken.get(intent, ()) + extra

    @property
    def corrections(self) -> tuple[str, ...]:
        return self.corrections_spoken + self.corrections_typed

    def words(self, intents: tuple[str, ...] | frozenset[str] | None = None) -> list[str]:
        """The closed word list a speech model must know (spoken phrases only), sorted."""
        chosen = INTENTS if intents is None else tuple(intents)
        words: set[str] = set()
        for intent in chosen:
            for phrase in self.spoken.get(intent, ()):
                words.update(phrase.split())
        for phrase in self.corrections_spoken:
            words.update(phrase.split())
        return sorted(words)

    def spoken_phrases(self, intents: tuple[str, ...] | frozenset[str] | None = None) -> list[str]:
        """Every spoken phrase of the given intents (all by default): a recogniser grammar."""
        chosen = INTENTS if intents is None else tuple(intents)
        out: list[str] = []
        for intent in chosen:
            out.extend(self.spoken.get(intent, ()))
        out.extend(self.corrections_spoken)
        return sorted(set(out))


def _phrase_list(src, value, what: str, line: int | None) -> tuple[str, ...]:
    if not isinstance(value, LList):
        raise src.error(line_of(value) or line, f"{what} must be a list of phrases")
    out = []
    for item, item_line in zip(value, value.item_lines):
        if not isinstance(item, str) or not item.strip():
            raise src.error(item_line, f"{what}: {item!r} is not a phrase", "write the words in quotes")
        norm = " ".join(item.lower().split())
        if norm != item:
            raise src.error(item_line, f"{what}: phrase {item!r} must be lower case with single spaces",
                            f"write {norm!r}")
        out.append(norm)
    return tuple(out)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Load and validate the vocabulary; errors name file, line and fix."""
    p = Path(path) if path else DEFAULT_VOCABULARY
    data, src = load_yaml(p)
    if not isinstance(data, LDict):
        raise src.error(1, "the vocabulary file must be a mapping")
    allowed = {"version", "intents", "negators", "corrections", "fillers"}
    for key in data:
        if key not in allowed:
            raise src.error(data.key_lines[key], f"unknown key {key!r}", f"use one of: {', '.join(sorted(allowed))}")
    for key in ("intents", "negators", "corrections", "fillers"):
        if key not in data:
            raise src.error(data.line, f"missing key {key!r}")
    intents = data["intents"]
    if not isinstance(intents, LDict):
        raise src.error(data.key_lines["intents"], "intents must be a mapping of intent -> spoken/typed phrases")
    spoken: dict[str, tuple[str, ...]] = {}
    typed: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name in intents:
        if name not in INTENTS:
            raise src.error(intents.key_lines[name], f"unknown intent {name!r}", f"use one of: {', '.join(INTENTS)}")
        entry = intents[name]
        if not isinstance(entry, LDict) or "spoken" not in entry:
            raise src.error(intents.key_lines[name], f"intent {name!r} needs a 'spoken' list (and optional 'typed')")
        for key in entry:
            if key not in ("spoken", "typed"):
                raise src.error(entry.key_lines[key], f"intent {name!r}: unknown key {key!r}", "use spoken or typed")
        spoken[name] = _phrase_list(src, entry["spoken"], f"intent {name!r} spoken", entry.key_lines["spoken"])
        typed[name] = (_phrase_list(src, entry["typed"], f"intent {name!r} typed", entry.key_lines["typed"])
                       if "typed" in entry else ())
        for phrase in spoken[name] + typed[name]:
            if phrase in owner and owner[phrase] != name:
                raise src.error(entry.line, f"phrase {phrase!r} belongs to both {owner[phrase]!r} and {name!r}",
                                "a phrase can mean only one thing; remove one")
            owner[phrase] = name
    for name in INTENTS:
        if name not in spoken:
            raise src.error(intents.line, f"intent {name!r} has no phrases", f"add '{name}: {{spoken: [...]}}'")
    corr = data["corrections"]
    if not isinstance(corr, LDict) or "spoken" not in corr:
        raise src.error(data.key_lines["corrections"], "corrections needs 'spoken' (and optional 'typed') lists")
    return Vocabulary(
        spoken=spoken,
        typed=typed,
        negators=_phrase_list(src, data["negators"], "negators", data.key_lines["negators"]),
        corrections_spoken=_phrase_list(src, corr["spoken"], "corrections spoken", corr.key_lines["spoken"]),
        corrections_typed=(_phrase_list(src, corr["typed"], "corrections typed", corr.key_lines["typed"])
                           if "typed" in corr else ()),
        fillers=_phrase_list(src, data["fillers"], "fillers", data.key_lines["fillers"]),
        path=str(p),
    )


__all__ = ["ANSWER_INTENTS", "COMMAND_INTENTS", "INTENTS", "RulesError", "Vocabulary", "load_vocabulary"]
