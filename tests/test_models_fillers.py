"""models/build/fillers.yaml: the hesitations and courtesies the built-in model's graphs allow
around an answer. A malformed file is a clear error naming the file and what to change."""
from __future__ import annotations

from pathlib import Path

import pytest

from dialog import interpret
from models.build.corpus import FILLERS_YAML, FillersError, load_fillers, load_vocabulary


def test_the_shipped_fillers_load_and_the_dialog_keeps_the_answer_they_wrap() -> None:
    before, after = load_fillers(load_vocabulary())
    assert "um" in before and "thank you" in after
    for f in before:
        assert interpret(f"{f} no").intent == "no" and interpret(f"{f} yes").intent == "yes"
    for f in after:
        assert interpret(f"no {f}").intent == "no" and interpret(f"yes {f}").intent == "yes"
    assert FILLERS_YAML.is_file()


@pytest.mark.parametrize("text,message", [
    ("before: [um\n", "not valid YAML"),
    ("- um\n- uh\n", "expected the keys `before` and `after`"),
    ("before: [um]\nduring: [er]\n", "expected the keys `before` and `after`"),
    ("before: um\n", "`before` must be a list"),
    ("after: [Please]\n", "use lower case words"),
    ("before: [um, okay yes]\n", "holds a word of dialog/vocabulary.yaml's spoken phrases"),
    ("after: [never]\n", "holds a word of dialog/vocabulary.yaml's spoken phrases"),
])
def test_a_malformed_fillers_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "fillers.yaml"
    path.write_text(text)
    with pytest.raises(FillersError, match=message) as e:
        load_fillers(load_vocabulary(), path)
    assert str(path) in str(e.value)


def test_a_missing_fillers_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FillersError, match="cannot read"):
        load_fillers(load_vocabulary(), tmp_path / "nope.yaml")
