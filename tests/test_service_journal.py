"""`massage-check run --service`: what the journal gets (one line a session, one a fault, never an
answer or a result), the exit codes systemd acts on, and waiting for a microphone that is not there.
Real model, real dialog, real transcript store; the session's audio is a synthetic patient's WAV."""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from massage_check import service
from massage_check.config import EXIT_CONFIG
from massage_check.store import TranscriptStore

ROOT = Path(__file__).resolve().parents[1]
SESSION_LINE = re.compile(r"^massage-check: session [0-9a-f]{8}: [a-z_]+(, abandoned)?, \d+ s, \d+ turns$")


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MASSAGE_CHECK_DATA_DIR": str(tmp / "data"),
            "MASSAGE_CHECK_CONFIG": str(tmp / "config.yaml"), **extra}


def run_cli(tmp: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "massage_check.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env_for(tmp), cwd=tmp, **kw)


@pytest.fixture(scope="module")
def answers_wav(tmp_path_factory) -> Path:
    from voice.patient import conversation_wav

    path = tmp_path_factory.mktemp("wav") / "answers.wav"
    # a safety question answered yes: see_doctor_first, the result most worth keeping out of a log
    conversation_wav(path, ["no", "yes", "yes"])
    return path


def test_a_session_is_one_journal_line_with_no_answers_or_advice(tmp_path, answers_wav) -> None:
    r = run_cli(tmp_path, "run", "--service", "--audio-in", str(answers_wav))
    assert r.returncode == 0, r.stderr
    store = TranscriptStore.open(tmp_path / "data")
    [summary] = store.list_sessions()
    record = store.get_session(summary.id)
    assert record["outcome"] == "see_doctor_first" and record["answers"]  # kept where it belongs
    lines = r.stderr.splitlines()
    sessions = [line for line in lines if SESSION_LINE.match(line)]
    assert len(sessions) == 1 and sessions[0].startswith(f"massage-check: session {summary.id[:8]}: see_doctor_first")
    # no sound card here: playing fails, which is one fault line however many prompts there were
    assert len(lines) <= 2, lines
    journal = r.stdout + r.stderr
    assert r.stdout == ""  # prompts that cannot be played are dropped, not printed
    for private in [record["explanation"], *[t["prompt"] for t in record["turns"] if t["prompt"]],
                    "heard", "blood clot", "Outcome:"]:
        assert private not in journal, private


def test_a_corrupt_config_exits_78_with_one_line_naming_file_and_line(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text("model: answer-model\nvoice_tts_wpm: fast\n")
    r = run_cli(tmp_path, "run", "--service")
    assert r.returncode == EXIT_CONFIG == 78
    [line] = r.stderr.splitlines()
    assert line.startswith(f"massage-check: error: {tmp_path / 'config.yaml'}:2: setting 'voice_tts_wpm' must be")
    assert "Fix:" in line and "not restarted" in line


@pytest.mark.parametrize("setting, text", [
    ("model: /no/such/model\n", "speech model not found"),
    ("voice_tts_voice: en-martian\n", "no voice 'en-martian'"),
])
def test_a_model_or_voice_that_cannot_work_also_exits_78(tmp_path, setting, text) -> None:
    (tmp_path / "config.yaml").write_text(setting)
    r = run_cli(tmp_path, "run", "--service")
    assert r.returncode == 78 and text in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_verbose_is_refused_in_service_mode(tmp_path) -> None:
    r = run_cli(tmp_path, "run", "--service", "-v")
    assert r.returncode == 78 and "--verbose logs what patients say" in r.stderr


def test_no_microphone_is_waited_for_quietly_and_sigterm_stops_it_cleanly(tmp_path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "massage_check.cli", "run", "--service",
                             "--device", "no-such-microphone-xyz"], env=env_for(tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "data" / "transcripts.db").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(6.0)  # a dozen reopen attempts with back-off 0.5, 1, 2, 4 s
        assert proc.poll() is None, proc.communicate()  # still running: waiting, not exited
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("massage-check: waiting for the microphone: ")
    assert len(lines) <= 2, lines  # the retries repeat one fault: logged once
    assert out.count("\n") <= 1  # the start line


def test_repeat_filter_logs_a_fault_once_then_with_a_count() -> None:
    now = [0.0]
    f = service.RepeatFilter(every=600, clock=lambda: now[0])

    def rec(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("voice.sources", level, __file__, 1, msg, ("x",), None)

    assert f.filter(rec("microphone lost; retry in %s"))
    for _ in range(5):
        now[0] += 8
        assert not f.filter(rec("microphone lost; retry in %s"))
    assert f.filter(rec("microphone reopened %s"))  # another fault is its own line
    assert f.filter(rec("session %s", logging.INFO))  # session lines are never held back
    assert f.filter(rec("session %s", logging.INFO))
    now[0] += 600
    again = rec("microphone lost; retry in %s")
    assert f.filter(again) and "and 5 more like it" in again.getMessage()


def test_a_crash_is_one_line_and_exit_1_for_systemd_to_restart(capsys) -> None:
    def body(args) -> int:
        raise RuntimeError("recognizer exploded\nwith a second line")

    class Args:
        verbose = False

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert service.run_service(Args(), body) == 1
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("massage-check: stopped by a fault, exiting for a restart: RuntimeError: "
                           "recognizer exploded with a second line (at test_service_journal.py:")


def test_journald_gets_syslog_priorities(tmp_path, answers_wav) -> None:
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        subprocess.run([sys.executable, "-m", "massage_check.cli", "run", "--service", "--audio-in", str(answers_wav)],
                       env=env_for(tmp_path, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"), cwd=tmp_path,
                       stdout=subprocess.DEVNULL, stderr=err, timeout=180, check=True)
    lines = err_path.read_text().splitlines()
    assert any(line.startswith("<6>massage-check: session ") for line in lines), lines
    assert all(line.startswith(("<6>", "<4>")) for line in lines), lines
