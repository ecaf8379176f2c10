"""MFCC features computed exactly as libvosk computes them from conf/mfcc.conf, and the online
cepstral mean normalisation libvosk applies to them when the model has am/global_cmvn.stats.

kaldi-native-fbank reproduces Kaldi's MFCC when fed int16-scale samples with the same options; the
options live in one place (MFCC_OPTIONS) so the training features and the written conf cannot drift.
With 40 mel bins and 40 cepstra the DCT is square, so MFCCs and log-mel energies convert exactly
both ways (`MEL_TO_MFCC`), which lets training perturb the spectrum of stored features.
"""
from __future__ import annotations

import numpy as np

MFCC_OPTIONS = {
    "sample-frequency": 16000,
    "use-energy": "false",
    "num-mel-bins": 40,
    "num-ceps": 40,
    "low-freq": 20,
    "high-freq": -400,
    "dither": 0.0,
    "snip-edges": "true",
}
NUM_CEPS = int(MFCC_OPTIONS["num-ceps"])


def mfcc_conf_text() -> str:
    return "".join(f"--{k}={v}\n" for k, v in MFCC_OPTIONS.items())


_opts = None


def _options():
    global _opts
    if _opts is None:
        import kaldi_native_fbank as knf
        o = knf.MfccOptions()
        o.frame_opts.samp_freq = float(MFCC_OPTIONS["sample-frequency"])
        o.frame_opts.dither = 0.0
        o.frame_opts.snip_edges = True
        o.mel_opts.num_bins = int(MFCC_OPTIONS["num-mel-bins"])
        o.mel_opts.low_freq = float(MFCC_OPTIONS["low-freq"])
        o.mel_opts.high_freq = float(MFCC_OPTIONS["high-freq"])
        o.num_ceps = NUM_CEPS
        o.use_energy = False
        _opts = o
    return _opts


def mfcc(samples: np.ndarray) -> np.ndarray:
    """(frames, NUM_CEPS) float32 from int16-scale float samples at 16 kHz."""
    import kaldi_native_fbank as knf
    m = knf.OnlineMfcc(_options())
    m.accept_waveform(16000.0, samples.astype(np.float32).tolist())
    m.input_finished()
    n = m.num_frames_ready
    if n == 0:
        return np.zeros((0, NUM_CEPS), np.float32)
    return np.stack([np.asarray(m.get_frame(i), dtype=np.float32) for i in range(n)])


# Kaldi's OnlineCmvnOptions defaults (libvosk sets no cmvn options of its own): a causal sliding
# window of CMN_WINDOW frames, topped up with GLOBAL_FRAMES frames' worth of the global mean while
# the utterance is shorter than the window. Means only, no variance normalisation.
CMN_WINDOW = 600
GLOBAL_FRAMES = 200


def online_cmn(feats: np.ndarray, global_mean: np.ndarray) -> np.ndarray:
    """What libvosk's OnlineCmvn outputs for an utterance (a new recogniser starts from the global stats).

    Frame t is normalised by the mean of frames max(0, t-599)..t plus min(600 - n, 200) frames of the
    global mean, where n is the number of own frames; so short answers lean on the global mean and
    long ones on their own channel.
    """
    f = feats.astype(np.float64)
    n_frames = len(f)
    cs = np.cumsum(f, axis=0)
    own = cs.copy()
    if n_frames > CMN_WINDOW:
        own[CMN_WINDOW:] -= cs[:-CMN_WINDOW]
    count = np.minimum(np.arange(1, n_frames + 1), CMN_WINDOW).astype(np.float64)
    glob = np.clip(CMN_WINDOW - count, 0, GLOBAL_FRAMES)
    mean = (own + glob[:, None] * global_mean[None, :]) / (count + glob)[:, None]
    return (f - mean).astype(np.float32)


def _mel_to_mfcc() -> np.ndarray:
    """(num_bins, num_ceps) matrix: mfcc = log_mel @ MEL_TO_MFCC (Kaldi's orthonormal DCT-II and lifter 22)."""
    n = int(MFCC_OPTIONS["num-mel-bins"])
    k = np.arange(NUM_CEPS)[:, None]
    j = np.arange(n)[None, :]
    dct = np.cos(np.pi / n * (j + 0.5) * k) * np.sqrt(2.0 / n)
    dct[0] *= np.sqrt(0.5)
    lifter = 1.0 + 0.5 * 22.0 * np.sin(np.pi * np.arange(NUM_CEPS) / 22.0)
    return (dct * lifter[:, None]).T


MEL_TO_MFCC = _mel_to_mfcc()
MFCC_TO_MEL = np.linalg.inv(MEL_TO_MFCC)


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Kaldi's mel scale."""
    return 1127.0 * np.log(1.0 + np.asarray(f) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (np.exp(np.asarray(m) / 1127.0) - 1.0)


def mel_centres_hz() -> np.ndarray:
    """Centre frequency of each mel bin (Kaldi's mel scale, low-freq 20 Hz, high-freq Nyquist - 400)."""
    n = int(MFCC_OPTIONS["num-mel-bins"])
    lo = float(MFCC_OPTIONS["low-freq"])
    hi = float(MFCC_OPTIONS["sample-frequency"]) / 2 + float(MFCC_OPTIONS["high-freq"])
    return mel_to_hz(np.linspace(hz_to_mel(lo), hz_to_mel(hi), n + 2)[1:-1])
