"""Sessions that need a person: flagged when they end (durably), queued for the desk, acknowledged by name."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from store_support import REPO, add_session, tmpfs

from massage_check.store import (AttentionError, SafeRecorder, TranscriptStore, UnknownSession, acknowledge,
                                 desk_seen_within, list_attention, note_desk_view)


def test_outcomes_that_need_a_person_are_flagged_when_they_end(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    flagged = {o: add_session(store, outcome=o) for o in ("see_doctor_first", "ask_staff")}
    calm = [add_session(store, outcome=o) for o in ("massage_with_care", "likely_to_help", "no_clear_need")]
    unfinished = add_session(store, finish=False)
    assert {a.id for a in list_attention(store)} == set(flagged.values())
    for sid in calm + [unfinished]:
        assert store.get_session(sid)["attention"] is None
    rec = store.get_session(flagged["ask_staff"])
    assert rec["attention"]["flagged_at"] and rec["attention"]["acknowledged_by"] is None
    summaries = {s.id: s for s in store.list_sessions()}
    assert summaries[flagged["see_doctor_first"]].attention_at and summaries[calm[0]].attention_at is None


def test_abandoned_and_cut_off_sessions_are_flagged(tmp_path):
    data = tmp_path / "data"
    store = TranscriptStore.open(data)
    rec = SafeRecorder(store)
    rec.begin({"mode": "voice"})
    abandoned = rec.session_id
    rec.next_session()                                   # the kiosk moved on without a result
    assert store.get_session(abandoned)["status"] == "interrupted"
    # a kiosk killed mid-session: flagged by the next process that opens the store
    writer = textwrap.dedent("""
        import sys, time
        sys.path.insert(0, sys.argv[2])
        from massage_check.store import TranscriptStore
        s = TranscriptStore.open(sys.argv[1])
        print(s.begin_session({"mode": "voice"}), flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", writer, str(data), str(REPO)], stdout=subprocess.PIPE, text=True)
    killed = child.stdout.readline().strip()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=20)
    assert killed not in {a.id for a in list_attention(store)}      # nobody has looked yet
    assert store.mark_interrupted() == [killed]                     # what the review page does each refresh
    items = {a.id: a for a in list_attention(store)}
    assert set(items) == {abandoned, killed}
    assert items[killed].reason == "session cut off before a result"


def test_queue_is_most_urgent_first_then_longest_waiting(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    first_unsure = add_session(store, outcome="ask_staff")
    time.sleep(0.01)
    doctor = add_session(store, outcome="see_doctor_first")
    time.sleep(0.01)
    second_unsure = add_session(store, outcome="ask_staff")
    assert [a.id for a in list_attention(store)] == [doctor, first_unsure, second_unsure]
    assert list_attention(store)[0].urgent and not list_attention(store)[1].urgent


def test_acknowledge_once_with_a_name_kept_in_the_audit_log(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    sid = add_session(store, outcome="see_doctor_first")
    calm = add_session(store, outcome="likely_to_help")
    with pytest.raises(AttentionError, match="name or initials"):
        acknowledge(store, sid, "  ", actor="cli:test")
    with pytest.raises(AttentionError, match="not flagged"):
        acknowledge(store, calm, "Ann", actor="cli:test")
    with pytest.raises(UnknownSession):
        acknowledge(store, "f" * 32, "Ann", actor="cli:test")
    item = acknowledge(store, sid, "Ann  Lee", actor="review:desk@127.0.0.1")
    assert (item.ack_by, item.id) == ("Ann Lee", sid) and item.ack_at
    assert list_attention(store) == [] and [a.id for a in list_attention(store, acknowledged=True)] == [sid]
    with pytest.raises(AttentionError, match="already acknowledged by Ann Lee"):
        acknowledge(store, sid, "Bob", actor="cli:test")
    log = [e for e in store.audit_log() if e["action"] == "acknowledge"]
    assert len(log) == 1 and log[0]["session_id"] == sid and log[0]["detail"] == "by Ann Lee"
    assert log[0]["actor"] == "review:desk@127.0.0.1"
    # finishing again (the recorder does, after the closing words) never clears the flag or the acknowledgement
    store.finish_session(sid, "see_doctor_first", ["r"], "again", {}, "result")
    assert store.get_session(sid)["attention"]["acknowledged_by"] == "Ann Lee"


def test_an_older_database_gains_the_columns_without_flagging_old_sessions(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    conn = sqlite3.connect(data / "transcripts.db")
    conn.executescript("""
        CREATE TABLE sessions (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT, mode TEXT NOT NULL,
            model TEXT, rules_file TEXT, rules_sha256 TEXT, status TEXT NOT NULL, completed INTEGER,
            ended_by TEXT, outcome TEXT, rules_json TEXT NOT NULL DEFAULT '[]', explanation TEXT,
            answers_json TEXT NOT NULL DEFAULT '{}', writer TEXT);
        INSERT INTO sessions (id, started_at, mode, status, outcome) VALUES
            ('0ld5e55', '2026-01-01T00:00:00.000+00:00', 'voice', 'completed', 'ask_staff');
        PRAGMA user_version = 1;
    """)
    conn.close()
    store = TranscriptStore.open(data)
    assert store._read("PRAGMA user_version")[0][0] == 2
    assert store.get_session("0ld5e55")["attention"] is None and list_attention(store) == []
    new = add_session(store, outcome="ask_staff")
    assert [a.id for a in list_attention(store)] == [new]


def test_desk_heartbeat(tmp_path):
    store = TranscriptStore.open(tmp_path / "data")
    assert not desk_seen_within(store, 60)
    note_desk_view(store, "review:K@127.0.0.1")
    assert desk_seen_within(store, 60)
    old = (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(timespec="milliseconds")
    with store._tx() as conn:
        conn.execute("UPDATE desk SET seen_at=?", (old,))
    assert not desk_seen_within(store, 60) and desk_seen_within(store, 600)


# Ends sessions that need a person, reporting each only after finish_session returned.
WRITER = textwrap.dedent("""
    import sys, uuid
    sys.path.insert(0, sys.argv[2])
    from massage_check.store import TranscriptStore
    s = TranscriptStore.open(sys.argv[1], retention_days=0)
    n = 0
    while True:
        sid = s.begin_session({"session_id": uuid.uuid4().hex, "mode": "voice"})
        print("B", sid, flush=True)
        for i in range(3):
            s.add_turn(sid, {"index": i, "prompt": "q" * 200, "heard": "yes", "confidence": 0.9,
                             "interpretation": "yes", "answer": "yes", "question_id": "q" + str(i)})
        n += 1
        s.finish_session(sid, ("see_doctor_first", "ask_staff", "likely_to_help")[n % 3], ["r"], "x", {}, "result")
        print("F", sid, n % 3, flush=True)
""")


def test_sigkill_never_loses_a_flag_that_was_reported(tmp_path):
    data = tmp_path / "data"
    rng = random.Random(32)
    begun: set[str] = set()
    flagged: set[str] = set()
    calm: set[str] = set()
    for _ in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(data), str(REPO)],
                                 stdout=subprocess.PIPE, text=True)
        lines: list[list[str]] = []
        started = threading.Event()

        def read() -> None:
            for line in child.stdout:
                if line.endswith("\n"):
                    lines.append(line.split())
                    started.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert started.wait(timeout=60)
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=20)
        reader.join(timeout=20)
        for kind, sid, *rest in lines:
            if kind == "B":
                begun.add(sid)
            elif rest[0] == "2":                            # likely_to_help
                calm.add(sid)
            else:
                flagged.add(sid)
        store = TranscriptStore.open(data)                  # marks the cut-off session interrupted
        assert store.integrity_ok()
        waiting = {a.id for a in list_attention(store, limit=10**9)}   # the page's limit is not under test
        assert flagged <= waiting, "a flag reported as committed was lost"
        assert not calm & waiting
        cut_off = begun - flagged - calm
        for sid in cut_off:                                 # begun, never finished: a person is needed
            assert sid in waiting or store.get_session(sid)["outcome"] is not None
        store.close()
    assert flagged and calm and cut_off


def test_tell_staff_commits_before_saying_so_and_only_when_true(tmp_path):
    from dialog import DialogManager, Heard
    from rules import load_questionnaire
    q = load_questionnaire()
    data = tmp_path / "data"
    red_flag = ["no"] * 5 + ["yes"]

    def run(answers: list[str], rec: SafeRecorder | None, within: float | None = 60) -> tuple[DialogManager, str]:
        seen: list[object] = []

        def on_end(t) -> bool:  # noqa: ANN001 - the dialog's Transcript
            told = rec.tell_staff(t, within)
            # another process's view of the file, at the moment the patient is about to hear the result
            other = TranscriptStore.open(data, purge=False).get_session(t.session_id)
            seen.append(other["attention"])
            return told

        dm = DialogManager(q, on_turn=rec.on_turn if rec else None, on_end=on_end if rec else None)
        if rec:
            rec.begin(dm.transcript)
        said = [p.text for p in dm.start()]
        for a in answers:
            said += [p.text for p in dm.handle(Heard(a))]
        if rec:
            rec.finish(dm.transcript)
            assert seen and (seen[0] is not None) == (dm.result.outcome.value in ("see_doctor_first", "ask_staff"))
        return dm, " ".join(said)

    notice = q.staff_told.notice
    store = TranscriptStore.open(data)
    dm, said = run(red_flag, SafeRecorder(store))              # nobody at the desk has the page open
    assert not dm.staff_told and notice not in said and "tell the staff at the desk now" in said
    note_desk_view(store, "review:K@127.0.0.1")
    dm, said = run(red_flag, SafeRecorder(store))
    assert dm.staff_told and notice in said and "desk" not in said.split("Please see your doctor")[1]
    assert said.index("Please see a doctor today") < said.index(notice)      # the medical advice is still said
    dm, said = run(["stop"], SafeRecorder(store))
    assert dm.staff_told and notice in said and "ask the staff at the desk" not in said
    dm, said = run(["no"] * 8 + ["yes", "yes"], SafeRecorder(store))          # likely to help: nobody is needed
    assert dm.result.outcome.value == "likely_to_help" and not dm.staff_told and notice not in said
    dm, said = run(red_flag, None)                                           # not stored (--no-store, demo)
    assert not dm.staff_told and notice not in said
    with pytest.raises(UnknownSession):
        store.get_session(dm.transcript.session_id)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_no_claim_when_the_flag_cannot_be_written(tmp_path):
    from dialog import DialogManager, Heard
    from rules import load_questionnaire
    q = load_questionnaire()
    with tmpfs(tmp_path / "small", size="256k") as mnt:
        store = TranscriptStore.open(mnt / "data")
        note_desk_view(store, "review:K@127.0.0.1")
        rec = SafeRecorder(store, warn=lambda m: None)
        dm = DialogManager(q, on_turn=rec.on_turn, on_end=lambda t: rec.tell_staff(t, 60))
        rec.begin(dm.transcript)
        dm.start()
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        said = []
        for a in ["no"] * 5 + ["yes"]:
            said += [p.text for p in dm.handle(Heard(a))]
        assert dm.result.outcome.value == "see_doctor_first"
        assert not dm.staff_told and q.staff_told.notice not in " ".join(said)
        assert "tell the staff at the desk now" in " ".join(said) and not rec.ok


def test_kiosk_recording_wires_the_claim_and_stores_what_was_said(tmp_path, monkeypatch):
    """`massage-check run`'s Recording: the same dialog object the voice loop makes, minus the audio."""
    from dialog import DialogManager, Heard
    from massage_check import config
    from massage_check.commands.run import Recording
    from rules import load_questionnaire
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text("review_refresh_seconds: 30\n")
    cfg = config.load_config()
    q = load_questionnaire()
    for stored in (True, False):
        recording = Recording(stored, cfg)
        assert recording.desk_within == 90
        if stored:
            note_desk_view(recording.base.store, "review:K@127.0.0.1")
        dm = DialogManager(q, mode="voice", on_turn=recording.on_turn)
        recording.on_dialog(dm)                   # what voice.app.make_loop calls for each new session
        dm.start()
        said = " ".join(p.text for a in ["no"] * 5 + ["unsure"] + ["no"] * 3 for p in dm.handle(Heard(a)))
        recording.finish(dm.transcript.to_dict())
        assert dm.result.outcome.value == "ask_staff"
        assert (q.staff_told.notice in said) is stored and ("ask the staff at the desk" in said) is not stored
    store = TranscriptStore.open(tmp_path / "data")
    (item,) = list_attention(store)
    rec = store.get_session(item.id)
    assert q.staff_told.notice in rec["turns"][-1]["prompt"] and item.reason == "unsure about a safety question"


def test_told_wording_keeps_the_number_and_kinds_of_closing_prompts():
    """The voice loop's abandon path says only the last two prompts: the result must stay among them."""
    from dialog import DialogManager, Heard
    from rules import load_questionnaire
    q = load_questionnaire()
    for answers in (["no"] * 5 + ["yes"], ["yes", "stop"], ["stop"], [""] * 3):
        ends = []
        for on_end in (None, lambda t: True):
            dm = DialogManager(q, on_end=on_end)
            dm.start()
            for a in answers:
                last = dm.handle(Heard(a))
            ends.append(last)
        plain, told = ends
        assert [p.kind for p in plain] == [p.kind for p in told], answers
        assert q.staff_told.notice in told[-1].text and q.staff_told.notice not in " ".join(p.text for p in plain)
        if any(p.kind == "result" for p in plain):
            assert told[-2].kind == "result"
