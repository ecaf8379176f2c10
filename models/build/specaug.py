"""Perturb the spectrum of stored training features, fresh for every batch.

The waveform augmentation (augment.py) is applied once, when the audio is made; this runs on the
MFCCs each time an utterance is used, so every epoch sees new speakers and microphones:

- vocal-tract length warp: the log-mel spectrum is stretched or squeezed along frequency by a factor
  drawn from `warp` (a shorter vocal tract moves every formant up by the same ratio). Synthetic voices
  come from a few vocal tracts; people come in every size.
- microphone/room colouring: a smooth random curve (a few cosines over the mel bins) is added to the
  log energies, i.e. a random equaliser of up to a few dB.
- frequency masks (SpecAugment): a few bins are flattened to the utterance's mean, so no word can be
  recognised from one narrow band only.
- noise added to the mel energies (white, pink, brown or noise shaped like the utterance's own
  long-term spectrum, i.e. babble), at a fresh SNR, with the frame-to-frame scatter a noise
  periodogram has; the waveform copies only ever carry two noise draws per text.
- band limiting: a telephone line or a cheap microphone removes everything below a few hundred Hz
  and above 3.2-4.2 kHz (8 kHz recordings played back at 16 kHz look like this).

Labels do not move (no change along time), so the alignment stays valid.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.build.features import MEL_TO_MFCC, MFCC_TO_MEL, hz_to_mel, mel_centres_hz, mel_to_hz


@dataclass(frozen=True)
class SpecAugConfig:
    prob: float = 0.8                          # share of utterances perturbed (the rest stay as made)
    warp: tuple[float, float] = (0.86, 1.16)
    eq_db: float = 4.0                         # std of the equaliser curve's cosine amplitudes, dB
    eq_terms: int = 4
    freq_masks: int = 2
    max_mask_bins: int = 4
    # off by default: a build with noise_prob 0.5 and band_prob 0.15 measured no better on held-out
    # voices (76.4% vs 76.9% clean, 46.7% vs 46.2% at 10 dB) and worse on human clips (14% vs 25%)
    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (0.0, 25.0)
    band_prob: float = 0.0


_CENTRES = mel_centres_hz()
_CENTRES_MEL = hz_to_mel(_CENTRES)
_STEP = np.diff(_CENTRES_MEL).mean()
# each triangular filter spans the neighbouring centres: its width in Hz and in 31.25 Hz FFT bins
_WIDTH_HZ = mel_to_hz(_CENTRES_MEL + _STEP) - mel_to_hz(_CENTRES_MEL - _STEP)
_FFT_BINS = np.maximum(_WIDTH_HZ / 31.25 / 2.0, 1.0)       # effective bins under a triangle


def warp_matrix(alpha: float) -> np.ndarray:
    """(bins, bins) linear-interpolation matrix: warped = log_mel @ W samples the spectrum at f / alpha."""
    n = len(_CENTRES)
    src = np.interp(hz_to_mel(_CENTRES / alpha), _CENTRES_MEL, np.arange(n, dtype=np.float64))
    lo = np.clip(np.floor(src).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    w = src - lo
    m = np.zeros((n, n))
    m[lo, np.arange(n)] += 1.0 - w
    m[hi, np.arange(n)] += w
    return m


def perturb(rng: np.random.Generator, mfcc: np.ndarray, cfg: SpecAugConfig = SpecAugConfig()) -> np.ndarray:
    """One random perturbation of an utterance's MFCCs (frames, 40); returns new float32 MFCCs."""
    if rng.random() >= cfg.prob:
        return mfcc.astype(np.float32)
    n = MFCC_TO_MEL.shape[0]
    logmel = mfcc.astype(np.float64) @ MFCC_TO_MEL
    logmel = logmel @ warp_matrix(float(np.exp(rng.uniform(np.log(cfg.warp[0]), np.log(cfg.warp[1])))))
    pos = np.arange(n) / (n - 1)
    amps = rng.normal(0.0, cfg.eq_db, cfg.eq_terms) * np.log(10.0) / 10.0     # dB -> natural log of power
    logmel = logmel + sum(a * np.cos(np.pi * (k + 1) * pos) for k, a in enumerate(amps))
    if cfg.noise_prob > 0 and rng.random() < cfg.noise_prob:       # no draw when off: same stream as before
        logmel = add_noise(rng, logmel, float(rng.uniform(*cfg.snr_db)))
    if cfg.band_prob > 0 and rng.random() < cfg.band_prob:
        low, high = rng.uniform(150.0, 400.0), rng.uniform(3200.0, 4200.0)
        stop = (_CENTRES < low) | (_CENTRES > high)
        logmel[:, stop] += np.log(10 ** (-rng.uniform(3.0, 5.0)))
    for _ in range(int(rng.integers(0, cfg.freq_masks + 1))):
        width = int(rng.integers(1, cfg.max_mask_bins + 1))
        start = int(rng.integers(0, n - width + 1))
        logmel[:, start:start + width] = logmel[:, start:start + width].mean(axis=0, keepdims=True)
    return (logmel @ MEL_TO_MFCC).astype(np.float32)


def add_noise(rng: np.random.Generator, logmel: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix noise into log-mel energies at `snr_db` (speech power = mean of the loudest tenth of the
    frames, which matches augment.add_noise's waveform SNR to about 0.5 dB on short answers).

    Powers add (the cross term averages out over a filter's FFT bins); each noise frame is scattered
    like a periodogram averaged over that filter's bins (gamma with shape = number of bins)."""
    energy = np.exp(np.clip(logmel, -50.0, 50.0))
    kind = rng.choice(["white", "pink", "brown", "babble"])
    if kind == "babble":
        shape = energy.mean(axis=0)
    else:
        tilt = {"white": 0.0, "pink": 1.0, "brown": 2.0}[str(kind)]
        shape = _WIDTH_HZ / _CENTRES ** tilt
    shape = shape / shape.sum()
    frame_power = energy.sum(axis=1)
    speech = np.sort(frame_power)[int(len(frame_power) * 0.9):].mean()
    noise = shape[None, :] * rng.gamma(_FFT_BINS, 1.0 / _FFT_BINS, size=energy.shape)
    return np.log(energy + noise * speech / 10 ** (snr_db / 10.0))
