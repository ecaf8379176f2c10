"""Transcript store: round trip, validation, privacy (modes, audio), interrupted sessions."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from store_support import REPO, add_session, mode, turn

from massage_check.store import SafeRecorder, TranscriptStore, UnknownSession


def test_round_trip_keeps_every_field(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    sid = store.begin_session({"session_id": "abc123", "started_at": "2026-11-27T03:30:00.5+01:00",
                               "mode": "voice", "model": "answer-model", "rules_file": "rules/massage.yaml",
                               "rules_sha256": "f" * 64})
    store.add_turn(sid, turn(0, heard="", conf=0.0, answer=None))
    store.add_turn(sid, turn(1, heard="yes please", conf=0.42, answer="yes"))
    store.finish_session(sid, "see_doctor_first", ["clot", "other"], "Because.", {"blood_clot": "yes"},
                         "result", completed=True, ended_at="2026-11-27T02:31:00+00:00")
    rec = TranscriptStore.open(tmp_path / "data").get_session(sid)
    assert rec["started_at"] == "2026-11-27T02:30:00.500+00:00"   # normalised to UTC
    assert (rec["mode"], rec["model"], rec["rules_sha256"]) == ("voice", "answer-model", "f" * 64)
    assert (rec["status"], rec["outcome"], rec["ended_by"], rec["completed"]) == \
        ("completed", "see_doctor_first", "result", True)
    assert rec["rules"] == ["clot", "other"] and rec["answers"] == {"blood_clot": "yes"}
    assert [t["heard"] for t in rec["turns"]] == ["", "yes please"]       # "" (nothing heard) is not None
    assert rec["turns"][1]["confidence"] == pytest.approx(0.42)
    assert rec["turns"][1]["answer"] == "yes" and rec["turns"][0]["answer"] is None


def test_real_dialog_turns_and_transcript_are_stored_as_the_dialog_recorded_them(tmp_path):
    from dialog import DialogManager, Heard
    from rules import load_questionnaire
    rec = SafeRecorder.open(tmp_path / "data")
    dm = DialogManager(load_questionnaire(), mode="text", on_turn=rec.on_turn)
    rec.begin(dm.transcript)
    dm.start()
    while not dm.finished:
        dm.handle(Heard("no"))
        # each turn is committed as it happens, not at the end
        assert len(rec.store.get_session(dm.transcript.session_id)["turns"]) == len(dm.transcript.turns)
    assert rec.finish(dm.transcript) == dm.transcript.session_id and rec.ok
    got = rec.store.get_session(dm.transcript.session_id)
    want = dm.transcript.to_dict()
    for key in ("session_id", "mode", "rules_file", "rules_sha256", "outcome", "rules", "explanation",
                "answers", "ended_by", "completed"):
        assert got[key] == want[key], key
    assert [(t["question_id"], t["prompt"], t["heard"], t["interpretation"], t["answer"]) for t in got["turns"]] \
        == [(t["question_id"], t["prompt"], t["heard"], t["interpretation"], t["answer"]) for t in want["turns"]]
    assert got["status"] == "completed"


@pytest.mark.parametrize("bad, message", [
    ({"index": -1}, "index"),
    ({"index": True}, "index"),
    ({"confidence": 1.5}, "confidence"),
    ({"answer": "maybe"}, "answer"),
    ({"heard": 12}, "heard"),
    ({"time": "yesterday"}, "ISO-8601"),
])
def test_bad_turns_are_refused_with_the_field_named(tmp_path, bad, message):
    store = TranscriptStore.open(tmp_path)
    sid = store.begin_session({"mode": "text"})
    with pytest.raises(ValueError, match=message):
        store.add_turn(sid, {**turn(0), **bad})
    assert store.get_session(sid)["turns"] == []


def test_turn_for_unknown_session_is_a_clear_error(tmp_path):
    store = TranscriptStore.open(tmp_path)
    with pytest.raises(UnknownSession, match="begin_session"):
        store.add_turn("nope", turn(0))


def test_private_permissions_even_when_directory_was_created_loose(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    store = TranscriptStore.open(data)
    add_session(store)
    assert mode(data) == 0o700
    for name in ("transcripts.db", "transcripts.db-wal", "transcripts.db-shm"):
        assert mode(data / name) == 0o600, name


def test_no_audio_kept_unless_configured(tmp_path):
    off = TranscriptStore.open(tmp_path / "off")
    sid = off.begin_session({"mode": "voice"})
    off.add_turn(sid, turn(0), audio=b"RIFF....WAVE")
    assert not (tmp_path / "off" / "audio").exists()
    assert "audio" not in off.get_session(sid)["turns"][0]

    on = TranscriptStore.open(tmp_path / "on", keep_audio=True)
    sid = on.begin_session({"mode": "voice"})
    on.add_turn(sid, turn(0), audio=b"RIFF....WAVE")
    path = on.get_session(sid)["turns"][0]["audio"]
    assert open(path, "rb").read() == b"RIFF....WAVE"
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700 and mode(tmp_path / "on" / "audio") == 0o700
    on.delete_session(sid)
    assert not os.path.exists(path)


def test_id_prefix_resolution(tmp_path):
    store = TranscriptStore.open(tmp_path)
    a = store.begin_session({"session_id": "aaaa1111", "mode": "text"})
    store.begin_session({"session_id": "aaaa2222", "mode": "text"})
    assert store.resolve_id("aaaa1") == a
    with pytest.raises(UnknownSession, match="more than one"):
        store.resolve_id("aaaa")
    with pytest.raises(UnknownSession, match="at least 4"):
        store.resolve_id("aa")
    with pytest.raises(UnknownSession, match="no session"):
        store.resolve_id("bbbb")


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from massage_check.store import TranscriptStore
    s = TranscriptStore.open(sys.argv[1])
    sid = s.begin_session({"session_id": "deadbeef", "mode": "voice"})
    s.add_turn(sid, {"index": 0, "prompt": "hello", "heard": "yes", "confidence": 0.9,
                     "interpretation": "yes", "answer": "yes", "question_id": "q"})
    print("ready", flush=True)
    if sys.argv[3] == "wait":
        sys.stdin.readline()
""")


def test_session_of_a_dead_writer_becomes_interrupted_but_a_live_one_does_not(tmp_path):
    data = tmp_path / "data"
    live = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(REPO), "wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "ready"
        store = TranscriptStore.open(data)          # e.g. the review page opening meanwhile
        assert store.get_session("deadbeef")["status"] == "in_progress"
        assert store.report.interrupted == ()
    finally:
        live.stdin.close()
        live.wait(timeout=20)
    store = TranscriptStore.open(data)
    assert store.report.interrupted == ("deadbeef",)
    rec = store.get_session("deadbeef")
    assert rec["status"] == "interrupted" and len(rec["turns"]) == 1 and rec["outcome"] is None
    assert any("interrupted" in n for n in store.report.notices)


def test_newer_schema_is_refused(tmp_path):
    TranscriptStore.open(tmp_path)
    with sqlite3.connect(tmp_path / "transcripts.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(Exception, match="newer massage-check"):
        TranscriptStore.open(tmp_path)
