"""Hard negatives (models.build.mine): unknown words a model takes for answers, mined through libvosk
with the shipped model and trained as unknown speech by the next build (kind "hard").

Real festival CMU dictionary, real synthesis, the real committed model and hard_negatives.yaml.
"""
from __future__ import annotations

import random
from pathlib import Path

import vosk  # noqa: F401  (libvosk before kaldifst-using build modules: see tests/test_models_build.py)
import pytest

from models.answer_model import model_path
from models.build.corpus import heldout_oov_candidates, load_vocabulary, sounds_like_vocabulary
from models.build.data import DataPlan, make_texts, negative_pool
from models.build.mine import (HARD_NEGATIVES_YAML, HardNegativesError, candidates, check_new_network,
                               load_hard_negatives, mine, network_id, read_runs, write_runs)


def test_words_that_are_a_vocabulary_word_in_some_accent_are_found() -> None:
    like = sounds_like_vocabulary(["no", "yeah", "right"])
    assert {"know", "write", "rite"} <= like      # homophones
    assert {"nah", "yeh"} <= like                 # only the vowel differs
    assert not like & {"no", "yeah", "right", "yesterday", "garden"}


def test_candidates_never_include_what_must_not_be_rejected() -> None:
    vocab = load_vocabulary()
    got = set(candidates(vocab, 2000))
    assert len(got) > 2000
    assert not got & set(vocab.words())
    assert not got & sounds_like_vocabulary(vocab.words())
    assert not got & heldout_oov_candidates()
    assert {"garden", "yesterday", "know"}.isdisjoint(got)


def test_the_committed_list_loads_and_is_clean() -> None:
    vocab = load_vocabulary()
    words = load_hard_negatives(HARD_NEGATIVES_YAML, vocab)
    assert len(set(words)) >= 200
    never = set(vocab.words()) | sounds_like_vocabulary(vocab.words()) | heldout_oov_candidates()
    assert not set(words) & never
    runs = read_runs(HARD_NEGATIVES_YAML)
    assert all(run["mined_with"]["recipe_version"] for run in runs)


def test_a_word_is_drawn_once_per_run_that_heard_it(tmp_path: Path) -> None:
    path = tmp_path / "hard.yaml"
    write_runs(path, [{"mined_with": {"recipe_version": "8"}, "words": {"hope": ["help"], "swipe": ["sure"]}},
                      {"mined_with": {"recipe_version": "9"}, "words": {"hope": ["help"], "acclaim": ["explain"]}}])
    assert load_hard_negatives(path, load_vocabulary()) == ["acclaim", "hope", "hope", "swipe"]
    assert not path.with_name("hard.yaml.tmp").exists()


def test_mining_the_same_network_twice_is_refused(tmp_path: Path) -> None:
    network = network_id(model_path())
    runs = [{"mined_with": {"recipe_version": "8"}, "words": {"hope": ["help"]}}]
    check_new_network(runs, network, tmp_path / "hard.yaml")           # an older run without a hash
    runs.append({"mined_with": {"network_sha256": network}, "words": {"swipe": ["sure"]}})
    with pytest.raises(HardNegativesError, match="run 2 was already mined with this network"):
        check_new_network(runs, network, tmp_path / "hard.yaml")


RUN = "runs:\n- mined_with: {}\n  words:\n"


@pytest.mark.parametrize("text, message", [
    ("runs: [a, b", "not valid YAML"),
    ("mined_with: {}\nwords:\n  hope: [help]\n", "no `runs` list"),
    ("runs:\n- mined_with: {}\n", "run 1 has no `words` mapping"),
    (RUN + "    know: [no]\n    basket: [faster]\n", "basket, know must not be unknown speech"),
])
def test_a_bad_list_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "hard.yaml"
    bad.write_text(text)
    with pytest.raises(HardNegativesError, match=message) as e:
        load_hard_negatives(bad, load_vocabulary())
    assert str(bad) in str(e.value)


def test_a_missing_list_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(HardNegativesError, match="python -m models.build.mine"):
        load_hard_negatives(tmp_path / "none.yaml", load_vocabulary())


def test_hard_texts_use_the_mined_words_only_when_the_plan_asks() -> None:
    vocab = load_vocabulary()
    hard = load_hard_negatives(vocab=vocab)
    negatives = negative_pool(vocab, random.Random(3), 200)
    plan = DataPlan(kinds=(("inv", 0.5), ("hard", 0.5)))
    assert plan.wants("hard") and not DataPlan().wants("hard")
    texts = make_texts(vocab, random.Random(5), 200, plan, negatives, hard=hard)
    assert texts == make_texts(vocab, random.Random(5), 200, plan, negatives, hard=hard)
    hard_texts = [t for t, k in texts if k == "hard"]
    assert 60 < len(hard_texts) < 140
    assert all(sum(w in hard for w in t) >= 1 and len(t) <= 2 for t in hard_texts)
    # without a list, "hard" falls back to ordinary unknown words
    assert all(k != "hard" for _, k in make_texts(vocab, random.Random(5), 50, plan, negatives))


def test_mining_decodes_through_libvosk_and_keeps_only_words_heard_as_phrases() -> None:
    # vocabulary words stand in for mined words: the shipped model must hear them as themselves,
    # and the long unknown word as nothing it knows
    found = mine(model_path(), ["cancel", "goodbye", "unconstitutional"], per_job=3, workers=1)
    assert "unconstitutional" not in found
    assert "cancel" in found or "goodbye" in found
    assert all(1 <= len(h) <= 3 for h in found.values())
    for word, heard in found.items():
        assert any(word in h.split() for h in heard), (word, heard)
