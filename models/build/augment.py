"""Make clean synthetic speech sound like a waiting room: level, speed, tempo and pitch, reverberation
and a far microphone, microphone/telephone colouring, noise or music at a chosen SNR, other people
talking (a bank of competing speech), and never pure digital silence.

Everything is driven by a numpy Generator so the same seed gives the same audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

RATE = 16000


NOISE_KINDS = ("white", "pink", "brown", "babble", "hum")


@dataclass(frozen=True)
class AugmentConfig:
    """One training copy's room. The defaults are recipes 1-13's; every option added since is off
    by default and draws no random numbers when off, so those recipes' audio is unchanged."""

    snr_db: tuple[float, ...] = (40, 30, 20, 15, 10, 5, 0)
    clean_prob: float = 0.15
    speed: tuple[float, float] = (0.88, 1.12)
    reverb_prob: float = 0.4
    colour_prob: float = 0.5
    pad_s: tuple[float, float] = (0.15, 0.7)
    rt60: tuple[float, float] = (0.15, 0.7)          # reverberation time drawn for a reverberant copy
    direct: tuple[float, float] = (0.3, 1.5)         # direct path 1/U(direct): larger = farther microphone
    noise_kinds: tuple[str, ...] = NOISE_KINDS       # "music" adds TV-like tones
    tempo_prob: float = 0.0                          # share of copies re-timed without a pitch change
    tempo: tuple[float, float] = (0.7, 1.3)          # tempo factor (> 1 faster)
    pitch_prob: float = 0.0                          # share of copies moved in pitch without a tempo change
    pitch_semitones: float = 4.0                     # up to this many semitones up or down
    competing_prob: float = 0.0                      # share of copies with other people talking
    competing_snr: tuple[float, float] = (0.0, 20.0)  # the answer this many dB above them
    competing_talkers: tuple[int, int] = (1, 3)
    competing_pad_s: tuple[float, float] = (0.3, 1.5)  # lead/tail around the answer when others talk


def music(rng: np.random.Generator, n: int) -> np.ndarray:
    """TV-like music: a run of notes and chords (decaying harmonic tones) at a random tempo."""
    x = np.zeros(n)
    step = int(rng.uniform(0.12, 0.5) * RATE)
    t = np.arange(step * 3) / RATE
    for start in range(0, n, step):
        seg = np.zeros(len(t))
        for _ in range(int(rng.integers(1, 4))):                     # a note or a chord
            f0 = 110.0 * 2 ** (int(rng.integers(0, 36)) / 12)
            seg += sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k ** rng.uniform(1.0, 2.0)
                       for k in range(1, 6) if f0 * k < RATE / 2)
        seg *= np.exp(-t / rng.uniform(0.1, 0.8)) * rng.uniform(0.3, 1.0)
        end = min(n, start + len(seg))
        x[start:end] += seg[: end - start]
    return x


def colored_noise(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    """white / pink / brown / hum / babble-like (modulated speech-band) noise / music, unit RMS."""
    if kind == "music":
        x = music(rng, n)
    elif kind == "hum":
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


def tempo_stretch(x: np.ndarray, factor: float, frame: int = 400, tolerance: int = 160) -> np.ndarray:
    """Speech `factor` times as fast (0.7 = slower) at the same pitch: WSOLA. Each 25 ms frame is
    taken from near its nominal place where it best continues the previous one (within
    `tolerance` samples), then overlap-added with a Hann window, so voicing stays periodic."""
    if abs(factor - 1.0) < 1e-3 or len(x) < 2 * frame:
        return np.asarray(x, np.float32)
    hop = frame // 2
    n_out = int(len(x) / factor)
    xp = np.concatenate([np.zeros(tolerance), np.asarray(x, np.float64), np.zeros(frame + 2 * tolerance + hop)])
    win = np.hanning(frame)
    out = np.zeros(n_out + frame)
    norm = np.zeros(n_out + frame)
    last = len(x) - 1
    prev = 0                                   # where the previous frame was taken from (in x)
    for k, t_out in enumerate(range(0, n_out, hop)):
        nominal = min(int(k * hop * factor), last)
        if k == 0:
            pos = 0
        else:
            follow = xp[prev + hop + tolerance: prev + hop + tolerance + frame]   # natural continuation
            lo = max(0, nominal - tolerance)
            region = xp[lo + tolerance: nominal + 2 * tolerance + frame]
            corr = np.correlate(region, follow, "valid")
            pos = min(lo + int(np.argmax(corr)), last)
        seg = xp[pos + tolerance: pos + tolerance + frame]
        out[t_out:t_out + frame] += seg * win
        norm[t_out:t_out + frame] += win
        prev = pos
    y = out[:n_out] / np.maximum(norm[:n_out], 1e-3)
    return y.astype(np.float32)


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """The same speech at the same tempo, `semitones` higher (negative: lower): stretched in time
    by the pitch ratio, then resampled back to its length (which moves the pitch)."""
    ratio = 2 ** (semitones / 12)
    if abs(ratio - 1.0) < 1e-3:
        return np.asarray(x, np.float32)
    return speed_perturb(tempo_stretch(x, 1 / ratio), round(ratio, 2))


def competing_speech(rng: np.random.Generator, n: int, bank: list[np.ndarray], talkers: int,
                     far: tuple[float, float] = (1.0, 3.0)) -> np.ndarray:
    """`talkers` people from `bank` talking somewhere in a room, unit RMS over the samples where any
    of them is heard: each clip reverberant and far (a weak direct path), at its own level (within
    6 dB), starting anywhere from before the window to inside it, so others may talk before, during
    or after the answer; a clip shorter than the window may repeat (a TV goes on talking)."""
    mix = np.zeros(n)
    for _ in range(talkers):
        c = bank[int(rng.integers(len(bank)))].astype(np.float64)
        c = reverb(rng, c, (0.3, 1.0), far).astype(np.float64)
        c /= np.sqrt(np.mean(c ** 2)) + 1e-9
        c *= 10 ** (rng.uniform(-6, 0) / 20)
        start = int(rng.integers(-len(c) + 1, n))
        while start < n:
            a, b = max(0, start), min(n, start + len(c))
            mix[a:b] += c[a - start:b - start]
            if rng.random() < 0.5:
                break
            start += len(c) + int(rng.uniform(0.1, 1.0) * RATE)
    heard = np.abs(mix) > 1e-6
    if not heard.any():
        return mix.astype(np.float32)
    return (mix / (np.sqrt(np.mean(mix[heard] ** 2)) + 1e-9)).astype(np.float32)


def speech_power(x: np.ndarray) -> float:
    """Mean power of the samples louder than 5% of the peak: the speech, not its pauses."""
    speech = x[np.abs(x) > 0.05 * np.abs(x).max()] if np.any(x) else x
    return float(np.mean(speech.astype(np.float64) ** 2)) if len(speech) else 1.0


def reverb(rng: np.random.Generator, x: np.ndarray, rt60_range: tuple[float, float] = (0.15, 0.7),
           direct: tuple[float, float] = (0.3, 1.5)) -> np.ndarray:
    """A random exponentially decaying room response; a weak direct path is a far talker or microphone."""
    rt60 = rng.uniform(*rt60_range)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / rng.uniform(*direct)   # direct path; smaller = farther speaker
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


def add_noise(rng: np.random.Generator, x: np.ndarray, snr_db: float, kind: str | None = None,
              kinds: tuple[str, ...] = NOISE_KINDS) -> np.ndarray:
    kind = kind or str(rng.choice(list(kinds)))
    n = colored_noise(rng, len(x), kind)
    return (x + n * np.sqrt(speech_power(x) / 10 ** (snr_db / 10))).astype(np.float32)


def add_competing(rng: np.random.Generator, x: np.ndarray, bank: list[np.ndarray], snr_db: float,
                  talkers: int) -> np.ndarray:
    """Other people talking around the answer, `snr_db` below its speech (competing_speech)."""
    others = competing_speech(rng, len(x), bank, talkers)
    return (x + others * np.sqrt(speech_power(x) / 10 ** (snr_db / 10))).astype(np.float32)


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


def augment(rng: np.random.Generator, x: np.ndarray, cfg: AugmentConfig = AugmentConfig(),
            competing: list[np.ndarray] | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """One random room/microphone/noise condition applied to clean 16 kHz speech (int16 scale).
    `competing`, a bank of other people's speech, is needed when `cfg.competing_prob` > 0.

    Returns the audio and the (start, end) samples of the speech in it (from the clean signal's
    energy), which seed the first alignment.
    """
    if cfg.tempo_prob > 0 and rng.random() < cfg.tempo_prob:
        x = tempo_stretch(x, rng.uniform(*cfg.tempo))
    if cfg.pitch_prob > 0 and rng.random() < cfg.pitch_prob:
        x = pitch_shift(x, rng.uniform(-cfg.pitch_semitones, cfg.pitch_semitones))
    others = cfg.competing_prob > 0 and rng.random() < cfg.competing_prob
    if others and not competing:
        raise ValueError("AugmentConfig.competing_prob > 0 needs a bank of competing speech")
    factor = rng.uniform(*cfg.speed)
    x = speed_perturb(x, factor)
    b0, b1 = speech_bounds(x)
    pad_s = cfg.competing_pad_s if others else cfg.pad_s
    lead = int(rng.uniform(*pad_s) * RATE)
    tail = int(rng.uniform(*pad_s) * RATE)
    x = np.concatenate([np.zeros(lead, np.float32), x, np.zeros(tail, np.float32)])
    if rng.random() < cfg.reverb_prob:
        x = reverb(rng, x, cfg.rt60, cfg.direct)
    if others:
        x = add_competing(rng, x, competing, rng.uniform(*cfg.competing_snr),
                          int(rng.integers(cfg.competing_talkers[0], cfg.competing_talkers[1] + 1)))
    if rng.random() < cfg.colour_prob:
        x = colour(rng, x)
    x = set_level(x, 10 ** rng.uniform(np.log10(800), np.log10(30000)))
    if rng.random() >= cfg.clean_prob:
        x = add_noise(rng, x, float(rng.choice(cfg.snr_db)), kinds=cfg.noise_kinds)
    x = x + rng.normal(0, rng.uniform(1.0, 8.0), len(x)).astype(np.float32)   # never digital silence
    return np.clip(x, -32768, 32767).astype(np.float32), (lead + b0, lead + b1)


def eval_condition(rng: np.random.Generator, x: np.ndarray, snr_db: float | None,
                   competing: list[np.ndarray] | None = None, talkers: int = 2) -> np.ndarray:
    """Evaluation audio: padding, fixed level, optional white/pink/babble noise at snr_db, dither.
    With `competing` (a bank of other people's speech), `talkers` of them talk snr_db below the
    answer instead of the noise, with longer padding so that they are heard before and after it."""
    x = pad(rng, x, *((0.5, 1.0) if competing else (0.3, 0.5)))
    x = set_level(x, 12000.0)
    if snr_db is not None:
        if competing:
            x = add_competing(rng, x, competing, snr_db, talkers)
        else:
            x = add_noise(rng, x, snr_db, str(rng.choice(["white", "pink", "babble"])))
    x = x + rng.normal(0, 3.0, len(x)).astype(np.float32)
    return np.clip(x, -32768, 32767).astype(np.float32)
