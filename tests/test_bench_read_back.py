"""bench.read_back: how a read-back threshold (dB above the room) trades answers taken at once for
yes<->no swaps accepted. The tally on hand-made turns; the turns on real audio (espeak-ng answers
in steady noise, the committed model, the product's listener)."""
from __future__ import annotations

import numpy as np

from bench.read_back import Turn, hear_turns, tally
from models.answer_model import MODEL_DIR
from models.build.tts import Voice, synth_many


def test_a_threshold_moves_turns_near_the_room_from_taken_to_read_back() -> None:
    turns = [Turn("10dB", "yes", "yes", "yes", 0.95, 11.0),       # right, near the room
             Turn("clean", "no", "no", "no", 0.99, 60.0),         # right, far above it
             Turn("babble10dB", "yep", "yes", "no", 1.0, 13.0),   # a confident swap near the room
             Turn("far", "no", "no", "yes", 0.4, 40.0),           # a swap the confidence catches
             Turn("5dB", "no", "no", "not_understood", None, 8.0)]  # asked again: neither
    off = tally(turns, 0.0, 0.6)
    assert (off["taken_right"], off["read_back_right"], off["swaps_accepted"], off["swaps_read_back"]) == (2, 0, 1, 1)
    on = tally(turns, 15.0, 0.6)
    assert (on["taken_right"], on["read_back_right"], on["swaps_accepted"], on["swaps_read_back"]) == (1, 1, 0, 2)
    assert on["per_group"]["babble"]["swaps_read_back"] == 1 and on["per_group"]["noise"]["read_back_right"] == 1
    assert on["answers"] == 5


def test_turns_keep_how_far_each_answer_stood_above_the_room() -> None:
    x = synth_many(Voice("espeak", "en-us"), ["no"])[0].astype(np.float64)
    x *= 3000 / np.sqrt(np.mean(x[np.abs(x) > 0.05 * np.abs(x).max()] ** 2))
    rng = np.random.default_rng(4)
    items = []
    for snr in (30.0, 10.0):
        rms = 3000 * 10 ** (-snr / 20)
        audio = np.concatenate([rng.normal(0, rms, 16000), x + rng.normal(0, rms, len(x)), rng.normal(0, rms, 16000)])
        items.append((f"{snr:.0f}dB", "no", "no", audio))
    quiet, loud = hear_turns(MODEL_DIR, items)
    assert quiet.got == loud.got == "no"
    assert quiet.above_floor - loud.above_floor > 12.0
    assert quiet.taken(15.0, 0.6) and not loud.taken(15.0, 0.6)
    assert loud.taken(0.0, 0.6) == (loud.confidence >= 0.6)      # heard with the rule off: only confidence
