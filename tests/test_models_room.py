"""The waiting room the training and the benchmark put speech into: tempo and pitch moved apart,
other people talking around the answer, a bank of their speech kept as a build stage."""
from __future__ import annotations

import random

import numpy as np
import pytest

from bench.accuracy import CONDITION_SETS, Condition, conditions, hear
from models.build.augment import (AugmentConfig, add_competing, augment, pitch_shift, speech_bounds, speech_power,
                                  tempo_stretch)
from models.build.competing import bank_key, bank_texts, load_or_make
from models.build.corpus import load_vocabulary
from models.build.tts import Voice, synth_many


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synth_many(Voice("espeak", "en-us"), ["no, not really, thank you"])[0]


@pytest.fixture(scope="module")
def others() -> list[np.ndarray]:
    return synth_many(Voice("flite", "awb"), ["the council says the new bridge will open next year",
                                              "did you remember to bring the parking ticket"])


def f0(x: np.ndarray) -> float:
    """Median pitch of the voiced 50 ms windows (autocorrelation, 60-350 Hz)."""
    out = []
    rms = np.sqrt(np.mean(x.astype(float) ** 2))
    for s in range(0, len(x) - 800, 400):
        seg = x[s:s + 800].astype(float)
        if np.sqrt(np.mean(seg ** 2)) < 0.2 * rms:
            continue
        seg -= seg.mean()
        ac = np.correlate(seg, seg, "full")[799:]
        lag = 45 + int(np.argmax(ac[45:267]))
        if ac[lag] > 0.5 * ac[0]:
            out.append(16000 / lag)
    return float(np.median(out))


@pytest.mark.parametrize("factor", [0.7, 1.3])
def test_tempo_changes_duration_not_pitch(speech, factor):
    y = tempo_stretch(speech, factor)
    assert len(y) == pytest.approx(len(speech) / factor, rel=0.01)
    assert f0(y) == pytest.approx(f0(speech), rel=0.06)


@pytest.mark.parametrize("semitones", [-4.0, 4.0])
def test_pitch_moves_by_semitones_at_the_same_tempo(speech, semitones):
    y = pitch_shift(speech, semitones)
    assert len(y) == pytest.approx(len(speech), rel=0.01)
    assert f0(y) / f0(speech) == pytest.approx(2 ** (semitones / 12), rel=0.06)


def test_other_talkers_are_mixed_the_asked_level_below_the_answer(speech, others):
    x = np.concatenate([np.zeros(16000, np.float32), speech * 3, np.zeros(16000, np.float32)])
    for snr in (0.0, 10.0, 20.0):
        y = add_competing(np.random.default_rng(int(snr)), x, others, snr, talkers=2)
        added = y - x
        heard = np.abs(added) > 1e-6
        level = 10 * np.log10(speech_power(x) / np.mean(added[heard].astype(np.float64) ** 2))
        assert level == pytest.approx(snr, abs=0.5)


def test_other_talkers_are_heard_before_during_and_after_answers(speech, others):
    """Over many draws, the others talk in the lead, under the answer and in the tail."""
    x = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    a, b = speech_bounds(x)
    where = np.zeros(3)
    for seed in range(30):
        added = add_competing(np.random.default_rng(seed), x, others, 10.0, talkers=1) - x
        where += [np.any(np.abs(added[:a]) > 1), np.any(np.abs(added[a:b]) > 1), np.any(np.abs(added[b:]) > 1)]
    assert (where >= 10).all(), where


def test_augment_with_other_talkers_needs_their_speech(speech):
    with pytest.raises(ValueError, match="competing speech"):
        augment(np.random.default_rng(0), speech, AugmentConfig(competing_prob=1.0))


def test_augment_keeps_the_answer_bounds_with_others_around_it(speech, others):
    cfg = AugmentConfig(competing_prob=1.0, tempo_prob=1.0, pitch_prob=1.0, noise_kinds=("music",))
    y, (s0, s1) = augment(np.random.default_rng(3), speech, cfg, others)
    assert 0.3 * 16000 <= s0 < s1 <= len(y) - 0.3 * 16000     # competing_pad_s lead and tail
    assert np.abs(y).max() <= 32767


def test_the_bank_is_a_stage_loaded_again_when_its_jobs_are_the_same(tmp_path):
    vocab = load_vocabulary()
    texts = bank_texts(vocab, random.Random(1), 4, ["garden", "window", "basket", "pencil", "river", "lemon",
                                                    "carpet", "button"])
    jobs = [(Voice("espeak", "en-us"), texts[:2]), (Voice("espeak", "en-gb"), texts[2:])]
    path = tmp_path / "competing.npz"
    first = load_or_make(path, jobs, workers=1)
    assert len(first) == 4 and path.exists()
    stamp = path.stat().st_mtime_ns
    again = load_or_make(path, jobs, workers=1)
    assert path.stat().st_mtime_ns == stamp and all(np.array_equal(a, b) for a, b in zip(first, again))
    other = [(Voice("espeak", "en-us", rate=1.3), texts[:2])]
    assert bank_key(other) != bank_key(jobs)
    assert len(load_or_make(path, other, workers=1)) == 2


def test_bank_texts_hold_answers_among_other_words():
    vocab = load_vocabulary()
    texts = bank_texts(vocab, random.Random(2), 200, ["garden", "window", "basket", "pencil", "river", "lemon",
                                                      "carpet", "button"])
    phrases = set(vocab.all_phrases())
    with_answer = [t for t in texts if any(f" {p} " in f" {t} " for p in phrases)]
    assert 30 <= len(with_answer) <= 120                    # answer_share 0.3, plus article runs that hold one
    assert all(len(t.split()) >= 4 for t in texts)


def test_benchmark_conditions(speech, others):
    assert [c.name for c in conditions(("babble",))] == ["babble20dB", "babble10dB", "babble5dB"]
    assert {c.name for c in CONDITION_SETS["room"]} == {"far", "tempo0.7", "tempo1.3", "pitch-4", "pitch+4"}
    with pytest.raises(ValueError, match="unknown condition set"):
        conditions(("noise", "typo"))
    lead = int(0.45 * 16000)          # inside the shortest lead padding: the others, not the answer
    loud_leads = sum(np.sqrt(np.mean(hear(np.random.default_rng(seed), speech, Condition("babble5dB", 5.0, babble=True),
                                          others)[:lead] ** 2)) > 100     # the dither alone is 3
                     for seed in range(10))
    assert loud_leads >= 3
    quiet = hear(np.random.default_rng(0), speech, Condition("clean"), others)
    slow = hear(np.random.default_rng(0), speech, Condition("tempo0.7", room="tempo", amount=0.7), [])
    assert len(slow) > len(quiet) + 0.25 * len(speech)
