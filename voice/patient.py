"""A synthetic patient: spoken answers made with espeak-ng, for the demo, the tests and the benchmark.

The audio is real speech samples (with a little noise: pure digital silence fools
decoders) that go through the same recognizer and dialog as a microphone would.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .audio import BLOCK_SECONDS, SAMPLE_RATE, Clip, write_wav
from .sources import SourceStats
from .speaker import EspeakSynth

PATIENT_VOICE = "en-gb"  # not the prompt voice (en-us): the skill and the patient sound different


def speech_end(samples: np.ndarray, rate: int = SAMPLE_RATE, threshold: float = 0.02) -> float:
    """Seconds to the last sample louder than `threshold` x peak: where clean speech ends."""
    x = np.abs(samples.astype(np.float64))
    loud = np.nonzero(x > threshold * (x.max() or 1.0))[0]
    return float(loud[-1] + 1) / rate if len(loud) else 0.0


PAUSE_MARK = "..."  # "no ... not really": the parts are said with a pause between them


def speech_start(samples: np.ndarray, threshold: float = 0.02) -> int:
    """Index of the first sample louder than `threshold` x peak."""
    x = np.abs(samples.astype(np.float64))
    loud = np.nonzero(x > threshold * (x.max() or 1.0))[0]
    return int(loud[0]) if len(loud) else 0


def spoken(synth: EspeakSynth, text: str, rate: float = 1.0, pause: float = 0.8) -> np.ndarray:
    """`text` at 16 kHz, at `rate` x the synthesiser's speed. Parts separated by "..." are said with
    `pause` seconds of silence between the end of one and the start of the next (the synthesiser's
    own leading and trailing silence trimmed), as someone who stops to think inside an answer."""
    parts = [t.strip() for t in text.split(PAUSE_MARK) if t.strip()]
    if len(parts) <= 1:
        return synth.synth(text, rate).to_rate(SAMPLE_RATE).samples.astype(np.float64)
    out: list[np.ndarray] = []
    for i, part in enumerate(parts):
        x = synth.synth(part, rate).to_rate(SAMPLE_RATE).samples.astype(np.float64)
        first, last = speech_start(x), int(round(speech_end(x) * SAMPLE_RATE))
        x = x[first if i else 0:last if i < len(parts) - 1 else len(x)]
        out += [x, np.zeros(int(round(pause * SAMPLE_RATE)))] if i < len(parts) - 1 else [x]
    return np.concatenate(out)


def patient_clip(synth: EspeakSynth, text: str, snr_db: float = 30.0, seed: int = 0,
                 lead_in: float = 0.3, tail: float = 0.8, rate: float = 1.0, pause: float = 0.8) -> Clip:
    """`text` spoken at 16 kHz with room noise around and under it ("..." marks a pause inside it)."""
    return _patient_clip(synth, text, snr_db, seed, lead_in, tail, rate, pause)[0]


def _patient_clip(synth: EspeakSynth, text: str, snr_db: float, seed: int, lead_in: float,
                  tail: float, rate: float = 1.0, pause: float = 0.8) -> tuple[Clip, float]:
    speech = spoken(synth, text, rate, pause)
    end = lead_in + speech_end(speech)
    voiced = speech[np.abs(speech) > 0.02 * (np.abs(speech).max() or 1)]
    rms = float(np.sqrt(np.mean(np.square(voiced)))) if len(voiced) else 1000.0
    sigma = max(2.0, rms / 10.0 ** (snr_db / 20.0))
    x = np.concatenate([np.zeros(int(lead_in * SAMPLE_RATE)), speech, np.zeros(int(tail * SAMPLE_RATE))])
    x += np.random.default_rng(seed).normal(0.0, sigma, len(x))
    return Clip(np.clip(np.round(x), -32768, 32767).astype(np.int16), SAMPLE_RATE), end


def conversation_clip(answers: Sequence[str], voice: str = PATIENT_VOICE, snr_db: float = 30.0, gap: float = 2.5,
                      seed: int = 0, rate: float = 1.0, pause: float = 0.8) -> Clip:
    """Answers separated by `gap` seconds of noise, as one recording. The gap stands for the
    question asked in between: on a file, speech sooner than 2 s after an answer is its rest
    (voice.listener), so answers closer together would be read as one."""
    synth = EspeakSynth(voice)
    parts = [patient_clip(synth, a, snr_db, seed + i, lead_in=0.3, tail=gap, rate=rate, pause=pause).samples
             for i, a in enumerate(answers)]
    return Clip(np.concatenate(parts) if parts else np.zeros(1600, np.int16), SAMPLE_RATE)


def conversation_wav(path: str | Path, answers: Sequence[str], voice: str = PATIENT_VOICE,
                     snr_db: float = 30.0, gap: float = 2.5, seed: int = 0, rate: float = 1.0,
                     pause: float = 0.8) -> Path:
    """`conversation_clip` as a WAV: input for `run --audio-in`."""
    return write_wav(path, conversation_clip(answers, voice, snr_db, gap, seed, rate, pause))


class ScriptedPatientSource:
    """An audio source that answers like a patient: whenever listening resumes it says its next line.

    `next_line()` is asked after every prompt (it can look at the dialog's current
    question) and may return several lines (said one after the other); None means the patient says nothing, and the source reports
    itself exhausted for that turn, which the loop treats as silence. `rate` slows the patient's
    speech down; "..." in a line is a pause of `pause` seconds. This patient waits for each
    question to end before answering, so what is left of a line when the next prompt starts is
    dropped, as a live microphone, deaf while the kiosk speaks, would lose it: `cut` counts those
    lines (the kiosk started talking while the patient still had more to say).
    """

    realtime = False
    continuous = False  # each line is said after the prompt has ended; the rest of the last one is lost

    def __init__(self, next_line: Callable[[], str | Sequence[str] | None], voice: str = PATIENT_VOICE,
                 snr_db: float = 30.0, synth: EspeakSynth | None = None,
                 on_say: Callable[[str], None] | None = None, endless_noise: bool = False,
                 rate: float = 1.0, pause: float = 0.8):
        self.synth = synth or EspeakSynth(voice)
        self.next_line = next_line
        self.snr_db = snr_db
        self.rate = rate
        self.pause_seconds = pause
        self.cut = 0
        self.on_say = on_say
        self.endless_noise = endless_noise  # after its line, room noise forever (a patient who walked away)
        self._noise = np.random.default_rng(7).normal(0, 30, int(BLOCK_SECONDS * SAMPLE_RATE)).astype("<i2").tobytes()
        self.sample_rate = SAMPLE_RATE
        self.stats = SourceStats()
        self._pcm = b""
        self._pos = 0
        self._block = int(BLOCK_SECONDS * SAMPLE_RATE) * 2
        self._listening = False
        self._count = 0
        self._cache: dict[str, tuple[Clip, float]] = {}
        self.last_line: str | None = None
        self.last_speech_end: float | None = None  # seconds from resume() to the end of the line's speech

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause(self) -> None:
        self._listening = False

    def resume(self) -> None:
        self._listening = True
        if self.last_speech_end is not None and self._pos / 2 / SAMPLE_RATE < self.last_speech_end - BLOCK_SECONDS:
            self.cut += 1
        said = self.next_line()
        lines = [said] if isinstance(said, str) else list(said or [])
        self._pos = 0
        self._pcm = b""
        self.last_line = " | ".join(lines) or None
        self.last_speech_end = None
        offset = 0.0
        for line in lines:
            cached = self._cache.get(line)
            if cached is None:
                cached = self._cache[line] = _patient_clip(self.synth, line, self.snr_db, len(self._cache),
                                                           0.3, 0.8, self.rate, self.pause_seconds)
            clip, end = cached
            self._pcm += clip.pcm()
            self.last_speech_end = offset + end
            offset += clip.seconds
            self._count += 1
            if self.on_say is not None:
                self.on_say(line)

    def read(self, timeout: float) -> bytes | None:
        if not self._listening:
            return None
        if self._pos >= len(self._pcm):
            return self._noise if self.endless_noise else None
        chunk = self._pcm[self._pos : self._pos + self._block]
        self._pos += len(chunk)
        self.stats.blocks += 1
        return chunk

    @property
    def exhausted(self) -> bool:
        return not self.endless_noise and self._pos >= len(self._pcm)
