"""The listener must hear answers in a noisy room: its speech gate (a level above the noise floor)
decides what reaches the decoder, so a gate too strict loses answers the model would understand.
Real decoder, real committed model, synthesised voices with noise mixed in at a known SNR."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialog import Interpreter
from dialog.vocabulary import load_vocabulary
from models.build.augment import colored_noise, eval_condition
from models.build.corpus import load_vocabulary as load_model_vocabulary
from models.build.tts import Voice, synth_many
from voice.app import meaning_of
from voice.audio import Clip
from voice.listener import ListenConfig, listen
from voice.modelset import ContextGraphs
from voice.recognizer import VoskRecognizer
from voice.sources import WavFileSource

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def turn():
    vocab = load_vocabulary()
    rec = VoskRecognizer(ContextGraphs(REPO / "models" / "answer-model"), meaning=meaning_of(vocab))
    phrases = load_model_vocabulary().all_phrases("answer")

    def hear(x: np.ndarray, cfg: ListenConfig = ListenConfig()):
        src = WavFileSource.from_clip(Clip(np.clip(x, -32768, 32767).astype(np.int16), 16000))
        return listen(src, rec, phrases, cfg)
    return hear


VOICES = [Voice("espeak", "en-us"), Voice("festival", "kal_diphone"), Voice("espeak", "en-gb-scotland", "f2")]
WORDS = ["yes", "no", "repeat"]


def right_answers(turn, snr: float, cfg: ListenConfig = ListenConfig()) -> int:
    interpret = Interpreter(load_vocabulary())
    rng = np.random.default_rng(3)
    cases = [(w, eval_condition(rng, x, snr)) for v in VOICES for w, x in zip(WORDS, synth_many(v, WORDS))]
    return sum(interpret(turn(x, cfg).hypothesis.text).intent == interpret(w).intent for w, x in cases)


def test_answers_in_noise_reach_the_decoder(turn) -> None:
    """9 answers at 10 dB and at 5 dB SNR: with a 12 dB gate (the first default) most were never
    fed to the decoder at 5 dB; measured on held-out voices it let 6 of 40 through, 7 dB 29."""
    assert right_answers(turn, 10.0) >= 8          # measured 9 of 9 (12 dB gate: 5)
    assert right_answers(turn, 5.0) >= 5           # measured 6 of 9 (12 dB gate: 3)
    assert right_answers(turn, 10.0, ListenConfig(speech_margin_db=12.0)) <= 6


@pytest.mark.parametrize("kind", ["white", "pink", "babble", "brown"])
def test_steady_noise_alone_is_not_taken_for_speech(turn, kind: str) -> None:
    rng = np.random.default_rng(5)
    for level in (30.0, 3000.0):
        u = turn(colored_noise(rng, 16000 * 6, kind) * level)
        assert u.hypothesis.text == "" and u.reason in ("no_input", "exhausted"), (level, u.reason, u.hypothesis.text)


def test_a_stream_that_starts_with_digital_silence_still_hears_the_answer(turn) -> None:
    """A new PulseAudio stream gave 40 ms of exact zeros, then room noise, then the patient's "no":
    fed as is, the zeros-to-noise step came out as "yeah no" (a re-ask in the kiosk test)."""
    interpret = Interpreter(load_vocabulary())
    rng = np.random.default_rng(11)
    wrong = []
    for v in (Voice("espeak", "en-gb"), Voice("espeak", "en-us"), Voice("festival", "kal_diphone")):
        for w, x in zip(["no", "yes"], synth_many(v, ["no", "yes"])):
            speech = x / np.abs(x).max() * 8000
            room = rng.normal(0.0, 140.0, 4800 + len(x) + 8000)
            room[4800:4800 + len(x)] += speech
            heard = turn(np.concatenate([np.zeros(640), room])).hypothesis.text
            if interpret(heard).intent != interpret(w).intent:
                wrong.append((v.label, w, heard))
    assert not wrong
