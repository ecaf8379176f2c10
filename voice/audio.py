"""Audio buffers: the one format the recognizer wants (16 kHz mono int16) and the way to get there.

Everything between the microphone and libvosk is 16-bit little-endian mono PCM at
SAMPLE_RATE. Devices and files that cannot deliver that are converted here, with
numpy only (no scipy at run time), so the Pi needs nothing extra.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
BLOCK_SECONDS = 0.05  # 50 ms blocks: small enough for quick endpointing, big enough to be cheap
BLOCK_FRAMES = int(SAMPLE_RATE * BLOCK_SECONDS)


class AudioFormatError(ValueError):
    """A WAV file the voice loop cannot use; the message names the file and the fix."""


@dataclass(frozen=True)
class Clip:
    """Mono int16 samples at a known rate."""

    samples: np.ndarray  # int16, 1-D
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.rate)

    def to_rate(self, rate: int = SAMPLE_RATE) -> "Clip":
        return Clip(resample(self.samples, self.rate, rate), rate)

    def pcm(self) -> bytes:
        return self.samples.astype("<i2", copy=False).tobytes()


def to_mono(frames: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array into one channel."""
    if frames.ndim == 1:
        return frames
    return frames.mean(axis=1)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Convert a whole signal between rates (FFT: exactly band-limited both ways); returns int16.

    Up-sampling by linear interpolation would dull the 4-8 kHz band the
    recognizer listens to, and down-sampling without a filter would alias.
    Live microphone blocks use StreamResampler instead.
    """
    x = np.asarray(samples, dtype=np.float64)
    if src_rate == dst_rate or len(x) == 0:
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)
    n_out = int(round(len(x) * dst_rate / src_rate))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n_out // 2 + 1)
    out_spec = np.zeros(n_out // 2 + 1, dtype=complex)
    out_spec[:keep] = spectrum[:keep]
    y = np.fft.irfft(out_spec, n_out) * (n_out / len(x))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def _lowpass(src_rate: int, dst_rate: int, taps: int = 63) -> np.ndarray:
    cutoff = 0.5 * dst_rate / src_rate * 0.9  # cycles per input sample, some margin below Nyquist
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    return (h / h.sum()).astype(np.float32)


class StreamResampler:
    """Resampling block by block without clicks at block edges (a live microphone's stream).

    Keeps the filter history and the fractional read position across blocks, so
    the output equals resampling the whole stream at once (up to a constant delay).
    """

    def __init__(self, src_rate: int, dst_rate: int = SAMPLE_RATE):
        self.ratio = src_rate / dst_rate
        self.h = _lowpass(src_rate, dst_rate) if dst_rate < src_rate else np.ones(1, np.float32)
        self.hist = np.zeros(len(self.h) - 1, np.float32)
        self.t = 0.0  # where the next output sample falls, in input samples from the current block's start
        self.last = 0.0  # last filtered sample of the previous block

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros(0, np.int16)
        buf = np.concatenate([self.hist, x])
        if len(self.h) > 1:
            self.hist = buf[len(buf) - (len(self.h) - 1):]
        y = np.convolve(buf, self.h, mode="valid")  # len(x) filtered samples
        ext = np.concatenate([[self.last], y])  # ext[j] is block position j - 1
        count = int(np.floor((len(x) - 1 - self.t) / self.ratio)) + 1 if self.t <= len(x) - 1 else 0
        pos = self.t + np.arange(count) * self.ratio
        out = np.interp(pos + 1.0, np.arange(len(ext), dtype=np.float64), ext)
        self.t = self.t + count * self.ratio - len(x)
        self.last = float(y[-1])
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def read_wav(path: str | Path) -> Clip:
    """Read a PCM WAV (any rate, mono or stereo, 8/16/32-bit) as a mono Clip at its own rate."""
    path = Path(path)
    if not path.is_file():
        raise AudioFormatError(f"{path}: no such audio file")
    try:
        data = path.read_bytes()
        return parse_wav(data, str(path))
    except AudioFormatError:
        raise
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioFormatError(
            f"{path}: not a PCM WAV file ({exc}). Convert it, e.g. "
            f"`sox {path.name} -r 16000 -c 1 -b 16 out.wav`"
        ) from exc


def parse_wav(data: bytes, name: str = "<wav>") -> Clip:
    """Parse WAV bytes. Tolerates the 'unknown length' header espeak-ng --stdout writes."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except wave.Error as exc:
        raise AudioFormatError(
            f"{name}: not a PCM WAV file ({exc}). Convert it, e.g. `sox IN -r 16000 -c 1 -b 16 out.wav`"
        ) from exc
    dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise AudioFormatError(f"{name}: {8 * width}-bit samples are not supported; use 16-bit PCM")
    usable = len(raw) - len(raw) % (width * channels)
    arr = np.frombuffer(raw[:usable], dtype=dtype).astype(np.float32)
    if width == 1:
        arr = (arr - 128.0) * 256.0
    elif width == 4:
        arr = arr / 65536.0
    if channels > 1:
        arr = arr.reshape(-1, channels)
    mono = to_mono(arr)
    return Clip(np.clip(np.round(mono), -32768, 32767).astype(np.int16), rate)


def write_wav(path: str | Path, clip: Clip) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(clip.rate)
        w.writeframes(clip.pcm())
    return path


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM wrapped as a WAV file in memory (for the transcript store)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def rms_dbfs(pcm: bytes | np.ndarray) -> float:
    """Level of a block in dB relative to full scale (-100 for silence)."""
    x = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, (bytes, bytearray)) else pcm
    if len(x) == 0:
        return -100.0
    power = float(np.mean(np.square(x.astype(np.float64))))
    return 10.0 * np.log10(power / (32768.0**2) + 1e-10)


def add_noise(clip: Clip, snr_db: float = 30.0, seed: int = 0, pad_seconds: float = 0.0) -> Clip:
    """Pad with low noise and mix noise in at `snr_db`: never pure digital silence (it fools decoders)."""
    rng = np.random.default_rng(seed)
    x = clip.samples.astype(np.float64)
    pad = np.zeros(int(pad_seconds * clip.rate))
    x = np.concatenate([pad, x, pad])
    speech_power = float(np.mean(np.square(clip.samples.astype(np.float64)))) or 1.0
    noise_power = speech_power / (10.0 ** (snr_db / 10.0))
    noise = rng.normal(0.0, np.sqrt(noise_power), len(x))
    y = np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)
    return Clip(y, clip.rate)
