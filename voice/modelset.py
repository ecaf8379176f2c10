"""Which loaded Vosk model (and graph) decodes the current turn.

Official models have a lookahead graph: one model, and the active phrases become
a runtime grammar. The built-in answer model has static graphs, one per dialog
context (models/answer-model/graphs/<context>/, plus graph/ = every word); for a
turn we pick the smallest context graph that holds every word of the active
phrases, so "start" cannot be heard in the middle of a yes/no question. Each
graph is loaded once, on first use, and kept.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from .recognizer import MarginCalibration

log = logging.getLogger(__name__)
GARBAGE = "garbage"   # the context whose graph holds only the [unk] loop (models.build.corpus)


class ModelSet(Protocol):
    name: str

    def for_phrases(self, phrases: Sequence[str] | None) -> tuple[Any, bool]:
        """(vosk.Model, runtime_grammar) to decode a turn accepting `phrases`."""


def _words_of(words_txt: Path) -> frozenset[str]:
    out = set()
    for line in words_txt.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts and not parts[0].startswith(("<", "#")):
            out.add(parts[0])
    return frozenset(out)


@dataclass
class SingleModel:
    """One model for every turn (official models: runtime grammar per turn)."""

    model: Any
    runtime_grammar: bool
    name: str = "model"
    lacking: frozenset[str] = frozenset()  # words the model does not know: their phrases are left out

    def for_phrases(self, phrases: Sequence[str] | None) -> tuple[Any, bool]:
        return self.model, self.runtime_grammar

    def usable(self, phrases: Sequence[str]) -> list[str]:
        """Phrases the model can decode (libvosk would silently drop unknown grammar words)."""
        return [p for p in phrases if not (set(p.split()) & self.lacking)]


class ContextGraphs:
    """A static-graph model directory with per-context graphs (the built-in answer model)."""

    def __init__(self, root: Path, name: str = "answer-model", loader: Any = None):
        from models import answer_model  # noqa: PLC0415

        self.root = Path(root)
        self.name = name
        self._answer_model = answer_model
        self._load = loader or _load_quietly
        self.contexts: dict[str, frozenset[str]] = {}
        for ctx in answer_model.contexts(self.root):
            words_txt = (self.root / "graph" / "words.txt") if ctx == "all" else (
                self.root / "graphs" / ctx / "words.txt")
            if words_txt.is_file():
                self.contexts[ctx] = _words_of(words_txt)
        if "all" not in self.contexts:
            self.contexts["all"] = frozenset()
        self._loaded: dict[str, Any] = {}
        # An answer's confidence is how far it beats the garbage-only graph (voice.recognizer), on
        # models built with that graph and a calibration in their manifest.
        self.calibration = MarginCalibration.from_manifest(self._manifest().get("confidence"))

    def _manifest(self) -> dict:
        try:
            return self._answer_model.load_manifest(self.root)
        except self._answer_model.ModelError:
            return {}

    def context_for(self, phrases: Sequence[str] | None) -> str:
        if not phrases:
            return "all"
        needed = {w for p in phrases for w in p.split()}
        fitting = [(len(words), ctx) for ctx, words in self.contexts.items()
                   if ctx not in ("all", GARBAGE) and words and needed <= words]
        return min(fitting)[1] if fitting else "all"

    def anti_model(self) -> Any | None:
        """The garbage-only graph every answer is scored against (None: the model has none)."""
        return self.model(GARBAGE) if GARBAGE in self.contexts else None

    def model(self, ctx: str) -> Any:
        m = self._loaded.get(ctx)
        if m is None:
            m = self._loaded[ctx] = self._load(self._answer_model.model_dir(ctx, self.root))
            log.info("loaded %s graph %r", self.name, ctx)
        return m

    def for_phrases(self, phrases: Sequence[str] | None) -> tuple[Any, bool]:
        return self.model(self.context_for(phrases)), False


def _load_quietly(path: Path) -> Any:
    from models.registry import load_model  # noqa: PLC0415

    return load_model(path)


def open_model(name_or_path: str, models_dir: Path) -> ModelSet:
    """The configured model as a ModelSet (errors are models.registry.ModelError: clear, user-facing)."""
    from models import registry  # noqa: PLC0415

    info = registry.resolve_model(name_or_path, models_dir)
    if info.problem:
        raise registry.ModelError(info.problem)
    if info.kind == "built-in" or (info.path / "graphs").is_dir():
        cg = ContextGraphs(info.path, info.name)
        # fail now, not at the first answer; with the graph a question uses (each graph is a whole
        # libvosk model, ~9 MB: the "all" graph is only loaded if a turn ever needs it)
        cg.model("answer" if "answer" in cg.contexts else "all")
        return cg
    model = registry.load_model(info.path)
    runtime = info.grammar == "runtime"
    lacking: frozenset[str] = frozenset()
    if runtime:
        from dialog import load_vocabulary  # noqa: PLC0415

        vocab = load_vocabulary()
        words = {w for intent in vocab.spoken for p in vocab.phrases(intent) for w in p.split()}
        words |= {w for p in (*vocab.corrections, *vocab.negators, *vocab.fillers) for w in p.split()}
        lacking = frozenset(registry.missing_words(model, sorted(words)))
        if lacking:
            log.warning("model %s lacks %d dialog word(s) (%s): phrases with them cannot be heard",
                        info.name, len(lacking), ", ".join(sorted(lacking)[:10]))
    return SingleModel(model, runtime, info.name, lacking)
