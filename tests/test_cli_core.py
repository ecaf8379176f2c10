"""The CLI as a user runs it: typed sessions for every outcome, evaluate, rules check, clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rules import DEFAULT_RULES

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: str = "", env: dict | None = None, cwd: Path | None = None):
    run_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "massage_check.cli", *args], input=stdin, text=True,
                          capture_output=True, timeout=120, env=run_env, cwd=cwd or ROOT)


@pytest.fixture
def data_env(tmp_path):
    """Keep any stored sessions out of the developer's home."""
    return {"MASSAGE_CHECK_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "xdg-data")}


SESSIONS = {
    "likely_to_help": "no\n" * 6 + "no\nno\nyes\nyes\n",
    "no_clear_need": "nope\n" * 6 + "no\nnot really\nno\n",
    "massage_with_care": "no\n" * 6 + "no\nyes\nno\n",
    "see_doctor_first": "no\nno\nyes I think so\nno\nno\nno\n",
    "ask_staff": "no\nI don't know\n" + "no\n" * 4 + "no\nno\nno\n",
}


@pytest.mark.parametrize("outcome", SESSIONS)
def test_typed_session_reaches_each_outcome(outcome, tmp_path, data_env):
    transcript = tmp_path / "t.json"
    r = cli("text", "--transcript", str(transcript), stdin=SESSIONS[outcome], env=data_env)
    assert r.returncode == 0, r.stderr
    assert f"Outcome: {outcome}" in r.stdout
    data = json.loads(transcript.read_text())
    assert data["outcome"] == outcome and data["rules"] and data["explanation"]
    assert data["turns"][0]["question_id"] == "open_wound_burn_fracture"
    assert "guidance, not a diagnosis" in r.stdout


def test_piped_input_running_out_ends_as_ask_staff(tmp_path, data_env):
    r = cli("text", "--transcript", str(tmp_path / "t.json"), stdin="no\nno\n", env=data_env)
    assert r.returncode == 0
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["outcome"] == "ask_staff" and data["ended_by"] == "failures"


def test_evaluate_json(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("open_wound_burn_fracture: no\nblood_clot: yes\n")
    r = cli("evaluate", str(answers), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["outcome"] == "see_doctor_first" and data["rules"][0] == "contra_blood_clot"
    assert {"outcome", "rules", "explanation"} <= set(data)


def test_evaluate_text(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("has_pain: yes\nsciatica: yes\n")
    r = cli("evaluate", str(answers))
    assert r.returncode == 0 and "Outcome: likely_to_help" in r.stdout and "helps_sciatica" in r.stdout


@pytest.mark.parametrize("content,message", [
    ("blood_clott: no\n", r"a.yaml:1: unknown question id 'blood_clott'"),
    ("has_pain: yes\nblood_clot: perhaps\n", r"a.yaml:2: answer to 'blood_clot' is 'perhaps'"),
    ("- yes\n- no\n", "expected a mapping"),
    ("blood_clot: [no\n", "YAML syntax error"),
    ("blood_clot: 3\n", "use yes, no or unsure"),
])
def test_evaluate_bad_answers_file(tmp_path, content, message):
    answers = tmp_path / "a.yaml"
    answers.write_text(content)
    r = cli("evaluate", str(answers))
    assert r.returncode == 2
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_rules_check_ok():
    r = cli("rules", "check", str(DEFAULT_RULES))
    assert r.returncode == 0 and "OK" in r.stdout


def test_rules_check_error_exit_code_and_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_RULES.read_text().replace("  - id: blood_clot\n", "  - id: open_wound_burn_fracture\n", 1))
    r = cli("rules", "check", str(bad))
    assert r.returncode == 2
    assert f"{bad}:" in r.stderr and "duplicate question id" in r.stderr and "fix:" in r.stderr


def test_text_with_bad_rules_file_fails_clearly(tmp_path):
    r = cli("text", "--rules", str(tmp_path / "missing.yaml"), stdin="yes\n")
    assert r.returncode == 2 and "file not found" in r.stderr


def test_core_packages_import_no_audio():
    code = ("import sys, rules, dialog, dialog.manager, dialog.interpret;"
            "bad = [m for m in ('vosk', 'sounddevice', 'pyttsx3', 'numpy') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
