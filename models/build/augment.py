"""Make clean synthetic speech sound like a waiting room: level, speed, reverberation, microphone/
telephone colouring, noise at a chosen SNR, and never pure digital silence.

Everything is driven by a numpy Generator so the same seed gives the same audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

RATE = 16000


@dataclass(frozen=True)
class AugmentConfig:
    snr_db: tuple[float, ...] = (40, 30, 20, 15, 10, 5, 0)
    clean_prob: float = 0.15
    speed: tuple[float, float] = (0.88, 1.12)
    reverb_prob: float = 0.4
    colour_prob: float = 0.5
    pad_s: tuple[float, float] = (0.15, 0.7)


def colored_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """white / pink / brown / hum / babble-like (modulated speech-band) noise, unit RMS."""
    if kind == "hum":
        t = np.arange(n) / RATE
        f0 = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) for k in (1, 2, 3, 5))
        x = x + 0.3 * rng.standard_normal(n)
    else:
        w = rng.standard_normal(n)
        if kind == "white":
            x = w
        else:
            spec = np.fft.rfft(w)
            f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
            if kind == "pink":
                spec /= np.sqrt(f)
            elif kind == "brown":
                spec /= f
            elif kind == "babble":
                spec *= np.exp(-0.5 * ((np.log(f) - np.log(500)) / 0.8) ** 2)
            x = np.fft.irfft(spec, n)
            if kind == "babble":
                env = np.abs(np.convolve(rng.standard_normal(n // 800 + 2), np.ones(3), "same"))
                x *= np.interp(np.arange(n), np.linspace(0, n, len(env)), env)
    x = np.asarray(x, dtype=np.float64)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-9)).astype(np.float32)


def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation (tempo and pitch together) by resampling."""
    up = 100
    down = int(round(100 * factor))
    if down == up:
        return x
    return resample_poly(x, up, down).astype(np.float32)


def reverb(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.7)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / rng.uniform(0.3, 1.5)   # direct path; smaller = farther speaker
    rir /= np.sqrt(np.sum(rir ** 2))
    y = fftconvolve(x, rir)[: len(x)]
    return (y * (np.std(x) / (np.std(y) + 1e-9))).astype(np.float32)


def colour(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Telephone band, cheap small microphone (high-pass + presence peak), or a random spectral tilt."""
    kind = rng.choice(["phone", "smallmic", "tilt", "lowpass"])
    if kind == "phone":
        sos = butter(4, [rng.uniform(250, 400), rng.uniform(3000, 3600)], btype="band", fs=RATE, output="sos")
        y = sosfilt(sos, x)
    elif kind == "smallmic":
        sos = butter(2, rng.uniform(150, 400), btype="high", fs=RATE, output="sos")
        y = sosfilt(sos, x)
        sos2 = butter(2, [2000, 5000], btype="band", fs=RATE, output="sos")
        y = y + rng.uniform(0.2, 0.8) * sosfilt(sos2, y)
    elif kind == "lowpass":
        sos = butter(4, rng.uniform(2500, 5500), btype="low", fs=RATE, output="sos")
        y = sosfilt(sos, x)
    else:
        a = rng.uniform(-0.9, 0.9)
        y = lfilter([1.0, -a], [1.0], x)
    y = np.asarray(y, dtype=np.float64)
    return (y * (np.std(x) / (np.std(y) + 1e-9))).astype(np.float32)


def add_noise(rng: np.random.Generator, x: np.ndarray, snr_db: float, kind: str | None = None) -> np.ndarray:
    kind = kind or str(rng.choice(["white", "pink", "brown", "babble", "hum"]))
    n = colored_noise(rng, len(x), kind)
    speech = x[np.abs(x) > 0.05 * np.abs(x).max()] if np.any(x) else x
    p = np.mean(speech.astype(np.float64) ** 2) if len(speech) else 1.0
    return (x + n * np.sqrt(p / 10 ** (snr_db / 10))).astype(np.float32)


def pad(rng: np.random.Generator, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    a = np.zeros(int(rng.uniform(lo, hi) * RATE), np.float32)
    b = np.zeros(int(rng.uniform(lo, hi) * RATE), np.float32)
    return np.concatenate([a, x, b])


def set_level(x: np.ndarray, peak: float) -> np.ndarray:
    m = np.abs(x).max()
    return (x * (peak / m)).astype(np.float32) if m > 0 else x


def speech_bounds(x: np.ndarray, floor_db: float = 35.0, sr: int = RATE) -> tuple[int, int]:
    """First and last sample of the 10 ms windows within floor_db of the loudest one."""
    w = sr // 100
    n = len(x) // w
    if n == 0:
        return 0, len(x)
    e = 10 * np.log10(np.mean(x[: n * w].reshape(n, w).astype(np.float64) ** 2, axis=1) + 1e-3)
    idx = np.nonzero(e > e.max() - floor_db)[0]
    return int(idx[0] * w), int((idx[-1] + 1) * w)


def augment(rng: np.random.Generator, x: np.ndarray,
            cfg: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, tuple[int, int]]:
    """One random room/microphone/noise condition applied to clean 16 kHz speech (int16 scale).

    Returns the audio and the (start, end) samples of the speech in it (from the clean signal's
    energy), which seed the first alignment.
    """
    factor = rng.uniform(*cfg.speed)
    x = speed_perturb(x, factor)
    b0, b1 = speech_bounds(x)
    lead = int(rng.uniform(*cfg.pad_s) * RATE)
    tail = int(rng.uniform(*cfg.pad_s) * RATE)
    x = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(tail, np.float32)])
    if rng.random() < cfg.reverb_prob:
        x = reverb(rng, x)
    if rng.random() < cfg.colour_prob:
        x = colour(rng, x)
    x = set_level(x, 10 ** rng.uniform(np.log10(800), np.log10(30000)))
    if rng.random() >= cfg.clean_prob:
        x = add_noise(rng, x, float(rng.choice(cfg.snr_db)))
    x = x + rng.normal(0, rng.uniform(1.0, 8.0), len(x)).astype(np.float32)   # never digital silence
    return np.clip(x, -32768, 32767).astype(np.float32), (lead + b0, lead + b1)


def eval_condition(rng: np.random.Generator, x: np.ndarray, snr_db: float | None) -> np.ndarray:
    """Evaluation audio: padding, fixed level, optional white/pink/babble noise at snr_db, dither."""
    x = pad(rng, x, 0.3, 0.5)
    x = set_level(x, 12000.0)
    if snr_db is not None:
        x = add_noise(rng, x, snr_db, str(rng.choice(["white", "pink", "babble"])))
    x = x + rng.normal(0, 3.0, len(x)).astype(np.float32)
    return np.clip(x, -32768, 32767).astype(np.float32)
