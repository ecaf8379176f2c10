"""Feature-side pieces of the model recipe: libvosk's online CMN, the MFCC <-> log-mel map and the
spectral perturbation used in training. (No kaldifst here: it must never be imported before vosk.)"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from models.build import kaldi_format as kf
from models.build.features import (CMN_WINDOW, GLOBAL_FRAMES, MEL_TO_MFCC, MFCC_TO_MEL, mel_centres_hz, mfcc,
                                   online_cmn)
from models.build.specaug import SpecAugConfig, perturb, warp_matrix


def reference_cmn(feats: np.ndarray, global_mean: np.ndarray) -> np.ndarray:
    """Kaldi's OnlineCmvn::GetFrame written frame by frame, as plainly as possible."""
    out = np.empty(feats.shape)
    for t in range(len(feats)):
        own = feats[max(0, t - CMN_WINDOW + 1): t + 1].astype(np.float64)
        borrowed = min(CMN_WINDOW - len(own), GLOBAL_FRAMES)
        out[t] = feats[t] - (own.sum(axis=0) + borrowed * global_mean) / (len(own) + borrowed)
    return out


@pytest.mark.parametrize("frames", [1, 150, 450, 900])
def test_online_cmn_matches_kaldis_sliding_window_with_global_prior(frames: int) -> None:
    rng = np.random.default_rng(frames)
    feats = (rng.standard_normal((frames, 40)) * 5 + 20).astype(np.float32)
    global_mean = rng.standard_normal(40) * 3
    assert np.allclose(online_cmn(feats, global_mean), reference_cmn(feats, global_mean), atol=1e-4)


def test_online_cmn_removes_a_constant_channel_offset_once_the_window_is_full() -> None:
    rng = np.random.default_rng(3)
    feats = rng.standard_normal((1200, 40)).astype(np.float32)
    shifted = feats + 7.0                       # a different microphone = a constant cepstral offset
    a, b = online_cmn(feats, np.zeros(40)), online_cmn(shifted, np.zeros(40))
    assert np.abs(a[CMN_WINDOW:] - b[CMN_WINDOW:]).max() < 1e-4
    assert np.abs(a[0] - b[0]).min() > 1.0      # early frames still lean on the global mean


def test_global_cmvn_stats_is_a_kaldi_binary_double_matrix() -> None:
    mean = np.arange(40, dtype=np.float64)
    blob = kf.global_cmvn_stats(mean, count=1000.0)
    assert blob[:2] == b"\0B" and blob[2:5] == b"DM "
    size_r, rows, size_c, cols = struct.unpack("<bibi", blob[5:15])
    assert (size_r, rows, size_c, cols) == (4, 2, 4, 41)
    stats = np.frombuffer(blob[15:], dtype="<f8").reshape(2, 41)
    assert stats[0, 40] == 1000.0
    assert np.allclose(stats[0, :40] / stats[0, 40], mean)
    assert len(blob) == 15 + 2 * 41 * 8


def test_mel_and_mfcc_convert_exactly_both_ways() -> None:
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(8000) * 2000).astype(np.float32)
    c = mfcc(audio)
    assert np.allclose((c @ MFCC_TO_MEL) @ MEL_TO_MFCC, c, atol=1e-3)
    centres = mel_centres_hz()
    assert len(centres) == 40 and 20 < centres[0] < centres[-1] < 7600


def test_warp_moves_spectral_peaks_by_the_warp_factor() -> None:
    assert np.allclose(warp_matrix(1.0), np.eye(40))
    centres = mel_centres_hz()
    spectrum = np.exp(-0.5 * ((centres - 1000.0) / 80.0) ** 2)[None, :]     # one formant at 1 kHz
    up = spectrum @ warp_matrix(1.15)
    down = spectrum @ warp_matrix(0.87)
    assert centres[np.argmax(up)] > 1080 and centres[np.argmax(down)] < 920


def test_perturb_is_deterministic_per_seed_and_keeps_the_shape() -> None:
    feats = mfcc((np.random.default_rng(1).standard_normal(16000) * 3000).astype(np.float32))
    a = perturb(np.random.default_rng(5), feats, SpecAugConfig(prob=1.0))
    b = perturb(np.random.default_rng(5), feats, SpecAugConfig(prob=1.0))
    c = perturb(np.random.default_rng(6), feats, SpecAugConfig(prob=1.0))
    assert a.shape == feats.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.array_equal(perturb(np.random.default_rng(5), feats, SpecAugConfig(prob=0.0)), feats)


def test_mel_domain_noise_grows_as_the_snr_falls() -> None:
    from models.build.specaug import add_noise
    logmel = mfcc((np.random.default_rng(2).standard_normal(16000) * 3000).astype(np.float32)) @ MFCC_TO_MEL
    levels = [add_noise(np.random.default_rng(4), logmel, snr).mean() for snr in (30.0, 10.0, 0.0)]
    assert logmel.mean() < levels[0] < levels[1] < levels[2]
