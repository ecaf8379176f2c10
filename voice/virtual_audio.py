"""A virtual sound card for machines without one (CI, benchmarks): PulseAudio with a null sink.

Anything played into the sink `vmic_sink` (paplay, or our own prompts, which
default to it) is what the microphone source `vmic` records, in real time. That
makes a loop-back: if half duplex failed, the skill would hear its own prompts.
Start it before sounddevice is imported in the process that records (PortAudio
enumerates devices once); child processes get the same server through `env`.
The sink runs at 16 kHz mono, the recognizer's own format: PulseAudio's
resampler dulls the 6-8 kHz band, and the built-in model is sensitive to that.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SINK = "vmic_sink"
SOURCE = "vmic"


class VirtualAudioError(RuntimeError):
    pass


@dataclass
class VirtualAudio:
    runtime_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, runtime: Path | None = None) -> "VirtualAudio":
        for tool in ("pulseaudio", "pactl", "paplay"):
            if shutil.which(tool) is None:
                raise VirtualAudioError(
                    f"{tool} not found: install pulseaudio pulseaudio-utils libasound2-plugins (sh install.sh --dev)"
                )
        runtime = runtime or Path(tempfile.mkdtemp(prefix="mc-pulse-"))
        os.chmod(runtime, 0o700)
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
        env.pop("PULSE_SERVER", None)
        cmd = [
            "pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--log-target=stderr",
            f"--load=module-null-sink sink_name={SINK} rate=16000 channels=1",
            "--load=module-native-protocol-unix",
            f"--load=module-remap-source master={SINK}.monitor source_name={SOURCE} channels=1",
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise VirtualAudioError(f"pulseaudio did not start: {proc.stderr.strip()[-400:]}")
        va = cls(runtime, env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            va.stop()
            raise VirtualAudioError("pulseaudio started but does not answer `pactl info`")
        for args in (["set-default-sink", SINK], ["set-default-source", SOURCE]):
            subprocess.run(["pactl", *args], env=env, capture_output=True, timeout=10)
        return va

    def play(self, wav: str | Path, wait: bool = True) -> subprocess.Popen | None:
        """Play a WAV into the sink (the virtual microphone hears it)."""
        p = subprocess.Popen(["paplay", f"--device={SINK}", str(wav)], env=self.env)
        if wait:
            p.wait(timeout=120)
            return None
        return p

    def kill(self) -> None:
        """Stop the server (the microphone disappears) but keep the runtime directory."""
        subprocess.run(["pulseaudio", "--kill"], env=self.env, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
                return
            time.sleep(0.1)

    def restart(self) -> None:
        """Bring the server (and so the microphone) back after kill()."""
        VirtualAudio.start(self.runtime_dir)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def __enter__(self) -> "VirtualAudio":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
