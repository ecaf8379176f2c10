"""Near-rhymes of the vocabulary as unknown training speech (models.build.corpus.near_rhymes).

Real festival CMU dictionary; the rules say which words a model most easily takes for an answer
and which it must never be taught to reject (homophones, another accent's vowels, the benchmark's
own unknown words).
"""
from __future__ import annotations

import random

from models.build.corpus import HELDOUT_OOV_WORDS, heldout_oov_candidates, load_vocabulary, near_rhymes
from models.build.data import DataPlan, make_texts, near_rhyme_pool, negative_pool


def test_near_rhymes_differ_by_a_consonant_share_the_stressed_rhyme_or_extend_the_word() -> None:
    got = set(near_rhymes(["pardon", "yes", "hello", "right"], random.Random(1), per_word=10_000))
    assert {"garden", "harden"} <= got          # one consonant from "pardon"
    assert {"guess", "yet", "yesterday"} <= got   # consonant change, consonant change, "yes" + more
    assert {"pillow", "below"} <= got             # end in "hello"'s stressed syllable
    assert "rewrite" in got or "bright" in got
    assert not got & {"pardon", "yes", "hello", "right"}


def test_homophones_and_vowel_variants_of_vocabulary_words_are_never_negatives() -> None:
    got = set(near_rhymes(["no", "yeah", "right", "yes"], random.Random(1), per_word=10_000))
    assert not got & {"know", "write", "rite", "wright"}     # same sounds as a vocabulary word
    assert not got & {"nah", "now", "yeh", "yah"}            # only the vowel differs: an accent


def test_the_benchmarks_unknown_words_are_never_trained_on() -> None:
    vocab = load_vocabulary()
    held = heldout_oov_candidates()
    assert set(HELDOUT_OOV_WORDS) <= held and len(held) >= len(HELDOUT_OOV_WORDS) + 30
    plan = DataPlan(kinds=(("inv", 0.5), ("near", 0.5)))
    near = near_rhyme_pool(vocab, 3, plan)
    assert len(near) > 300 and not set(near) & held and not set(near) & set(vocab.words())
    assert "garden" not in near and "pillow" not in near    # the benchmark's, even though they rhyme
    assert not set(negative_pool(vocab, random.Random(3), 3000)) & held


def test_near_texts_are_drawn_only_when_the_plan_asks_and_deterministically() -> None:
    vocab = load_vocabulary()
    assert near_rhyme_pool(vocab, 3, DataPlan()) == []
    plan = DataPlan(kinds=(("inv", 0.5), ("near", 0.5)))
    near = near_rhyme_pool(vocab, 3, plan)
    assert near == near_rhyme_pool(vocab, 3, plan)
    negatives = negative_pool(vocab, random.Random(3), 200)
    texts = make_texts(vocab, random.Random(5), 200, plan, negatives, near)
    assert texts == make_texts(vocab, random.Random(5), 200, plan, negatives, near)
    near_texts = [t for t, k in texts if k == "near"]
    assert 60 < len(near_texts) < 140
    assert all(sum(w in near for w in t) == 1 and len(t) <= 2 for t in near_texts)
    # without a pool, "near" falls back to ordinary unknown words
    assert all(k != "near" for _, k in make_texts(vocab, random.Random(5), 50, plan, negatives))
