"""Speech synthesisers used as training and test speakers: espeak-ng, festival and flite.

Every function returns float32 mono audio at 16 kHz on the int16 scale (what libvosk is fed).
Festival runs once per batch of texts (its start-up costs more than a short utterance).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

RATE = 16000

ESPEAK_VOICES_TRAIN = ["en-us", "en", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-gb-scotland"]
ESPEAK_VOICES_HELDOUT = ["en-029", "en-gb-x-rp"]
ESPEAK_VARIANTS_TRAIN = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "klatt",
                         "klatt2", "klatt3", "Andy", "Annie", "Alex", "Denis", "grandma", "Michael", "linda",
                         "steph", "Tweaky", "edward", "Gene", "Lee", "paul", "robert", "zac", "iven", "travis",
                         "victor", "adam", "belinda", "benjamin", "caleb", "john", "max", "norbert", "quincy",
                         "shelby"]
ESPEAK_VARIANTS_HELDOUT = ["", "f5", "klatt4", "m8", "Jacky", "anika", "david", "aunty", "rob"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FLITE_VOICES = ["kal16", "awb", "rms", "slt"]


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker setting. `rate` is a relative speaking rate (1.0 = the voice's default)."""

    engine: str          # espeak | festival | flite
    name: str
    variant: str = ""
    rate: float = 1.0
    pitch: int = 50      # espeak 0..99

    @property
    def label(self) -> str:
        v = f"+{self.variant}" if self.variant else ""
        return f"{self.engine}:{self.name}{v}"


class SynthesisError(RuntimeError):
    pass


def available_engines() -> list[str]:
    return [e for e, exe in (("espeak", "espeak-ng"), ("festival", "festival"), ("flite", "flite"))
            if shutil.which(exe)]


def festival_voices() -> list[str]:
    roots = [Path("/usr/share/festival/voices")]
    have = {p.name for r in roots if r.exists() for p in r.glob("*/*")}
    return [v for v in FESTIVAL_VOICES if v in have]


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        rate, n, width, ch = w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(n)
    if width != 2:
        raise SynthesisError(f"{path}: expected 16-bit WAV, got {8 * width}-bit")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return to_16k(x, rate)


def to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x.astype(np.float32)
    from math import gcd
    g = gcd(rate, RATE)
    return resample_poly(x, RATE // g, rate // g).astype(np.float32)


def synth_many(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """Synthesise each text with one voice; raises SynthesisError naming the engine on failure."""
    with tempfile.TemporaryDirectory(prefix="mc-tts-") as tmp:
        d = Path(tmp)
        paths = [d / f"{i}.wav" for i in range(len(texts))]
        if voice.engine == "espeak":
            v = voice.name + (f"+{voice.variant}" if voice.variant else "")
            wpm = str(int(round(165 * voice.rate)))
            for t, p in zip(texts, paths):
                _run(["espeak-ng", "-v", v, "-s", wpm, "-p", str(voice.pitch), "-w", str(p), t], voice)
        elif voice.engine == "flite":
            for t, p in zip(texts, paths):
                _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / voice.rate:.3f}",
                      "-t", t, "-o", str(p)], voice)
        elif voice.engine == "festival":
            lines = [f"(voice_{voice.name})",
                     f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})"]
            for t, p in zip(texts, paths):
                safe = t.replace("\\", " ").replace('"', " ")
                lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{safe}")) "{p}" \'riff)')
            r = subprocess.run(["festival", "--pipe"], input="\n".join(lines) + "\n", capture_output=True,
                               text=True, timeout=60 + 10 * len(texts), check=False)
            if r.returncode != 0:
                raise SynthesisError(f"festival ({voice.name}) failed: {r.stderr.strip()[:200]}")
        else:
            raise SynthesisError(f"unknown engine {voice.engine!r}")
        out = []
        for t, p in zip(texts, paths):
            if not p.exists():
                raise SynthesisError(f"{voice.label} wrote no audio for {t!r}")
            out.append(_read_wav(p))
        return out


def _run(cmd: list[str], voice: Voice) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise SynthesisError(f"{voice.label}: {' '.join(cmd[:3])} failed: {r.stderr.strip()[:200]}")
