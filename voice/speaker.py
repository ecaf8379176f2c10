"""Speech output: text -> WAV (espeak-ng, or a fresh pyttsx3 engine) -> played by us.

Why not `pyttsx3.say()`: its `runAndWait()` can return before speech ends, a
`save_to_file` poisons later `say()` calls, unknown voices are ignored silently,
and with no audio device it fails quietly. Synthesising to samples and playing
them through sounddevice means we know exactly when the first sample goes out
(latency) and when the last one ends (half duplex: the microphone is deaf until
then). If playback is impossible the text is printed and the session goes on.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, TextIO

import numpy as np

from .audio import Clip, parse_wav, read_wav, write_wav

log = logging.getLogger(__name__)

DEFAULT_WPM = 160  # espeak-ng words per minute at rate 1.0: a little slower than its default 175
MIN_WPM, MAX_WPM = 80, 320


class SpeechUnavailable(RuntimeError):
    """Speech cannot be synthesised or played (no synthesiser, no output device)."""


class SpeechConfigError(ValueError):
    """A speech setting that cannot work (unknown engine or voice): the message names the fix."""


class VoiceNotFound(SpeechConfigError):
    """A configured voice the synthesiser does not have (it would otherwise be ignored silently)."""


@dataclass(frozen=True)
class Spoken:
    """What happened to one prompt."""

    text: str
    started: float  # time.monotonic() of the first sample leaving (or the text being printed)
    ended: float  # when the last sample has been played
    how: str  # "played" | "printed" | "saved"
    error: str | None = None


class Speaker(Protocol):
    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken: ...

    def close(self) -> None: ...


class Synthesizer(Protocol):
    def synth(self, text: str, rate: float = 1.0) -> Clip: ...


def wpm_for(rate: float, base_wpm: int = DEFAULT_WPM) -> int:
    return int(min(MAX_WPM, max(MIN_WPM, round(base_wpm * rate))))


# ---------------------------------------------------------------------------
# Synthesisers


class EspeakSynth:
    """espeak-ng as a subprocess writing a WAV to stdout: ~10 ms per short prompt, no engine state."""

    def __init__(self, voice: str = "en-us", base_wpm: int = DEFAULT_WPM, pitch: int | None = None,
                 binary: str | None = None):
        self.binary = binary or shutil.which("espeak-ng") or shutil.which("espeak")
        if not self.binary:
            raise SpeechUnavailable("espeak-ng is not installed: `sudo apt-get install espeak-ng`")
        self.voice = voice
        self.base_wpm = base_wpm
        self.pitch = pitch
        if voice:
            self._check_voice(voice)

    def voices(self) -> list[str]:
        out = subprocess.run([self.binary, "--voices"], capture_output=True, text=True, timeout=10).stdout
        names: list[str] = []
        for line in out.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 5:
                names += [cols[1], cols[3], cols[4].split("/")[-1]]
        return names

    def _check_voice(self, voice: str) -> None:
        base = voice.split("+")[0]  # "en-us+f3" = voice + variant
        known = self.voices()
        if base not in known and base.lower() not in {k.lower() for k in known}:
            english = sorted({v for v in known[0::3] if v.lower().startswith("en")})
            raise VoiceNotFound(
                f"espeak-ng has no voice {voice!r}; English voices: {', '.join(english[:12])} "
                f"(see `espeak-ng --voices`)"
            )

    def synth(self, text: str, rate: float = 1.0) -> Clip:
        cmd = [self.binary, "--stdout", "-s", str(wpm_for(rate, self.base_wpm))]
        if self.voice:
            cmd += ["-v", self.voice]
        if self.pitch is not None:
            cmd += ["-p", str(self.pitch)]
        cmd += ["--", text]
        proc = subprocess.run(cmd, capture_output=True, timeout=30)
        if proc.returncode != 0 or len(proc.stdout) < 100:
            raise SpeechUnavailable(f"espeak-ng failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[:200]}")
        return parse_wav(proc.stdout, "espeak-ng output")


class Pyttsx3Synth:
    """pyttsx3 (espeak-ng driver) writing to a temporary WAV with a fresh engine per prompt.

    A fresh engine avoids the save_to_file-poisons-say trap; we wait for the file to
    stop growing because runAndWait() may return before synthesis has finished.
    """

    def __init__(self, voice: str | None = None, base_wpm: int = DEFAULT_WPM):
        import pyttsx3  # noqa: PLC0415

        self._pyttsx3 = pyttsx3
        self.base_wpm = base_wpm
        self.voice_id: str | None = None
        if voice:
            engine = pyttsx3.init()
            voices = engine.getProperty("voices")
            for v in voices:
                if voice in (v.id, v.name) or v.id.endswith("/" + voice):
                    self.voice_id = v.id
                    break
            else:
                raise VoiceNotFound(
                    f"pyttsx3 has no voice {voice!r}; some available: "
                    f"{', '.join(v.name for v in voices[:10])}"
                )

    _lock = threading.Lock()  # pyttsx3's espeak driver is process-global: one synthesis at a time

    def synth(self, text: str, rate: float = 1.0) -> Clip:
        with self._lock:
            return self._synth(text, rate)

    def _synth(self, text: str, rate: float) -> Clip:
        fd, name = tempfile.mkstemp(suffix=".wav", prefix="mc-tts-")
        os.close(fd)
        try:
            engine = self._pyttsx3.init()
            engine.setProperty("rate", wpm_for(rate, self.base_wpm))
            if self.voice_id:
                engine.setProperty("voice", self.voice_id)
            saved = sys.stdout
            sys.stdout = open(os.devnull, "w")  # pyttsx3 prints "Audio saved to ..."
            try:
                engine.save_to_file(text, name)
                engine.runAndWait()
            finally:
                sys.stdout.close()
                sys.stdout = saved
            last, stable_since = -1, time.monotonic()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                size = os.path.getsize(name)
                if size != last:
                    last, stable_since = size, time.monotonic()
                elif size > 44 and time.monotonic() - stable_since > 0.05:
                    break
                time.sleep(0.01)
            return read_wav(name)
        finally:
            os.unlink(name)


# ---------------------------------------------------------------------------
# Speakers


class PrintSpeaker:
    """Prompts as text on a stream: `--no-speak`, and the fallback when audio is impossible."""

    def __init__(self, stream: TextIO | None = None, prefix: str = "massage-check says: "):
        self.stream = stream
        self.prefix = prefix

    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken:
        now = time.monotonic()
        print(f"{self.prefix}{text}", file=self.stream or sys.stdout, flush=True)
        return Spoken(text, now, now, "printed")

    def close(self) -> None:
        pass


class WavDirSpeaker:
    """Writes each prompt as NNN-kind.wav into a directory (and prints it): `--prompts-dir`."""

    def __init__(self, directory: str | Path, synth: Synthesizer, echo: PrintSpeaker | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.synth = synth
        self.echo = echo or PrintSpeaker()
        self.count = 0

    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken:
        started = time.monotonic()
        write_wav(self.dir / f"{self.count:03d}-{kind}.wav", self.synth.synth(text, rate))
        self.count += 1
        self.echo.say(text, rate, kind)
        return Spoken(text, started, time.monotonic(), "saved")

    def close(self) -> None:
        pass


def _sounddevice() -> Any:
    import sounddevice  # noqa: PLC0415

    return sounddevice


class AudioSpeaker:
    """Synthesise, then play through sounddevice and block until the last sample has played.

    Prompts are cached (bounded LRU: the same questions come back every session).
    Any failure prints the text instead. Synthesis and playback fail apart (a
    synthesiser that crashes does not stop cached prompts from playing; a speaker
    that is unplugged does not stop synthesis): after `max_failures` failures in a
    row, that part is not tried for a while (a missing speaker or a hanging
    synthesiser should not cost a timeout per prompt), 5 s at first, doubling up to
    `retry_after` seconds, and tried again after it: a speaker plugged back in (or
    a synthesiser that works again) is used again within that time by itself.
    """

    def __init__(
        self,
        synth: Synthesizer,
        device: str | int | None = None,
        volume: float = 1.0,
        cache_size: int = 64,
        fallback: PrintSpeaker | None = None,
        max_failures: int = 2,
        retry_after: float = 60.0,
        play: Callable[[Clip], float] | None = None,
        retry_first: float = 5.0,
    ):
        if not 0.0 <= volume <= 1.0:
            raise ValueError(f"volume must be between 0.0 and 1.0, got {volume}")
        self.synth = synth
        self.device = device
        self.volume = volume
        self.cache: OrderedDict[tuple[str, float], Clip] = OrderedDict()
        self.cache_size = cache_size
        self.fallback = fallback or PrintSpeaker()
        self.max_failures = max_failures
        self.retry_after = retry_after
        self.failures = 0  # failed prompts in a row (synthesis or playback)
        self._synth_backoff = _Backoff(max_failures, retry_first, retry_after)
        self._play_backoff = _Backoff(max_failures, retry_first, retry_after)
        self._play = play or self._play_sounddevice
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def clip_for(self, text: str, rate: float) -> Clip:
        key = (text, round(rate, 3))
        with self._lock:
            clip = self.cache.get(key)
            if clip is not None:
                self.cache.move_to_end(key)
                return clip
        clip = self.synth.synth(text, rate)
        if self.volume != 1.0:
            clip = Clip((clip.samples.astype(np.float32) * self.volume).astype(np.int16), clip.rate)
        with self._lock:
            self.cache[key] = clip
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return clip

    def prewarm(self, texts: list[str], rate: float = 1.0) -> threading.Thread:
        """Synthesise prompts that will surely come (questions) in the background, so a reply
        does not wait for synthesis the first time it is said."""

        def work() -> None:
            for text in texts[: self.cache_size]:
                try:
                    self.clip_for(text, rate)
                except Exception:  # synthesis problems show up (and are handled) when speaking
                    return

        thread = threading.Thread(target=work, name="prompt-prewarm", daemon=True)
        thread.start()
        return thread

    def _play_sounddevice(self, clip: Clip) -> float:
        """Play and block until done; returns monotonic time of the first sample at the DAC."""
        sd = _sounddevice()
        data = clip.samples.reshape(-1, 1)
        rate = clip.rate
        try:
            sd.check_output_settings(device=self.device, samplerate=rate, channels=1, dtype="int16")
        except Exception:
            info = sd.query_devices(self.device, "output")
            rate = int(info["default_samplerate"])
            data = clip.to_rate(rate).samples.reshape(-1, 1)
        with sd.OutputStream(samplerate=rate, device=self.device, channels=1, dtype="int16", latency="low") as stream:
            first = time.monotonic() + float(stream.latency)
            stream.write(data)
        # leaving the context stops the stream, which waits until queued audio has played
        return first

    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken:
        key = (text, round(rate, 3))
        if key not in self.cache and not self._synth_backoff.ready():
            return self.fallback.say(text, rate, kind)  # the synthesiser failed lately: not tried yet
        try:
            clip = self.clip_for(text, rate)
        except Exception as exc:  # synthesiser missing, crashed or hung: print and go on
            self._synth_backoff.failed()
            return self._printed(text, rate, kind, exc, "speech synthesis")
        self._synth_backoff.ok()
        if not self._play_backoff.ready():
            return self.fallback.say(text, rate, kind)  # the speaker failed lately: not tried yet
        try:
            first = self._play(clip)
        except Exception as exc:  # no device, device busy or unplugged: print and go on
            self._play_backoff.failed()
            return self._printed(text, rate, kind, exc, "speech output")
        self._play_backoff.ok()
        self.failures = 0
        return Spoken(text, first, time.monotonic(), "played")

    def _printed(self, text: str, rate: float, kind: str, exc: Exception, what: str) -> Spoken:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("%s failed (%s); printing the prompt instead", what, self.last_error)
        spoken = self.fallback.say(text, rate, kind)
        return Spoken(text, spoken.started, spoken.ended, "printed", self.last_error)

    def close(self) -> None:
        self.cache.clear()


class _Backoff:
    """After `after` failures in a row, wait `first` seconds before trying again, doubling up to `most`."""

    def __init__(self, after: int, first: float, most: float):
        self.after = max(1, after)
        self.first = min(first, most)
        self.most = most
        self.failures = 0
        self.delay = self.first
        self.until = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.until

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.after:
            self.until = time.monotonic() + self.delay
            self.delay = min(self.delay * 2, self.most)

    def ok(self) -> None:
        self.failures = 0
        self.delay = self.first
        self.until = 0.0


def output_available(device: str | int | None = None) -> bool:
    """True when PortAudio has an output device we could play prompts on."""
    try:
        sd = _sounddevice()
        sd.check_output_settings(device=device, channels=1, dtype="int16")
        return True
    except Exception:
        return False


def make_synth(engine: str = "espeak-ng", voice: str | None = "en-us", base_wpm: int = DEFAULT_WPM) -> Synthesizer:
    """The configured synthesiser; falls back from espeak-ng CLI to pyttsx3 if the binary is missing."""
    if engine == "pyttsx3":
        return Pyttsx3Synth(voice, base_wpm)
    if engine != "espeak-ng":
        raise SpeechConfigError(f"unknown speech engine {engine!r}: set voice_tts_engine to espeak-ng or pyttsx3")
    try:
        return EspeakSynth(voice or "", base_wpm)
    except SpeechUnavailable:
        return Pyttsx3Synth(None, base_wpm)
