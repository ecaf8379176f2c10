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

from models.registry import check_model_dir, load_model, missing_words


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


def dialog_words() -> list[str]:
    """The closed list of words the spoken dialog needs a speech model to know."""
    from dialog.vocabulary import load_vocabulary

    return load_vocabulary().words()


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
