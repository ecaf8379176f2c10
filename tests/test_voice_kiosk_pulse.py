"""The kiosk on a virtual sound card: `massage-check run` listens through sounddevice/PortAudio to a
PulseAudio null sink while the patient's answers are played into it with paplay.

The prompts are spoken into the same sink, so the microphone would hear them if
half duplex failed (a loop-back, worse than any room). Mid-session the sound
server is killed and restarted: the microphone comes back and the session goes on.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dialog import interpret
from voice.patient import conversation_wav
from voice.virtual_audio import VirtualAudio

ANSWERS = {"open_wound_burn_fracture": "no", "blood_clot": "yes", "osteoporosis_fracture": "stop"}
VOICE = "en-gb"
MODEL = os.environ.get("MASSAGE_CHECK_TEST_MODEL", "answer-model")  # as in test_voice_loop.py
RUN = [sys.executable, "-m", "massage_check.cli", "run", "--model", MODEL]


@pytest.fixture
def virtual_audio():
    va = VirtualAudio.start()
    yield va
    va.stop()


class Lines:
    """Collects a pipe's lines on a thread so the test can wait for one."""

    def __init__(self, pipe):
        self.q: queue.Queue[str] = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe) -> None:
        for line in pipe:
            self.q.put(line.rstrip("\n"))

    def rest(self, timeout: float = 2.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.all.append(self.q.get(timeout=0.1))
            except queue.Empty:
                break
        return self.all

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.2)
            except queue.Empty:
                continue
            self.all.append(line)
            if text in line:
                return line
        raise AssertionError(f"timed out waiting for {text!r}; got:\n" + "\n".join(self.all[-30:]))


def test_kiosk_session_through_a_virtual_microphone_survives_losing_it(virtual_audio, tmp_path):
    va = virtual_audio
    wavs = {text: conversation_wav(tmp_path / f"{text.replace(' ', '_')}.wav", [text], voice=VOICE, gap=0.6)
            for text in {"hello", *ANSWERS.values()}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text("voice_tts_wpm: 200\nvoice_no_input_seconds: 20.0\nvoice_abandon_seconds: 120.0\n"
                   "keep_audio: true\nconfidence_threshold: 0.0\n")  # the script cannot answer "is that right?"
    env = {**va.env, "MASSAGE_CHECK_CONFIG": str(cfg), "MASSAGE_CHECK_DATA_DIR": str(tmp_path / "data"),
           "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "session.json"
    proc = subprocess.Popen([*RUN, "--sessions", "1", "-v", "--device", "default",
                             "--transcript", str(out)], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = Lines(proc.stdout), Lines(proc.stderr)
        stdout.wait_for("ready: say")
        stderr.wait_for("listening for a start phrase")
        for attempt in range(3):  # a fresh PulseAudio stream can drop its first second or two:
            time.sleep(0.5)       # like a patient, say it again if nothing happens
            va.play(wavs["hello"])
            try:
                stderr.wait_for("listening (question open_wound_burn_fracture)", timeout=15)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        for qid, answer in ANSWERS.items():
            if qid != "open_wound_burn_fracture":
                stderr.wait_for(f"listening (question {qid})")
            if qid == "blood_clot":  # the sound card vanishes while the patient is being asked
                va.kill()
                stderr.wait_for("microphone lost")
                time.sleep(1.0)
                va.restart()
                stderr.wait_for("microphone reopened", timeout=30)
                time.sleep(2.0)  # a new PulseAudio server's first stream warms up slowly
            time.sleep(0.5)
            va.play(wavs[answer])
        assert proc.wait(timeout=90) == 0, "\n".join(stderr.all[-30:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t = json.loads(out.read_text())
    heard = [turn["heard"] for turn in t["turns"] if turn["heard"] is not None]
    # only the patient's answers ("no" may come back as its synonym "nope"): never its own prompts
    assert [interpret(h).intent for h in heard] == [interpret(a).intent for a in ANSWERS.values()], heard
    assert t["ended_by"] == "stop" and t["outcome"] == "see_doctor_first"
    assert t["answers"] == {"open_wound_burn_fracture": "no", "blood_clot": "yes"}
    printed = [line for line in stdout.rest() if "massage-check says:" in line]
    assert not printed, printed  # every prompt was played on the (virtual) sound card, none fell back to text
    # the session went to the transcript store, with each answer's recording (keep_audio)
    from voice.audio import read_wav

    kept = sorted((tmp_path / "data" / "audio" / t["session_id"]).glob("turn-*.wav"))
    assert len(kept) == len(ANSWERS), kept
    assert all(read_wav(k).seconds > 0.3 for k in kept)


def test_kiosk_stops_cleanly_on_sigterm(virtual_audio, tmp_path):
    env = {**virtual_audio.env, "MASSAGE_CHECK_CONFIG": str(tmp_path / "none.yaml"),
           "MASSAGE_CHECK_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*RUN, "-v"], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        Lines(proc.stderr).wait_for("listening for a start phrase")
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_devices_lists_the_virtual_sound_card(virtual_audio, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "massage_check.cli", "devices", "--json"], env=virtual_audio.env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    devices = json.loads(proc.stdout)
    assert any(d["name"] == "default" and d["inputs"] > 0 and d["outputs"] > 0 for d in devices)
    table = subprocess.run([sys.executable, "-m", "massage_check.cli", "devices"], env=virtual_audio.env,
                           capture_output=True, text=True, timeout=60).stdout
    assert "(default input)" in table and "voice_mic_device" in table
