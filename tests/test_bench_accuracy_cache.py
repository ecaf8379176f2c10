"""bench.accuracy --speech-cache: held-out speech synthesised once is heard again, sample for sample,
by every later run of the same code and options, and synthesised anew when either changed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bench.accuracy as acc
from models.build.augment import eval_condition
from models.build.tts import Voice, synth_many


@pytest.fixture(scope="module")
def real_speech() -> acc.HeldOutSpeech:
    """Two real espeak answers, clean and in 5 dB noise, one far too loud (it clips), and a wrapped answer."""
    rng = np.random.default_rng(3)
    yes, no, wrapped = synth_many(Voice("espeak", "en-us"), ["yes", "no", "um, yes"])
    items = [("espeak:en-us", c, ref, eval_condition(rng, x, snr))
             for ref, x in (("yes", yes), ("no", no)) for c, snr in (("clean", None), ("5dB", 5.0))]
    items.append(("espeak:en-us", "loud", "yes", yes * 40.0 + 0.5))
    return acc.HeldOutSpeech("standard", ["espeak:en-us"], ["no", "yes"], [], items, ["yes"] * 2 + ["no"] * 2 + ["yes"],
                             [("clean", "um, yes", "yes", eval_condition(rng, wrapped, None))])


def decoder_input(x: np.ndarray) -> bytes:
    """What models.build.decode feeds libvosk for `x`."""
    return np.clip(np.asarray(x), -32768, 32767).astype("<i2").tobytes()


def test_cached_speech_is_what_the_decoder_would_have_heard(tmp_path: Path, real_speech, monkeypatch) -> None:
    made = []
    monkeypatch.setattr(acc, "synthesize", lambda *a: made.append(a) or real_speech)
    cache = tmp_path / "speech.pkl"
    first = acc.cached_speech(cache, True, "standard", ("noise",))
    again = acc.cached_speech(cache, True, "standard", ("noise",))
    assert len(made) == 1 and cache.exists()
    assert b"HeldOutSpeech" not in cache.read_bytes()     # plain fields: loads under `-m` and imported alike
    assert first is real_speech
    assert [i[:3] for i in again.items] == [i[:3] for i in real_speech.items]
    assert any(np.abs(x).max() > 32767 for *_, x in real_speech.items)     # the clipping case is exercised
    for (*_, x), (*_, y) in zip(real_speech.items + real_speech.wrapped, again.items + again.wrapped):
        assert y.dtype == np.float32 and decoder_input(x) == decoder_input(y)


def test_other_options_or_code_synthesise_again(tmp_path: Path, real_speech, monkeypatch) -> None:
    made = []
    monkeypatch.setattr(acc, "synthesize", lambda *a: made.append(a) or real_speech)
    cache = tmp_path / "speech.pkl"
    acc.cached_speech(cache, True, "standard", ("noise",))
    acc.cached_speech(cache, True, "standard", ("noise", "babble"))       # other conditions
    acc.cached_speech(cache, True, "standard", ("noise", "babble"))       # ...now cached
    changed = tmp_path / "augment.py"
    changed.write_text("# the augmentation code changed\n")
    monkeypatch.setattr(acc, "SPEECH_SOURCES", acc.SPEECH_SOURCES + (changed,))
    acc.cached_speech(cache, True, "standard", ("noise", "babble"))
    assert [a[2] for a in made] == [("noise",), ("noise", "babble"), ("noise", "babble")]


def test_a_damaged_cache_is_synthesised_again_not_trusted(tmp_path: Path, real_speech, monkeypatch, capsys) -> None:
    made = []
    monkeypatch.setattr(acc, "synthesize", lambda *a: made.append(a) or real_speech)
    cache = tmp_path / "speech.pkl"
    acc.cached_speech(cache, True, "standard", ("noise",))
    cache.write_bytes(cache.read_bytes()[:100])                          # cut short (a full disk, a kill)
    again = acc.cached_speech(cache, True, "standard", ("noise",))
    assert len(made) == 2 and again is real_speech
    assert f"{cache}: unreadable" in capsys.readouterr().err
    assert not cache.with_name(cache.name + ".part").exists()
