"""Speech to text with libvosk, restricted to the answers that make sense right now.

One model is loaded once per process; each listening turn gets a recognizer that
has been Reset(). On models with a lookahead graph (official Vosk models) the
active phrases become a runtime grammar plus "[unk]", so anything else comes out
as "[unk]". The built-in answer model has a static graph (its grammar is the
graph itself): there the text is checked against the active phrases afterwards
and `Hypothesis.in_scope` says whether it held one.
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol, Sequence

from models.registry import grammar_for

from .audio import SAMPLE_RATE

UNK = "[unk]"


@dataclass(frozen=True)
class Word:
    word: str
    conf: float
    start: float  # seconds since the recognizer was reset
    end: float


@dataclass(frozen=True)
class Hypothesis:
    """The final text of one utterance with per-word confidence."""

    text: str
    words: tuple[Word, ...] = ()
    in_scope: bool = True  # the text holds at least one active phrase (always True without phrases)

    @property
    def confidence(self) -> float | None:
        """Lowest word confidence: one doubtful word makes the answer doubtful. None if nothing heard."""
        confs = [w.conf for w in self.words if w.word != UNK]
        if not self.text:
            return None
        return min(confs) if confs else 0.0

    @property
    def speech_end(self) -> float | None:
        return max((w.end for w in self.words), default=None)


class Recognizer(Protocol):
    """Streaming recognition of one utterance at a time."""

    def begin(self, phrases: Sequence[str] | None = None) -> None:
        """Start a fresh utterance, accepting only `phrases` (None: whatever the model knows)."""

    def accept(self, pcm: bytes) -> bool:
        """Feed 16 kHz mono int16; True when the decoder's own endpoint fired."""

    def partial(self) -> str: ...

    def result(self) -> Hypothesis:
        """The utterance so far as final text (then call begin() again)."""


def softmax_shares(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [w / total for w in weights]


def contains_phrase(text: str, phrases: Iterable[str]) -> bool:
    """True if `text` holds one of `phrases` as whole words."""
    padded = f" {' '.join(text.split())} "
    return any(f" {p} " in padded for p in phrases if p)


def parse_result(raw: str) -> tuple[str, tuple[Word, ...]]:
    data = json.loads(raw or "{}")
    words = tuple(
        Word(str(w.get("word", "")), float(w.get("conf", 1.0)), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
        for w in data.get("result", [])
    )
    return " ".join(str(data.get("text", "")).split()), words


class VoskRecognizer:
    """The real decoder over a ModelSet (models are loaded once and shared; never reloaded)."""

    def __init__(self, models: Any, sample_rate: int = SAMPLE_RATE, cache_size: int = 16,
                 meaning: Callable[[str], str] | None = None, alternatives: int = 5):
        """`meaning` maps a text to what it means (the dialog's intent). With it, confidence is
        the share of the decoder's n-best that means the same as the best text: "no" and "nope"
        split the word posteriors between them, yet leave no doubt about the answer."""
        import vosk  # noqa: PLC0415

        self._vosk = vosk
        self.meaning = meaning
        self.alternatives = alternatives
        self.models = models
        self.sample_rate = sample_rate
        self._cache: OrderedDict[tuple[int, tuple[str, ...] | None], Any] = OrderedDict()
        self._cache_size = cache_size
        self._rec: Any = None
        self._phrases: tuple[str, ...] | None = None
        self._fed: dict[int, float] = {}  # seconds of audio each recognizer has taken since it was made
        self._offset = 0.0

    def begin(self, phrases: Sequence[str] | None = None) -> None:
        self._phrases = tuple(sorted(set(phrases))) if phrases else None
        model, runtime_grammar = self.models.for_phrases(self._phrases)
        grammar = None
        if runtime_grammar and self._phrases:
            usable = getattr(self.models, "usable", None)
            grammar = tuple(usable(self._phrases)) if usable else self._phrases
        key = (id(model), grammar)
        rec = self._cache.get(key)
        if rec is None:
            if grammar is not None:
                rec = self._vosk.KaldiRecognizer(model, float(self.sample_rate), grammar_for(grammar))
            else:
                rec = self._vosk.KaldiRecognizer(model, float(self.sample_rate))
            if self.meaning is not None:
                rec.SetMaxAlternatives(self.alternatives)
            rec.SetWords(True)
            self._cache[key] = rec
            if len(self._cache) > self._cache_size:
                _, old = self._cache.popitem(last=False)
                self._fed.pop(id(old), None)
        else:
            self._cache.move_to_end(key)
            rec.Reset()  # nothing from the last turn leaks in
        self._rec = rec
        # libvosk 0.3.45 keeps counting word times from the recognizer's creation, even after Reset():
        # remember where this utterance starts so its word times can be made relative to it.
        self._offset = self._fed.setdefault(id(rec), 0.0)

    def accept(self, pcm: bytes) -> bool:
        self._fed[id(self._rec)] = self._fed.get(id(self._rec), 0.0) + len(pcm) / 2 / self.sample_rate
        return bool(self._rec.AcceptWaveform(pcm))

    def partial(self) -> str:
        return " ".join(str(json.loads(self._rec.PartialResult() or "{}").get("partial", "")).split())

    def result(self) -> Hypothesis:
        raw = self._rec.FinalResult()
        text, words = parse_result(raw) if self.meaning is None else self._by_meaning(raw)
        off = self._offset
        words = tuple(Word(w.word, w.conf, max(0.0, w.start - off), max(0.0, w.end - off)) for w in words)
        in_scope = True
        if self._phrases is not None:
            in_scope = contains_phrase(text, self._phrases)
        return Hypothesis(text, words, in_scope)

    def _by_meaning(self, raw: str) -> tuple[str, tuple[Word, ...]]:
        alts = json.loads(raw or "{}").get("alternatives") or []
        alts = [a for a in alts if isinstance(a, dict)]
        if not alts:
            return "", ()
        best = alts[0]
        text = " ".join(str(best.get("text", "")).split())
        shares = softmax_shares([float(a.get("confidence", 0.0)) for a in alts])
        meant = self.meaning(text) if self.meaning is not None else text
        conf = sum(p for a, p in zip(alts, shares)
                   if self.meaning(" ".join(str(a.get("text", "")).split())) == meant)
        words = tuple(Word(str(w.get("word", "")), round(conf, 6), float(w.get("start", 0.0)),
                           float(w.get("end", 0.0))) for w in best.get("result", []))
        return text, words
