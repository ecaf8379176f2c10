"""Where the patient's voice comes from: a live microphone or a WAV file standing in for one.

Both deliver 16 kHz mono int16 blocks through the same small interface, so the
speech loop (and its tests) do not care which one it has. Half duplex lives
here too: `pause()` makes the source drop audio while the skill is speaking,
`resume()` flushes anything queued and starts listening again after a guard
interval, so the skill never hears itself.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .audio import BLOCK_SECONDS, SAMPLE_RATE, Clip, StreamResampler, read_wav

log = logging.getLogger(__name__)


class AudioUnavailable(RuntimeError):
    """No usable input device: the message says what was tried and how to fix it."""


class AudioSource(Protocol):
    """A stream of 16 kHz mono int16 PCM blocks."""

    sample_rate: int

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read(self, timeout: float) -> bytes | None:
        """Next block, or None if none arrived within `timeout` (or the source is exhausted)."""

    def pause(self) -> None:
        """Drop audio from now on (the skill is speaking)."""

    def resume(self) -> None:
        """Discard anything queued and deliver audio from now on."""

    @property
    def exhausted(self) -> bool:
        """True when no more audio will ever come (end of a file)."""

    @property
    def realtime(self) -> bool:
        """True for a live device (waiting is meaningful), False for a file."""

    @property
    def continuous(self) -> bool:
        """True if nothing the patient says is lost between turns (a file waits while prompts play),
        so speech soon after an answer may be its rest; False if audio during prompts is lost (a live
        microphone is deaf while the kiosk speaks), so only speech already going on when listening
        resumes can be."""


@dataclass
class SourceStats:
    overflows: int = 0  # PortAudio reported an input overflow (device buffer overran)
    dropped: int = 0  # our queue was full: recognition fell behind, oldest audio lost
    reopens: int = 0  # the device vanished and was opened again
    blocks: int = 0


# ---------------------------------------------------------------------------
# WAV file as microphone


class WavFileSource:
    """A WAV file (any rate, mono or stereo) fed as fast as it is read.

    Audio is consumed only while listening: prompts spoken in between do not
    skip any of the patient's answers. When the file runs out, reads return
    None at once and `exhausted` turns True: the loop treats that as silence.
    """

    realtime = False
    continuous = True  # the file waits while prompts play: nothing the patient said is skipped

    def __init__(self, path: str | Path, block_seconds: float = BLOCK_SECONDS, tail_silence: float = 0.0):
        clip = read_wav(path).to_rate(SAMPLE_RATE)
        samples = clip.samples
        if tail_silence > 0:
            # A little low noise after the last word so an answer at the very end still endpoints.
            rng = np.random.default_rng(1)
            tail = rng.normal(0, 3.0, int(tail_silence * SAMPLE_RATE)).astype(np.int16)
            samples = np.concatenate([samples, tail])
        self.path = Path(path)
        self.sample_rate = SAMPLE_RATE
        self._pcm = samples.astype("<i2").tobytes()
        self._pos = 0
        self._block = int(block_seconds * SAMPLE_RATE) * 2
        self._listening = True
        self.stats = SourceStats()

    @classmethod
    def from_clip(cls, clip: "Clip", block_seconds: float = BLOCK_SECONDS) -> "WavFileSource":
        """The same source straight from samples (tests, benchmarks)."""
        self = cls.__new__(cls)
        self.path = Path("<clip>")
        self.sample_rate = SAMPLE_RATE
        self._pcm = clip.to_rate(SAMPLE_RATE).pcm()
        self._pos = 0
        self._block = int(block_seconds * SAMPLE_RATE) * 2
        self._listening = True
        self.stats = SourceStats()
        return self

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def read(self, timeout: float) -> bytes | None:
        if not self._listening or self._pos >= len(self._pcm):
            return None
        chunk = self._pcm[self._pos : self._pos + self._block]
        self._pos += len(chunk)
        self.stats.blocks += 1
        return chunk

    def pause(self) -> None:
        self._listening = False

    def resume(self) -> None:
        self._listening = True

    @property
    def exhausted(self) -> bool:
        return self._pos >= len(self._pcm)

    @property
    def position_seconds(self) -> float:
        return self._pos / 2 / SAMPLE_RATE


# ---------------------------------------------------------------------------
# Live microphone


def _sounddevice() -> Any:
    """Import sounddevice lazily with an actionable error (PortAudio missing is common on fresh Pis)."""
    try:
        import sounddevice  # noqa: PLC0415
    except OSError as exc:
        raise AudioUnavailable(
            f"cannot load PortAudio ({exc}). Install it: `sudo apt-get install libportaudio2`"
        ) from exc
    return sounddevice


def resolve_input_device(sd: Any, device: str | int | None) -> int | None:
    """Turn a configured device (index, exact or partial name, or None) into a PortAudio index."""
    try:
        devices = list(sd.query_devices())
    except Exception as exc:  # PortAudio can fail in many ways
        raise AudioUnavailable(f"cannot list audio devices: {exc}") from exc
    inputs = [(i, d) for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]
    if not inputs:
        raise AudioUnavailable(
            "no microphone found: PortAudio lists no input devices. Plug in a USB microphone "
            "(check `arecord -l`), or use `massage-check run --audio-in FILE.wav` / `massage-check demo`."
        )
    if device is None or device == "":
        return None  # PortAudio's default input
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        idx = int(device)
        if any(i == idx for i, _ in inputs):
            return idx
        raise AudioUnavailable(
            f"input device {idx} does not exist or has no input channels; "
            f"run `massage-check devices` and pick one of: {', '.join(str(i) for i, _ in inputs)}"
        )
    exact = [i for i, d in inputs if d["name"] == device]
    partial = [i for i, d in inputs if str(device).lower() in d["name"].lower()]
    found = exact or partial
    if len(found) == 1 or exact:
        return found[0]
    names = ", ".join(f"{i}: {d['name']}" for i, d in inputs)
    if not found:
        raise AudioUnavailable(f"no input device named {device!r}; available: {names}")
    raise AudioUnavailable(f"input device name {device!r} is ambiguous; use an index. Available: {names}")


class MicrophoneSource:
    """sounddevice RawInputStream feeding a bounded queue.

    The PortAudio callback only copies blocks into the queue (or counts a drop);
    decoding happens on the reader's thread. Devices that cannot record 16 kHz
    mono are opened at their own rate/channels and converted on the reader's side.
    If the device disappears (stream finishes, errors, or stops delivering), `read`
    reopens it with exponential back-off and returns None meanwhile: the dialog
    just waits.
    """

    realtime = True
    continuous = False  # deaf while prompts play

    def __init__(
        self,
        device: str | int | None = None,
        block_seconds: float = BLOCK_SECONDS,
        queue_seconds: float = 5.0,
        guard_seconds: float = 0.15,
        stall_seconds: float = 2.0,
        open_grace: float = 4.0,
        backoff: tuple[float, float] = (0.5, 8.0),
        sd: Any = None,
    ):
        self.device = device
        self.sample_rate = SAMPLE_RATE
        self.block_seconds = block_seconds
        self.guard_seconds = guard_seconds
        self.stall_seconds = stall_seconds
        self.open_grace = open_grace
        self.backoff_min, self.backoff_max = backoff
        self.stats = SourceStats()
        self._sd = sd
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=max(2, int(queue_seconds / block_seconds)))
        self._stream: Any = None
        self._device_rate = SAMPLE_RATE
        self._channels = 1
        self._resampler: StreamResampler | None = None
        self._listening = False
        self._listen_after = 0.0
        self._lost = threading.Event()
        self._last_block = 0.0
        self._next_retry = 0.0
        self._delay = self.backoff_min
        self._last_overflow_log = 0.0
        self._logged_overflows = 0
        self._logged_drops = 0

    # -- PortAudio thread -------------------------------------------------
    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        self._last_block = time.monotonic()
        if status and getattr(status, "input_overflow", False):
            self.stats.overflows += 1
        if not self._listening or self._last_block < self._listen_after:
            return
        try:
            self._queue.put_nowait(bytes(indata))
        except queue.Full:
            self.stats.dropped += 1

    def _finished(self) -> None:
        if self._stream is not None:
            self._lost.set()

    # -- reader side ------------------------------------------------------
    def open(self) -> None:
        sd = self._sd = self._sd or _sounddevice()
        index = resolve_input_device(sd, self.device)
        rate, channels = SAMPLE_RATE, 1
        try:
            sd.check_input_settings(device=index, samplerate=SAMPLE_RATE, channels=1, dtype="int16")
        except Exception:
            info = sd.query_devices(index, "input")
            rate = int(info["default_samplerate"])
            channels = 1
            try:
                sd.check_input_settings(device=index, samplerate=rate, channels=1, dtype="int16")
            except Exception:
                channels = min(2, int(info["max_input_channels"]))
            log.info("microphone cannot record 16 kHz mono; recording %d Hz x%d and converting", rate, channels)
        self._device_rate, self._channels = rate, channels
        self._resampler = StreamResampler(rate, SAMPLE_RATE) if rate != SAMPLE_RATE else None
        try:
            stream = sd.RawInputStream(
                samplerate=rate,
                blocksize=int(rate * self.block_seconds),
                device=index,
                channels=channels,
                dtype="int16",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._lost.clear()
            self._stream = stream
            stream.start()
        except Exception as exc:
            self._stream = None
            raise AudioUnavailable(f"cannot open microphone {self.device!r}: {exc}") from exc
        # Some servers (PulseAudio) take a second or two to deliver the first block: no stall alarm before.
        self._last_block = time.monotonic() + self.open_grace

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # a vanished device may refuse to close; nothing to recover
                pass

    def pause(self) -> None:
        self._listening = False

    def resume(self) -> None:
        self._listen_after = time.monotonic() + self.guard_seconds
        self._drain()
        self._listening = True

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    @property
    def exhausted(self) -> bool:
        return False

    @property
    def available(self) -> bool:
        return self._stream is not None and not self._lost.is_set()

    def _stalled(self) -> bool:
        return self._stream is not None and time.monotonic() - self._last_block > self.stall_seconds

    def _report_counts(self) -> None:
        now = time.monotonic()
        new_o = self.stats.overflows - self._logged_overflows
        new_d = self.stats.dropped - self._logged_drops
        if (new_o or new_d) and now - self._last_overflow_log > 10.0:
            log.warning("microphone: %d input overflow(s), %d block(s) dropped (queue full)", new_o, new_d)
            self._logged_overflows, self._logged_drops = self.stats.overflows, self.stats.dropped
            self._last_overflow_log = now

    def _try_reopen(self) -> None:
        now = time.monotonic()
        if now < self._next_retry:
            return
        self.close()
        sd = self._sd
        for name in ("_terminate", "_initialize"):  # re-enumerate devices (a USB mic may get a new index)
            fn = getattr(sd, name, None)
            if fn is not None:
                try:
                    fn()
                except Exception:
                    pass
        try:
            self.open()
        except AudioUnavailable as exc:
            self._next_retry = now + self._delay
            log.warning("microphone lost; retry in %.1f s (%s)", self._delay, exc)
            self._delay = min(self._delay * 2, self.backoff_max)
            return
        self.stats.reopens += 1
        self._delay = self.backoff_min
        self._next_retry = 0.0
        log.warning("microphone reopened (%d time(s) so far)", self.stats.reopens)

    def read(self, timeout: float) -> bytes | None:
        self._report_counts()
        if self._stream is None or self._lost.is_set() or (self._listening and self._stalled()):
            self._try_reopen()
            if not self.available:
                time.sleep(min(timeout, 0.1))
                return None
        try:
            raw = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self.stats.blocks += 1
        if self._resampler is None and self._channels == 1:
            return raw
        return self.convert(raw)

    def convert(self, raw: bytes) -> bytes:
        """Device blocks (own rate, maybe stereo) -> 16 kHz mono, continuous across blocks."""
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32)
        if self._channels > 1:
            x = x.reshape(-1, self._channels).mean(axis=1)
        if self._resampler is None:
            return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
        return self._resampler.process(x).astype("<i2").tobytes()


def input_devices(sd: Any = None) -> list[dict[str, Any]]:
    """Every PortAudio device, for `massage-check devices`."""
    sd = sd or _sounddevice()
    out = []
    try:
        default_in, default_out = sd.default.device
    except Exception:
        default_in = default_out = -1
    for i, d in enumerate(sd.query_devices()):
        out.append(
            {
                "index": i,
                "name": d["name"],
                "inputs": int(d["max_input_channels"]),
                "outputs": int(d["max_output_channels"]),
                "default_samplerate": float(d["default_samplerate"]),
                "default_input": i == default_in,
                "default_output": i == default_out,
            }
        )
    return out
