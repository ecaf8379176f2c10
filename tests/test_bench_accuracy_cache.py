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


def _vocabulary_with_the_pair_typed(tmp_path: Path) -> Path:
    """dialog/vocabulary.yaml with "i think so" / "i don't think so" moved to the typed phrases."""
    from models.build.corpus import VOCABULARY_YAML
    head, sep, text = VOCABULARY_YAML.read_text().partition("\nintents:")
    for phrase in ('"i think so"', '"i don\'t think so"'):
        assert text.count(phrase) == 1
    text = head + sep + text.replace(',\n             "i think so"]', "]").replace('"not really", "i don\'t think so", ', '"not really", ')
    text = text.replace('"i agree"]', '"i agree", "i think so"]').replace('typed: ["i don\'t", ', 'typed: ["i don\'t think so", "i don\'t", ')
    out = tmp_path / "vocabulary.yaml"
    out.write_text(text)
    return out


def test_answers_the_vocabulary_leaves_out_are_heard_whichever_vocabulary_built_the_model(tmp_path: Path,
                                                                                            monkeypatch) -> None:
    """The held-out voices say the minimal pairs whether the vocabulary speaks them or not, so a model
    built with the pair typed only is judged on the same cached audio as one that speaks it."""
    from models.build.corpus import load_vocabulary
    shipped = load_vocabulary()
    typed = load_vocabulary(_vocabulary_with_the_pair_typed(tmp_path))
    assert "i think so" in acc.phrase_intents(shipped) and "i think so" not in acc.phrase_intents(typed)
    assert acc.heldout_answers(shipped) == acc.heldout_answers(typed)
    key = acc.speech_key(True, "standard", ("noise",))
    monkeypatch.setattr(acc, "load_vocabulary", lambda *a, **k: typed)
    assert acc.speech_key(True, "standard", ("noise",)) == key


def test_an_answer_the_vocabulary_leaves_out_is_scored_apart_and_as_a_product_turn(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """Real espeak speech decoded by the shipped model: "i do" / "i don't" (typed only) are scored as
    answers outside the vocabulary (understood, re-asked or swapped), not as phrases it failed on."""
    from models.answer_model import MODEL_DIR
    texts = ["yes", "i do", "i don't", "i think so"]
    rng = np.random.default_rng(5)
    waves = synth_many(Voice("espeak", "en-us"), texts)
    items = [("espeak:en-us", "clean", t, eval_condition(rng, x, None)) for t, x in zip(texts, waves)]
    ts = acc.HeldOutSpeech("standard", ["espeak:en-us"], sorted(texts), [], items, texts, [])
    r = acc.score(MODEL_DIR, ts)
    o = r["outside_answers"]
    assert set(o["per_text"]) == {"i do", "i don't"} and set(r["per_phrase"]) == {"yes", "i think so"}
    assert r["phrases"] == 2 and r["yes_no_as_product_turns"]["answers"] == 2
    t = o["as_product_turns"]
    assert t["answers"] == 2
    assert t["accepted_right"] + t["read_back"] + t["swaps_accepted"] + t["swaps_read_back"] + t["not_taken"] == 2
    # the same audio judged with the pair typed only: "i think so" moves out of the phrases
    typed = tmp_path / "typed"
    typed.mkdir()
    from models.build.corpus import load_vocabulary
    v = load_vocabulary(_vocabulary_with_the_pair_typed(typed))
    monkeypatch.setattr(acc, "load_vocabulary", lambda *a, **k: v)
    r2 = acc.score(MODEL_DIR, ts)
    assert set(r2["outside_answers"]["per_text"]) == {"i do", "i don't", "i think so"}
    assert r2["outside_answers"]["as_product_turns"]["answers"] == 3 and r2["phrases"] == 1
