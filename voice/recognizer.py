"""Speech to text with libvosk, restricted to the answers that make sense right now.

One model is loaded once per process; each listening turn gets a fresh recognizer
(or, with a runtime grammar, a cached one that has been Reset()). On models with a
lookahead graph (official Vosk models) the active phrases become a runtime grammar
plus "[unk]", so anything else comes out as "[unk]". The built-in answer model has
a static graph (its grammar is the graph itself): there the text is checked against
the active phrases afterwards and `Hypothesis.in_scope` says whether it held one.
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
    margin: float | None = None  # log-likelihood of the best path over unknown speech (None: not scored)

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


@dataclass(frozen=True)
class MarginCalibration:
    """How sure an answer is, from how far its words beat unknown speech on the same audio.

    The margin is the best path's log-likelihood minus that of the garbage-only graph (the `[unk]`
    loop alone): a likelihood ratio, large when the words fit far better than any phone sequence,
    near 0 when they barely won (many accepted unknown words, a few yes<->no swaps). Confidence is
    sigmoid((margin - half) / width); the build sets `half` on development speech.
    """

    half: float
    width: float = 2.0

    def confidence(self, margin: float) -> float:
        z = (margin - self.half) / self.width
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0

    @classmethod
    def placing(cls, margin: float, at: float, width: float = 2.0) -> "MarginCalibration":
        """The calibration under which `margin` gets confidence `at` (0 < at < 1)."""
        if not 0.0 < at < 1.0:
            raise ValueError(f"confidence {at} must be strictly between 0 and 1")
        return cls(half=margin - width * math.log(at / (1.0 - at)), width=width)

    @classmethod
    def from_manifest(cls, entry: Any) -> "MarginCalibration | None":
        if not isinstance(entry, dict) or "margin_half" not in entry:
            return None
        return cls(half=float(entry["margin_half"]), width=float(entry.get("margin_width", 2.0)))


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
        self._anti: Any = None         # the garbage-only graph's recognizer on the same audio (or None)
        self._anti_score = 0.0         # its log-likelihood of segments it already closed this turn

    def begin(self, phrases: Sequence[str] | None = None) -> None:
        self._phrases = tuple(sorted(set(phrases))) if phrases else None
        model, runtime_grammar = self.models.for_phrases(self._phrases)
        grammar = None
        if runtime_grammar and self._phrases:
            usable = getattr(self.models, "usable", None)
            grammar = tuple(usable(self._phrases)) if usable else self._phrases
        anti_model = getattr(self.models, "anti_model", None)
        anti = anti_model() if anti_model is not None and not runtime_grammar else None
        # the n-best carries each path's log-likelihood: the meaning share and the margin need it
        nbest = self.meaning is not None or anti is not None
        self._rec = self._recognizer(model, grammar, nbest)
        # libvosk 0.3.45 keeps counting word times from the recognizer's creation, even after Reset():
        # for a cached recognizer, remember where this utterance starts so its word times can be made
        # relative to it.
        self._offset = self._fed.setdefault(id(self._rec), 0.0) if grammar is not None else 0.0
        self._anti = self._recognizer(anti, None, nbest) if anti is not None else None
        self._anti_score = 0.0

    def _recognizer(self, model: Any, grammar: tuple[str, ...] | None, nbest: bool) -> Any:
        """A recognizer for a new utterance. Without a runtime grammar it is a new one (0.2 ms): a
        reset libvosk recognizer keeps the feature normalisation of earlier utterances, so the same
        audio would score differently after other speech (by up to ~40 in log-likelihood, measured on
        the answer model), and two recognizers with different pasts could not be compared. With a
        grammar (official models) it is cached, because compiling the grammar is the slow part."""
        if grammar is None:
            rec = self._vosk.KaldiRecognizer(model, float(self.sample_rate))
            self._configure(rec, nbest)
            return rec
        key = (id(model), grammar)
        rec = self._cache.get(key)
        if rec is None:
            rec = self._vosk.KaldiRecognizer(model, float(self.sample_rate), grammar_for(grammar))
            self._configure(rec, nbest)
            self._cache[key] = rec
            if len(self._cache) > self._cache_size:
                _, old = self._cache.popitem(last=False)
                self._fed.pop(id(old), None)
        else:
            self._cache.move_to_end(key)
            rec.Reset()  # the last turn's words do not leak in
        return rec

    def _configure(self, rec: Any, nbest: bool) -> None:
        if nbest:
            rec.SetMaxAlternatives(self.alternatives)
        rec.SetWords(True)

    def accept(self, pcm: bytes) -> bool:
        if id(self._rec) in self._fed:    # a cached recognizer (see begin)
            self._fed[id(self._rec)] += len(pcm) / 2 / self.sample_rate
        if self._anti is not None and self._anti.AcceptWaveform(pcm):
            # the garbage graph closed a segment at a pause: keep its score, it goes on with the rest
            self._anti_score += best_log_likelihood(self._anti.Result())
        return bool(self._rec.AcceptWaveform(pcm))

    def partial(self) -> str:
        return " ".join(str(json.loads(self._rec.PartialResult() or "{}").get("partial", "")).split())

    def result(self) -> Hypothesis:
        raw = self._rec.FinalResult()
        margin = None
        if self.meaning is None and self._anti is None:
            text, words = parse_result(raw)
        else:
            text, words, best = self._from_alternatives(raw)
            if self._anti is not None and best is not None:
                margin = best - (self._anti_score + best_log_likelihood(self._anti.FinalResult()))
                self._anti_score = 0.0  # both are closed: a segment that follows is scored on its own
                calibration = getattr(self.models, "calibration", None)
                if calibration is not None:
                    sure = calibration.confidence(margin)
                    words = tuple(Word(w.word, round(min(w.conf, sure), 6), w.start, w.end) for w in words)
        off = self._offset
        words = tuple(Word(w.word, w.conf, max(0.0, w.start - off), max(0.0, w.end - off)) for w in words)
        in_scope = True
        if self._phrases is not None:
            in_scope = contains_phrase(text, self._phrases)
        return Hypothesis(text, words, in_scope, margin)

    def _from_alternatives(self, raw: str) -> tuple[str, tuple[Word, ...], float | None]:
        """Best text, its words and its log-likelihood. With `meaning`, each word's confidence is the
        share of the n-best that means the same; without, 1.0."""
        alts = json.loads(raw or "{}").get("alternatives") or []
        alts = [a for a in alts if isinstance(a, dict)]
        if not alts:
            return "", (), None
        best = alts[0]
        text = " ".join(str(best.get("text", "")).split())
        conf = 1.0
        if self.meaning is not None:
            shares = softmax_shares([float(a.get("confidence", 0.0)) for a in alts])
            meant = self.meaning(text)
            conf = sum(p for a, p in zip(alts, shares)
                       if self.meaning(" ".join(str(a.get("text", "")).split())) == meant)
        words = tuple(Word(str(w.get("word", "")), round(conf, 6), float(w.get("start", 0.0)),
                           float(w.get("end", 0.0))) for w in best.get("result", []))
        return text, words, float(best.get("confidence", 0.0))


def best_log_likelihood(raw: str) -> float:
    """The best path's log-likelihood in a libvosk n-best result (0.0 for an empty segment)."""
    alts = json.loads(raw or "{}").get("alternatives") or [{}]
    return float(alts[0].get("confidence", 0.0)) if isinstance(alts[0], dict) else 0.0
