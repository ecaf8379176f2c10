"""The kiosk (`massage-check run`, a real process) on the PulseAudio virtual sound card when its speaker is
unplugged and plugged back, and when it is stopped (SIGTERM) in the middle of a patient's session.

The microphone is the virtual card's `vmic` (patients' answers played into it with paplay), as in
test_voice_kiosk_pulse.py, which also covers the whole sound server vanishing and coming back. Here the
speaker is a sound card of its own (a second null sink, `kiosk_speaker`, the process's PULSE_SINK), so
it can be unplugged (its module unloaded: opening an output stream then fails in PortAudio exactly as
with a USB speaker pulled out) while the microphone stays.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_voice_kiosk_pulse import RUN, VOICE, Lines, virtual_audio  # noqa: F401 - the fixture

from massage_check.store import TranscriptStore, list_attention
from voice.patient import conversation_wav

SPEAKER = "kiosk_speaker"


def kiosk(va, tmp_path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Lines, Lines]:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("voice_tts_wpm: 200\nvoice_no_input_seconds: 20.0\nvoice_abandon_seconds: 120.0\n"
                   "confidence_threshold: 0.0\n")  # a played answer cannot reply to "is that right?"
    env = {**va.env, "MASSAGE_CHECK_CONFIG": str(cfg), "MASSAGE_CHECK_DATA_DIR": str(tmp_path / "data"),
           "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen([*RUN, "-v", "--device", "default", *args], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def answers(tmp_path, *texts: str) -> dict[str, str]:
    return {t: str(conversation_wav(tmp_path / f"{t.replace(' ', '_')}.wav", [t], voice=VOICE, gap=0.6))
            for t in texts}


# Prompts play through ALSA's pulse plugin with PortAudio's "low" latency: on a loaded 2-core machine that
# underruns and a 5 s prompt can take 20 s, so waits for the next question are long.
PROMPTS_TIMEOUT = 240.0


def start_session(va, wavs, stderr: Lines) -> None:
    stderr.wait_for("listening for a start phrase")
    for attempt in range(3):  # a fresh PulseAudio stream can drop its first second or two: say it again
        time.sleep(0.5)
        va.play(wavs["hello"])
        try:
            stderr.wait_for("heard 'hello'", timeout=15)
            break
        except AssertionError:
            if attempt == 2:
                raise
    stderr.wait_for("listening (question open_wound_burn_fracture)", timeout=PROMPTS_TIMEOUT)


def answer(va, wavs, stderr: Lines, text: str, next_question: str | None) -> None:
    time.sleep(0.5)
    va.play(wavs[text])
    if next_question:
        stderr.wait_for(f"listening (question {next_question})", timeout=PROMPTS_TIMEOUT)


def pactl(va, *args: str) -> str:
    out = subprocess.run(["pactl", *args], env=va.env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def plug_speaker(va) -> str:
    return pactl(va, "load-module", "module-null-sink", f"sink_name={SPEAKER}", "rate=16000", "channels=1")


def test_speaker_unplugged_mid_session_prompts_are_printed_then_spoken_again_when_back(virtual_audio, tmp_path):
    va = virtual_audio
    module = plug_speaker(va)
    wavs = answers(tmp_path, "hello", "no", "stop")
    proc, stdout, stderr = kiosk(va, tmp_path, "--sessions", "1", env={"PULSE_SINK": SPEAKER})
    try:
        start_session(va, wavs, stderr)
        pactl(va, "unload-module", module)                        # the speaker is pulled out
        answer(va, wavs, stderr, "no", "blood_clot")
        answer(va, wavs, stderr, "no", "osteoporosis_fracture")
        plug_speaker(va)                                          # ... and plugged back in
        time.sleep(5.5)   # two failures in a row: the speaker is left alone for 5 s (a patient's pause)
        answer(va, wavs, stderr, "stop", None)
        assert proc.wait(timeout=PROMPTS_TIMEOUT) == 0, "\n".join(stderr.rest())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "\n".join(stderr.rest())
    printed = [line for line in stdout.rest() if line.startswith("massage-check says: ")]
    assert "speech output failed (PortAudioError" in err
    # the two questions asked while it was out were printed (the journal has them); nothing else was
    assert len(printed) == 2 and "blood clot" in printed[0] and "broke" in printed[1], printed
    store = TranscriptStore.open(tmp_path / "data")
    (session,) = store.list_sessions()
    assert session.status == "completed" and session.ended_by == "stop" and session.turns >= 3


def test_sigterm_mid_session_stores_it_interrupted_and_flagged(virtual_audio, tmp_path):
    """systemd stopping the service while a patient is being asked: the process ends at once (exit 0),
    the turns heard so far are kept, no made-up "nothing heard" turns or result are added, and the
    session is stored `interrupted`, on the staff's needs-attention list."""
    va = virtual_audio
    wavs = answers(tmp_path, "hello", "no", "yes")
    proc, stdout, stderr = kiosk(va, tmp_path)
    try:
        start_session(va, wavs, stderr)
        answer(va, wavs, stderr, "no", "blood_clot")
        answer(va, wavs, stderr, "yes", "osteoporosis_fracture")
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, "\n".join(stderr.rest())
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert any("stopped mid-session (question osteoporosis_fracture)" in line for line in stderr.rest())
    assert any("Interrupted before a result" in line for line in stdout.rest())
    store = TranscriptStore.open(tmp_path / "data")
    assert store.report.interrupted == ()     # marked by the kiosk itself, not left for the next process
    (summary,) = store.list_sessions()
    rec = store.get_session(summary.id)
    assert rec["status"] == "interrupted" and rec["outcome"] is None and rec["ended_at"]
    assert [(t["question_id"], t["answer"]) for t in rec["turns"]] == [("open_wound_burn_fracture", "no"),
                                                                     ("blood_clot", "yes")]
    (item,) = list_attention(store)
    assert item.id == summary.id and item.reason == "session cut off before a result"
    exported = json.dumps(rec)
    assert '"heard": ""' not in exported      # no "nothing heard" turns were made up on the way out
