"""Other people talk in a waiting room. The listener follows the foreground talker: a television
behind the patient must neither keep an answer open nor add its words to it, and a patient who
starts while others talk is decoded from where they start. Real decoder, committed model, an
espeak-ng patient and flite talkers (voices of another synthesiser) saying answers of their own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialog import Interpreter
from dialog.vocabulary import load_vocabulary
from models.build.corpus import load_vocabulary as load_model_vocabulary
from models.build.tts import Voice, synth_many
from voice.app import meaning_of
from voice.audio import Clip
from voice.audio import BLOCK_SECONDS, rms_dbfs
from voice.listener import ListenConfig, NoiseFloor, listen
from voice.modelset import ContextGraphs
from voice.recognizer import VoskRecognizer
from voice.sources import WavFileSource

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
# what the room says: far-away answers, the words that must never become the patient's
ROOM = ["yes, that's right, call them back after lunch and ask for the manager",
        "no no, it's the second door on the left past the pharmacy, yes"]


@pytest.fixture(scope="module")
def turn():
    rec = VoskRecognizer(ContextGraphs(REPO / "models" / "answer-model"), meaning=meaning_of(load_vocabulary()))
    phrases = load_model_vocabulary().all_phrases("answer")

    def hear(x: np.ndarray, cfg: ListenConfig = ListenConfig(), room: np.ndarray | None = None,
             talker_db: float | None = None):
        """One turn on `x`; `room`: what the kiosk heard of the room before it (its floor carries over);
        `talker_db`: the patient's level from their start phrase."""
        floor = NoiseFloor()
        if room is not None:
            block = int(BLOCK_SECONDS * RATE)
            for i in range(0, len(room) - block, block):
                floor.update(rms_dbfs(np.clip(room[i:i + block], -32768, 32767).astype("<i2").tobytes()))
        src = WavFileSource.from_clip(Clip(np.clip(x, -32768, 32767).astype(np.int16), RATE))
        return listen(src, rec, phrases, cfg, floor=floor, talker_db=talker_db)
    return hear


@pytest.fixture(scope="module")
def room() -> np.ndarray:
    talk = [x / np.sqrt(np.mean(x.astype(float) ** 2)) for v in ("awb", "slt") for x in synth_many(Voice("flite", v), ROOM)]
    return np.concatenate(talk)


def at_level(x: np.ndarray) -> np.ndarray:
    """Speech at the patient's level (RMS 3000 over its louder samples)."""
    return x / np.sqrt(np.mean(x[np.abs(x) > 0.05 * np.abs(x).max()].astype(float) ** 2)) * 3000


def scene(answer: np.ndarray, room: np.ndarray, below_db: float, lead: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Room talk throughout, the answer `lead` seconds in, its speech `below_db` above the talk;
    and the 4 s of the room the kiosk heard before the turn."""
    n = int((lead + 3.0) * RATE) + len(answer)
    before = int(4 * RATE)
    start = int(rng.integers(0, len(room) - n - before))
    talk = room[start:start + before + n] * 3000 * 10 ** (-below_db / 20) + rng.normal(0, 3.0, before + n)
    a = before + int(lead * RATE)
    talk[a:a + len(answer)] += at_level(answer)
    return talk[before:], talk[:before]


def start_level(turn, voice: Voice) -> float:
    """The patient's level as the kiosk learns it: their "start", said in a quiet moment."""
    x = synth_many(voice, ["start"])[0]
    u = turn(np.concatenate([np.random.default_rng(0).normal(0, 3.0, RATE // 2), at_level(x),
                             np.random.default_rng(1).normal(0, 3.0, RATE)]))
    assert u.level is not None
    return u.level


@pytest.mark.parametrize("below_db, understood", [(20.0, 6), (15.0, 3), (10.0, 1)])
def test_answers_are_heard_with_others_talking_around_them(turn, room, below_db, understood) -> None:
    """8 answers with a room talking (answers among its words) `below_db` below them. Recipe 13's
    network never heard other talkers in training: at 20 dB it understands 6, at 15 dB 3, at 10 dB 1
    (the listener before it followed the foreground talker: 0 at 20 dB)."""
    interpret = Interpreter(load_vocabulary())
    rng = np.random.default_rng(int(below_db))
    words = ["no", "yes", "not really", "repeat"]
    heard = []
    for v in (Voice("espeak", "en-us"), Voice("espeak", "en-gb", "m3")):
        level = start_level(turn, v)
        for w, x in zip(words, synth_many(v, words)):
            turn_audio, heard_before = scene(x, room, below_db, lead=1.5, rng=rng)
            u = turn(turn_audio, room=heard_before, talker_db=level)
            heard.append((w, u.hypothesis.text, u.hypothesis.confidence,
                          interpret(u.hypothesis.text).intent == interpret(w).intent))
    # the room's answers never become the patient's: none is heard, or one is heard quieter than
    # the patient speaks and so in doubt (a safety question reads it back)
    taken = [(w, t, c) for w, t, c, ok in heard if not ok and interpret(t).intent in ("yes", "no")]
    assert all(c is not None and c < 0.6 for *_, c in taken), taken
    assert sum(ok for *_, ok in heard) >= understood, heard


def test_without_the_foreground_the_room_drowns_the_answer(turn, room) -> None:
    """The same scenes heard as the listener heard them before it followed the foreground talker
    (no background level, no restart, no knowledge of the room): almost nothing (issue 31)."""
    off = ListenConfig(background_db=200.0, louder_db=200.0)
    rng = np.random.default_rng(20)
    interpret = Interpreter(load_vocabulary())
    words = ["no", "yes", "not really", "repeat"]
    right = sum(interpret(turn(scene(x, room, 20.0, 1.5, rng)[0], off).hypothesis.text).intent == interpret(w).intent
                for w, x in zip(words, synth_many(Voice("espeak", "en-us"), words)))
    assert right <= 2


def answer_in_noise(snr: float, word: str = "no") -> tuple[np.ndarray, np.ndarray]:
    """An espeak answer at the patient's level over steady noise `snr` dB below it (1 s before and
    after), and 2 s of that room as the kiosk heard it before the turn."""
    x = at_level(synth_many(Voice("espeak", "en-us"), [word])[0])
    rng = np.random.default_rng(int(snr))
    noise_rms = 3000 * 10 ** (-snr / 20)
    audio = np.concatenate([rng.normal(0, noise_rms, RATE), x + rng.normal(0, noise_rms, len(x)),
                            rng.normal(0, noise_rms, RATE)])
    return audio, rng.normal(0, noise_rms, 2 * RATE)


@pytest.mark.parametrize("snr", [25.0, 10.0])
def test_a_turn_says_how_far_the_answer_stood_above_the_room(turn, snr) -> None:
    """`Utterance.above_floor`: the foreground talker's level over the room's noise floor, here
    steady noise `snr` dB below the answer's speech."""
    audio, before = answer_in_noise(snr)
    u = turn(audio, room=before)
    assert u.heard and u.above_floor is not None
    assert snr - 3.0 <= u.above_floor <= snr + 5.0, u.above_floor
    assert turn(before, room=before).above_floor is None          # the room alone: nothing heard


def test_an_answer_near_the_rooms_noise_is_read_back(turn) -> None:
    """Less than `read_back_below_db` (15 dB) above the room, an answer comes out doubtful, so a
    safety question reads it back: that is where yes<->no swaps come at full confidence
    (docs/model-findings.md, finding 58). Well above it, or with the rule off, it is taken."""
    interpret = Interpreter(load_vocabulary())
    loud, before = answer_in_noise(10.0)
    near = turn(loud, room=before)
    assert interpret(near.hypothesis.text).intent == "no"
    assert near.hypothesis.confidence <= 0.3 < 0.6
    off = turn(loud, ListenConfig(read_back_below_db=0.0), room=before)
    assert off.hypothesis.text == near.hypothesis.text and off.hypothesis.confidence >= 0.6
    quiet, before = answer_in_noise(25.0)
    clear = turn(quiet, room=before)
    assert interpret(clear.hypothesis.text).intent == "no" and clear.hypothesis.confidence >= 0.6
