"""Does a speech model know every word the dialog listens for? (`massage-check models verify`)

Vosk drops a grammar word its model lacks with only a log line, so a phrase the patient
says would silently never be recognised. This check loads the model with libvosk and looks
up each spoken word with `find_word`, which reads the same word table libvosk decodes with
(graph output symbols or graph/words.txt) on static and lookahead models alike.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from models.registry import check_model_dir, load_model, missing_words

VOCABULARY_FILE = Path(__file__).resolve().parent.parent / "dialog" / "vocabulary.yaml"


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    grammar: str  # "runtime" (lookahead) or "static"
    load_seconds: float
    words: tuple[str, ...]  # every word checked
    missing: tuple[str, ...]  # the ones the model lacks

    @property
    def ok(self) -> bool:
        return not self.missing


def _words_from_yaml(path: Path) -> list[str]:
    """Spoken words straight from dialog/vocabulary.yaml (used when dialog.vocabulary is absent)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    phrases: list[str] = []
    for spec in (data.get("intents") or {}).values():
        phrases.extend((spec or {}).get("spoken") or [])
    phrases.extend((data.get("corrections") or {}).get("spoken") or [])
    phrases.extend(data.get("negators") or [])
    return sorted({w for p in phrases for w in str(p).lower().split()})


def dialog_words() -> list[str]:
    """The closed list of words the spoken dialog needs a speech model to know."""
    try:
        from dialog.vocabulary import load_vocabulary
    except ImportError:
        return _words_from_yaml(VOCABULARY_FILE)
    return sorted(load_vocabulary().words())


def verify_model(path: Path | str, words: list[str] | None = None) -> VerifyReport:
    """Load the model with libvosk and look up every needed word."""
    layout = check_model_dir(path)
    words = dialog_words() if words is None else words
    start = time.perf_counter()
    model = load_model(layout.path)
    seconds = time.perf_counter() - start
    lacking = missing_words(model, words)
    return VerifyReport(path=layout.path, grammar=layout.grammar, load_seconds=seconds,
                        words=tuple(words), missing=tuple(lacking))
