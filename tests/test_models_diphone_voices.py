"""MBROLA (recorded diphones through espeak-ng), SVOX Pico and RHVoice speak through models.build.tts.

Real mbrola + its Debian voice databases, pico2wave and RHVoice-test, installed by `sh install.sh
--dev`; the full recipe trains on them, and three MBROLA and two RHVoice speakers are held-out test
voices of bench.accuracy.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from models.build import tts
from models.build.data import DataPlan, training_voices
from models.build.tts import (MBROLA_VOICES_HELDOUT, MBROLA_VOICES_TRAIN, PICO_LANGS, RATE, RHVOICE_VOICES_HELDOUT,
                              RHVOICE_VOICES_TRAIN, SynthesisError, Voice, available_engines, mbrola_voices,
                              require_engines, rhvoice_voices, synth_many)


def _speechlike(x: np.ndarray) -> None:
    assert x.dtype == np.float32 and x.ndim == 1
    assert 0.2 <= len(x) / RATE <= 3.0
    assert np.sqrt(np.mean(x ** 2)) > 300          # speech level, not silence
    assert 5000 < np.abs(x).max() <= 32767         # int16 scale


def test_every_listed_voice_is_installed_by_the_dev_install() -> None:
    assert {"mbrola", "pico", "rhvoice"} <= set(available_engines())
    assert mbrola_voices() == MBROLA_VOICES_TRAIN
    assert mbrola_voices(MBROLA_VOICES_HELDOUT) == MBROLA_VOICES_HELDOUT
    assert rhvoice_voices() == RHVOICE_VOICES_TRAIN
    assert rhvoice_voices(RHVOICE_VOICES_HELDOUT) == RHVOICE_VOICES_HELDOUT


def test_held_out_speakers_are_never_training_speakers() -> None:
    assert not set(MBROLA_VOICES_HELDOUT) & set(MBROLA_VOICES_TRAIN)
    plan = DataPlan(utterances=100, mbrola_share=1.0)
    rng = random.Random(3)
    drawn = {training_voices(rng, plan).name for _ in range(400)}
    assert drawn <= set(MBROLA_VOICES_TRAIN) and len(drawn) >= 10


def test_non_commercial_rhvoice_speakers_only_ever_test() -> None:
    """evgeniy-eng and lyubov are CC BY-NC-ND: a shipped model must never have trained on them."""
    assert not set(RHVOICE_VOICES_HELDOUT) & set(RHVOICE_VOICES_TRAIN)
    plan = DataPlan(utterances=100, rhvoice_share=1.0)
    rng = random.Random(5)
    drawn = {training_voices(rng, plan) for _ in range(200)}
    assert {v.engine for v in drawn} == {"rhvoice"}
    assert {v.name for v in drawn} == set(RHVOICE_VOICES_TRAIN)
    assert min(v.rate for v in drawn) < 0.8 and max(v.rate for v in drawn) > 1.25


@pytest.mark.parametrize("voice", [Voice("mbrola", "mb-us1"), Voice("mbrola", "mb-de2-en"),
                                   Voice("pico", "en-US"), Voice("pico", "en-GB"), Voice("rhvoice", "alan"),
                                   Voice("rhvoice", "lyubov")], ids=lambda v: v.label)
def test_speaks_each_text_as_16k_speech(voice: Voice) -> None:
    yes, idk = synth_many(voice, ["yes", "i don't know"])
    _speechlike(yes)
    _speechlike(idk)
    assert len(idk) > len(yes) + 0.1 * RATE         # three words take longer than one


@pytest.mark.parametrize("engine,name", [("mbrola", "mb-us2"), ("pico", "en-GB"), ("rhvoice", "clb")])
def test_rate_and_pitch_change_the_audio(engine: str, name: str) -> None:
    text = ["please say that again"]
    slow = synth_many(Voice(engine, name, rate=0.75), text)[0]
    fast = synth_many(Voice(engine, name, rate=1.3), text)[0]
    assert len(slow) > 1.3 * len(fast)
    low = synth_many(Voice(engine, name, pitch=25), text)[0]
    high = synth_many(Voice(engine, name, pitch=75), text)[0]
    assert not np.array_equal(low, high)


@pytest.mark.parametrize("engine,names", [("mbrola", ("mb-us1", "mb-us2")), ("rhvoice", ("bdl", "slt"))])
def test_voices_are_different_speakers(engine: str, names: tuple[str, str]) -> None:
    a, b = (synth_many(Voice(engine, n), ["nope"])[0] for n in names)
    n = min(len(a), len(b))
    assert not np.allclose(a[:n], b[:n], atol=500)


def test_rhvoice_pitch_moves_the_voice_up_and_down() -> None:
    """RHVoice's -t is a percentage of the voice's F0: the recipe's pitch 25..75 maps to 85..115%."""
    def f0(x: np.ndarray) -> float:
        n, found = 640, []
        for i in range(0, len(x) - n, n // 2):
            s = x[i:i + n] - x[i:i + n].mean()
            if np.mean(s ** 2) < 3e5:
                continue
            ac = np.correlate(s, s, "full")[n - 1:]
            k = 32 + int(np.argmax(ac[32:267]))          # 60..500 Hz at 16 kHz
            if ac[k] > 0.5 * ac[0]:
                found.append(RATE / k)
        return float(np.median(found))
    low, high = (f0(synth_many(Voice("rhvoice", "bdl", pitch=p), ["say that again please"])[0]) for p in (25, 75))
    assert 1.2 < high / low < 1.5


def test_same_voice_and_text_give_the_same_audio() -> None:
    for v in (Voice("mbrola", "mb-en1", rate=1.1, pitch=40), Voice("pico", "en-US", rate=0.9),
              Voice("rhvoice", "bdl", rate=1.2, pitch=60)):
        assert np.array_equal(synth_many(v, ["not sure"])[0], synth_many(v, ["not sure"])[0])


def test_a_recipe_naming_missing_voices_fails_before_synthesis(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tts, "MBROLA_DIR", tmp_path)        # no diphone databases here
    require_engines({"mbrola": 0.0})                       # a recipe that does not use them is fine
    with pytest.raises(SynthesisError, match=r"mbrola \(install the training voices with: sh install.sh --dev"):
        require_engines({"mbrola": 0.2, "pico": 0.08})


def test_a_recipe_naming_rhvoice_without_it_fails_with_the_install_hint(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tts, "RHVOICE_DIR", tmp_path)       # no RHVoice voices here
    with pytest.raises(SynthesisError, match=r"rhvoice \(install the training voices with: sh install.sh --dev"):
        require_engines({"rhvoice": 0.08})
