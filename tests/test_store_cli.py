"""`massage-check transcripts ...`: list, show, export (CSV/JSON), delete, purge, as staff would use them."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from store_support import REPO, add_session, env_for, mode

from massage_check.cli import main
from massage_check.store import TranscriptStore
from massage_check.store.export import CSV_COLUMNS

NOW = datetime.now(timezone.utc)


@pytest.fixture
def env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(data))
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(tmp_path / "config.yaml"))
    store = TranscriptStore.open(data)
    old = add_session(store, started=NOW - timedelta(days=10), outcome="ask_staff")
    new = add_session(store, started=NOW - timedelta(hours=1), outcome="see_doctor_first")
    store.add_turn(new, {"index": 3, "prompt": "Anything else?", "heard": "=HYPERLINK(\"x\") ünïcode",
                         "confidence": None, "interpretation": "not_understood", "answer": None})
    return store, old, new


def test_list_newest_first_with_filters(env, capsys):
    store, old, new = env
    assert main(["transcripts", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["ID", "STARTED", "MODE"]
    assert out[1].startswith(new[:8]) and out[2].startswith(old[:8]) and "see_doctor_first" in out[1]
    since = (NOW - timedelta(days=2)).date().isoformat()
    main(["transcripts", "list", "--since", since])
    assert old[:8] not in capsys.readouterr().out
    main(["transcripts", "list", "--outcome", "ask_staff"])
    out = capsys.readouterr().out
    assert old[:8] in out and new[:8] not in out


def test_bad_date_is_a_clear_error(env, capsys):
    with pytest.raises(SystemExit):
        main(["transcripts", "list", "--since", "last tuesday"])
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_show_by_prefix_and_unknown_id(env, capsys):
    store, old, new = env
    assert main(["transcripts", "show", new[:6]]) == 0
    out = capsys.readouterr().out
    assert new in out and "Outcome: see_doctor_first" in out and "heard 'no' (0.90)" in out
    assert "rule r_test" in out                        # a rule id no longer in the rules file still shows
    assert main(["transcripts", "show", "zzzzzz"]) == 2
    assert "no session with id 'zzzzzz'" in capsys.readouterr().err
    assert main(["transcripts", "show", new, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == new


def test_csv_export_one_row_per_turn_spreadsheet_safe(env, tmp_path, capsys):
    store, old, new = env
    out_file = tmp_path / "export.csv"
    assert main(["transcripts", "export", "--format", "csv", "--output", str(out_file)]) == 0
    assert mode(out_file) == 0o600
    raw = out_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")              # BOM: spreadsheets detect UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == 3 + 4                           # one row per turn
    assert {r["session_id"] for r in rows} == {old, new}
    tricky = [r for r in rows if r["turn_index"] == "3"][0]
    assert tricky["heard"] == "'=HYPERLINK(\"x\") ünïcode"   # a formula is neutralised, text kept
    assert tricky["confidence"] == "" and tricky["outcome"] == "see_doctor_first"
    assert tricky["fired_rules"] == "r_test"


def test_json_export_round_trips_and_filters(env, capsys):
    store, old, new = env
    assert main(["transcripts", "export", "--format", "json", "--outcome", "ask_staff"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "massage-check-transcripts/1"
    assert [s["session_id"] for s in doc["sessions"]] == [old]
    assert doc["sessions"][0] == store.get_session(old)


def test_delete_and_purge(env, capsys, monkeypatch):
    store, old, new = env
    assert main(["transcripts", "delete", new]) == 0
    assert [s.id for s in store.list_sessions()] == [old]
    assert main(["transcripts", "purge"]) == 0                 # retention 30 days: the 10-day one stays
    assert "Deleted 0 session(s)" in capsys.readouterr().out
    assert main(["transcripts", "purge", "--older-than", "7"]) == 0
    assert "Deleted 1 session(s)" in capsys.readouterr().out
    assert store.list_sessions() == []
    actions = [e["action"] for e in store.audit_log()]
    assert {"delete", "purge"} <= set(actions)
    assert all(e["actor"].startswith("cli:") for e in store.audit_log() if e["action"] in ("delete", "purge"))


def test_real_command_line_entry_point(env, tmp_path):
    store, old, new = env
    out = subprocess.run([sys.executable, "-m", "massage_check.cli", "transcripts", "list"],
                         env=env_for(tmp_path / "data", tmp_path / "config.yaml"), cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert new[:8] in out.stdout


def test_unwritable_data_dir_from_the_cli_is_one_clear_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(blocker / "data"))
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(tmp_path / "config.yaml"))
    assert main(["transcripts", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("massage-check: error: ") and str(blocker) in err and "data_dir" in err
    assert os.path.isfile(blocker)


def test_text_session_is_stored_turn_by_turn_and_a_broken_store_does_not_stop_it(tmp_path):
    env = env_for(tmp_path / "data", tmp_path / "config.yaml")
    run = subprocess.run([sys.executable, "-m", "massage_check.cli", "text", "--quiet"], input="no\n" * 30,
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    store = TranscriptStore.open(tmp_path / "data")
    [summary] = store.list_sessions()
    rec = store.get_session(summary.id)
    assert rec["mode"] == "text" and rec["status"] == "completed" and rec["outcome"]
    assert rec["turns"] and all(t["confidence"] is None for t in rec["turns"] if t["heard"])

    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    env["MASSAGE_CHECK_DATA_DIR"] = str(blocker / "data")
    run = subprocess.run([sys.executable, "-m", "massage_check.cli", "text", "--quiet"], input="no\n" * 30,
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip()                  # the patient still got a result
    assert "transcript not saved" in run.stderr and str(blocker) in run.stderr


def test_attention_list_and_acknowledge_from_the_command_line(env, capsys):
    store, old, new = env
    calm = add_session(store, outcome="likely_to_help")
    assert main(["transcripts", "list", "--attention"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "FLAGGED", "OUTCOME", "WHY"]
    assert [line.split()[0] for line in out[1:]] == [new[:8], old[:8]]        # see a doctor first, first
    assert calm[:8] not in "\n".join(out)
    main(["transcripts", "list", "--attention", "--outcome", "ask_staff"])
    assert new[:8] not in capsys.readouterr().out
    with pytest.raises(SystemExit):                                            # --by is required
        main(["transcripts", "ack", new[:6]])
    capsys.readouterr()
    assert main(["transcripts", "ack", new[:6], "--by", "Ann Lee"]) == 0
    assert f"Session {new[:8]} acknowledged by Ann Lee" in capsys.readouterr().out
    assert main(["transcripts", "ack", new[:6], "--by", "Bob"]) == 2
    assert "already acknowledged by Ann Lee" in capsys.readouterr().err
    assert main(["transcripts", "ack", calm[:6], "--by", "Bob"]) == 2
    assert "not flagged" in capsys.readouterr().err
    main(["transcripts", "list", "--attention"])
    out = capsys.readouterr().out
    assert new[:8] not in out and old[:8] in out
    main(["transcripts", "show", new[:6]])
    assert "acknowledged by Ann Lee" in capsys.readouterr().out
    entry = [e for e in store.audit_log() if e["action"] == "acknowledge"]
    assert len(entry) == 1 and entry[0]["actor"].startswith("cli:") and entry[0]["detail"] == "by Ann Lee"
