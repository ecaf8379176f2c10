"""Recognizer plumbing against real libvosk: runtime grammars on lookahead models, model loading errors.

The lookahead model here is the tiny generated one (tests/tiny_vosk_model.py): libvosk really loads it
and really compiles each grammar, it just cannot recognise speech. Recognition accuracy is tested with
the built-in model in test_voice_loop.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialog import load_vocabulary
from models.registry import ModelError
from tiny_vosk_model import write_tiny_model
from voice.loop import speech_phrases
from voice.modelset import SingleModel, open_model
from voice.recognizer import UNK, Hypothesis, VoskRecognizer, Word, contains_phrase, parse_result

WORDS = ["yes", "no", "not", "sure", "i", "don't", "know", "repeat", "help", "stop", "um", UNK]


@pytest.fixture
def lookahead(tmp_path) -> Path:
    return write_tiny_model(tmp_path / "official-like", WORDS, lookahead=True)


def test_official_models_get_a_runtime_grammar_per_answer_set(lookahead, caplog):
    models = open_model(str(lookahead), lookahead.parent)
    assert isinstance(models, SingleModel) and models.runtime_grammar
    assert "maybe" in models.lacking and "yes" not in models.lacking  # checked once, at load
    rec = VoskRecognizer(models)
    rec.begin(["yes", "no", "not sure", "maybe"])
    grammar_key = next(iter(rec._cache))[1]
    assert grammar_key == ("no", "not sure", "yes")  # "maybe" is unknown to this model: left out, not dropped silently
    rec.accept(np.random.default_rng(0).normal(0, 200, 8000).astype("<i2").tobytes())
    assert isinstance(rec.result(), Hypothesis)
    first = rec._rec
    rec.begin(["no", "yes", "not sure", "maybe"])  # same set: the same recognizer, reset
    assert rec._rec is first
    rec.begin(["stop", "help"])
    assert rec._rec is not first and len(rec._cache) == 2


def test_recognizer_cache_is_bounded(lookahead):
    rec = VoskRecognizer(open_model(str(lookahead), lookahead.parent), cache_size=3)
    for words in (["yes"], ["no"], ["stop"], ["help"], ["repeat"]):
        rec.begin(words)
    assert len(rec._cache) == 3  # a kiosk running for days does not collect recognizers


def test_grammar_phrases_for_big_models_include_synonyms_but_no_single_letters():
    vocab = load_vocabulary()
    static = speech_phrases(vocab, ("yes", "no", "unsure"), runtime_grammar=False)
    runtime = speech_phrases(vocab, ("yes", "no", "unsure"), runtime_grammar=True)
    assert "absolutely" not in static and "absolutely" in runtime  # typed synonym, fine for a big model
    assert "y" not in runtime and "?" not in runtime and "n" not in runtime
    assert "um" in runtime and "not" in runtime  # fillers and negators decode word for word
    assert "start" not in runtime and "hello" not in runtime  # not expected during a question


def test_missing_or_broken_models_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="no speech model named 'vosk-model-xx'"):
        open_model("vosk-model-xx", tmp_path)
    broken = write_tiny_model(tmp_path / "broken", WORDS)
    (broken / "am" / "final.mdl").write_text("garbage")
    with pytest.raises(ModelError, match="could not load"):
        open_model(str(broken), tmp_path)


def test_hypothesis_confidence_and_phrase_matching():
    text, words = parse_result(json.dumps({"text": "not sure", "result": [
        {"word": "not", "conf": 0.9, "start": 0.3, "end": 0.5}, {"word": "sure", "conf": 0.6, "start": 0.5, "end": 0.8}]}))
    h = Hypothesis(text, words)
    assert h.confidence == 0.6 and h.speech_end == 0.8  # the doubtful word decides
    assert Hypothesis("").confidence is None
    assert Hypothesis(UNK, (Word(UNK, 1.0, 0.0, 1.0),)).confidence == 0.0  # only unknown speech: no confidence
    assert contains_phrase("um not sure", ["not sure"]) and not contains_phrase("nothing", ["no"])


def test_margin_calibration_places_the_threshold_and_is_monotonic():
    from voice.recognizer import MarginCalibration
    cal = MarginCalibration.placing(3.0, at=0.6, width=2.0)
    assert cal.confidence(3.0) == pytest.approx(0.6)
    assert cal.confidence(cal.half) == pytest.approx(0.5)
    values = [cal.confidence(m) for m in (-200.0, -5.0, 0.0, 3.0, 10.0, 60.0)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] > 0.999
    assert MarginCalibration.from_manifest({"margin_half": 1.5, "margin_width": 3.0}) == MarginCalibration(1.5, 3.0)
    assert MarginCalibration.from_manifest(None) is None and MarginCalibration.from_manifest({}) is None
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        MarginCalibration.placing(3.0, at=1.0)


def test_built_in_model_scores_each_turn_afresh_against_unknown_speech():
    """Every turn of the built-in model is scored against its garbage-only graph, and a turn's
    score does not depend on what was heard before (a reset libvosk recognizer would carry the
    earlier utterances' feature normalisation into this one)."""
    from models.answer_model import MODEL_DIR
    from models.build.augment import eval_condition
    from models.build.tts import Voice, synth_many
    from voice.modelset import ContextGraphs
    models = ContextGraphs(MODEL_DIR)
    assert models.anti_model() is not None and models.calibration is not None
    rec = VoskRecognizer(models)
    phrases = ["yes", "no", "not sure"]
    yes, other, no = (eval_condition(np.random.default_rng(4), x, snr)
                      for x, snr in zip(synth_many(Voice("espeak", "en-us"), ["yes", "the weather is nice today", "no"]),
                                        (None, 10.0, None)))

    def turn(x):
        rec.begin(phrases)
        rec.accept(np.clip(x, -32768, 32767).astype("<i2").tobytes())
        return rec.result()

    first = turn(yes)
    turn(other)
    turn(no)
    again = turn(yes)
    assert first.text == again.text == "yes"
    assert first.margin == pytest.approx(again.margin, abs=1e-3) and first.margin > 5.0
    assert first.confidence == pytest.approx(again.confidence, abs=1e-6)
