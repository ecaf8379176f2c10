"""`massage-check status`: a real model load, a real transcript database (read-only), real disk figures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from massage_check.store import TranscriptStore

ROOT = Path(__file__).resolve().parents[1]


def status(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MASSAGE_CHECK_DATA_DIR": str(tmp / "data"), "MASSAGE_CHECK_CONFIG": str(tmp / "config.yaml")}
    return subprocess.run([sys.executable, "-m", "massage_check.cli", "status", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)


def add_session(store: TranscriptStore, started: datetime, outcome: str | None) -> str:
    sid = store.begin_session({"started_at": started.isoformat(), "mode": "voice"})
    store.add_turn(sid, {"index": 0, "question_id": "blood_clot", "prompt": "Blood clot?", "heard": "yes",
                         "confidence": 0.9, "interpretation": "yes", "answer": "yes"})
    if outcome:
        store.finish_session(sid, outcome, ["blood_clot_yes"], "See a doctor about the clot first.",
                             {"blood_clot": "yes"}, "result")
    return sid


def test_status_reports_model_sessions_space_and_database(tmp_path) -> None:
    store = TranscriptStore.open(tmp_path / "data")
    now = datetime.now(timezone.utc)
    add_session(store, now - timedelta(days=3), "no_clear_need")
    add_session(store, now - timedelta(minutes=30), "likely_to_help")
    last = add_session(store, now - timedelta(minutes=5), "see_doctor_first")
    store.close()
    before = (tmp_path / "data" / "transcripts.db").read_bytes()
    r = status(tmp_path, "--json")
    s = json.loads(r.stdout)
    assert r.returncode == (1 if s["problems"] else 0)
    assert s["model"]["loaded"] and s["model"]["name"] == "answer-model" and s["model"]["path"].endswith("answer-model")
    assert s["sessions"]["total"] == 3 and s["sessions"]["needs_attention"] == 1
    # "today" is local midnight onwards; sessions 5 and 30 minutes old count unless midnight fell between
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    expected_today = sum(t >= midnight for t in (now - timedelta(minutes=30), now - timedelta(minutes=5)))
    assert s["sessions"]["today"] == expected_today
    assert s["sessions"]["last"]["id"] == last[:8] and s["sessions"]["last"]["status"] == "completed"
    shown = datetime.fromisoformat(s["sessions"]["last"]["started_at"])  # local time, whole seconds
    assert shown.tzinfo is not None and abs(shown - (now - timedelta(minutes=5))) < timedelta(seconds=1)
    assert s["database"]["health"] == "ok" and s["database"]["schema"] == 2
    assert s["data_dir"]["free_bytes"] > 0 and 0 < s["data_dir"]["free_percent"] <= 100
    assert {"state"} <= set(s["service"]) and {"found"} <= set(s["microphone"]) and {"found"} <= set(s["speaker"])
    assert "clot" not in r.stdout and "yes" not in r.stdout.replace('"yes"', "")  # no answers, no advice
    text = status(tmp_path)
    for label in ("model:", "microphone:", "speaker:", "service:", "last session:", "today:", "free space:", "database:"):
        assert label in text.stdout, label
    assert f"last session: {last[:8]} at " in text.stdout and "answer-model: loaded" in text.stdout
    assert (tmp_path / "data" / "transcripts.db").read_bytes() == before  # status changes nothing


def test_a_damaged_database_and_a_model_that_does_not_load_are_problems(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / "transcripts.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    (tmp_path / "config.yaml").write_text(f"model: {tmp_path / 'no-model'}\n")
    r = status(tmp_path, "--json")
    assert r.returncode == 1
    s = json.loads(r.stdout)
    assert s["database"]["health"] in ("error", "damaged") and not s["model"]["loaded"]
    assert any(p.startswith(f"database {db}") for p in s["problems"])
    assert any("does not load" in p and "no-model" in p for p in s["problems"])
    assert db.exists() and not list(db.parent.glob("*.corrupt-*"))  # left alone for the kiosk to handle


def test_a_config_error_is_reported_with_its_line_and_the_rest_still_checked(tmp_path) -> None:
    (tmp_path / "config.yaml").write_text("model: answer-model\nretention_dayz: 7\n")
    r = status(tmp_path)
    assert r.returncode == 1
    assert f"{tmp_path / 'config.yaml'}:2: unknown setting 'retention_dayz'" in r.stdout
    assert "answer-model: loaded" in r.stdout and "database:     none yet" in r.stdout
