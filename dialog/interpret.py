"""Turn what was heard (a transcript and a confidence) into one intent.

Principles, after OpenVoiceOS's ask_yesno: longest phrase wins ("i don't know"
is unsure, never no); "not" flips a yes ("not right" is no); a hedge makes the
whole answer unsure ("no, maybe" is unsure); a correction marker keeps only
what follows it ("yes, I mean no" is no); and a yes and a no together with no
correction is *not understood*: we ask again rather than guess.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .vocabulary import ANSWER_INTENTS, Vocabulary, load_vocabulary

NOTHING_HEARD = "nothing_heard"
NOT_UNDERSTOOD = "not_understood"
UNKNOWN_TOKEN = "[unk]"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_TOKEN = re.compile(r"\[unk\]|[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Interpretation:
    intent: str                       # an intent name, NOTHING_HEARD or NOT_UNDERSTOOD
    confidence: float | None = None
    matched: tuple[str, ...] = ()     # the phrases that decided it, for the transcript
    reason: str = ""                  # why it was not understood, for the transcript

    @property
    def is_answer(self) -> bool:
        return self.intent in ANSWER_INTENTS


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().translate(_APOSTROPHES))


class Interpreter:
    """Matches phrases from a Vocabulary; one instance serves a whole process."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        table: dict[tuple[str, ...], tuple[str, str]] = {}
        for intent in vocab.spoken:
            for phrase in vocab.phrases(intent):
                table[tuple(phrase.split())] = ("intent", intent)
        for phrase in vocab.negators:
            table.setdefault(tuple(phrase.split()), ("negator", ""))
        for phrase in vocab.fillers:
            table.setdefault(tuple(phrase.split()), ("filler", ""))
        self._table = table
        self._longest = max(len(k) for k in table)
        self._corrections = [tuple(c.split()) for c in vocab.corrections]

    def __call__(self, text: str | None, confidence: float | None = None) -> Interpretation:
        tokens = tokenize(text or "")
        if not tokens:
            return Interpretation(NOTHING_HEARD, confidence)
        tokens = self._after_last_correction(tokens)
        items, unknown = self._match(tokens)
        intents = [i for kind, i, _ in items if kind == "intent"]
        phrases = tuple(p for kind, _, p in items if kind == "intent")
        if not intents:
            reason = "only unrecognised words" if unknown else "only filler words"
            return Interpretation(NOT_UNDERSTOOD, confidence, (), reason)
        answers = [i for i in intents if i in ANSWER_INTENTS]
        if "stop" in intents:
            # A wish to stop is honoured, unless an answer comes with it: from speech, "stop no" or
            # "quit yes" is far more often a hesitation the recogniser misheard than a wish to stop
            # (docs/model-findings.md, finding 46), and ending the session would lose the screening. Asked
            # again, a patient who means stop says it again.
            if answers:
                return Interpretation(NOT_UNDERSTOOD, confidence, phrases, "stop together with an answer")
            return Interpretation("stop", confidence, phrases)
        if answers:
            kinds = set(answers)
            if len(kinds) == 1:
                return Interpretation(answers[0], confidence, phrases)
            if "unsure" in kinds:
                return Interpretation("unsure", confidence, phrases)
            return Interpretation(NOT_UNDERSTOOD, confidence, phrases, "both yes and no")
        commands = set(intents)
        if len(commands) == 1:
            return Interpretation(intents[0], confidence, phrases)
        return Interpretation(NOT_UNDERSTOOD, confidence, phrases, "several commands at once")

    def _after_last_correction(self, tokens: list[str]) -> list[str]:
        """Keep what follows the last correction marker, if anything meaningful follows."""
        cut = None
        for start in range(len(tokens)):
            for corr in self._corrections:
                if tuple(tokens[start:start + len(corr)]) == corr:
                    cut = start + len(corr)
        if cut is None or cut >= len(tokens):
            return tokens
        rest = tokens[cut:]
        items, _ = self._match(rest)
        return rest if any(kind == "intent" for kind, _, _ in items) else tokens

    def _match(self, tokens: list[str]) -> tuple[list[tuple[str, str, str]], int]:
        """Greedy longest match, left to right; negators flip the next yes to no."""
        items: list[tuple[str, str, str]] = []
        unknown = 0
        i = 0
        while i < len(tokens):
            for size in range(min(self._longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + size])
                hit = self._table.get(key)
                if hit:
                    kind, intent = hit
                    if kind == "intent" and intent == "yes" and items and items[-1][0] == "negator":
                        items[-1] = ("intent", "no", items[-1][2] + " " + " ".join(key))
                    elif kind != "filler":
                        items.append((kind, intent, " ".join(key)))
                    i += size
                    break
            else:
                unknown += 1
                i += 1
        return [it for it in items if it[0] != "negator"], unknown


@lru_cache(maxsize=1)
def default_interpreter() -> Interpreter:
    return Interpreter(load_vocabulary())


def interpret(text: str | None, confidence: float | None = None) -> Interpretation:
    """Interpret with the packaged vocabulary."""
    return default_interpreter()(text, confidence)
