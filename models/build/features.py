"""MFCC features computed exactly as libvosk computes them from conf/mfcc.conf.

kaldi-native-fbank reproduces Kaldi's MFCC when fed int16-scale samples with the same options; the
options live in one place (MFCC_OPTIONS) so the training features and the written conf cannot drift.
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
