"""Damaged file, full disk, read-only disk: clear errors, and the dialog carries on regardless."""
from __future__ import annotations

import os
import subprocess

import pytest
from store_support import add_session, tmpfs, turn

from massage_check.store import SafeRecorder, StorageError, TranscriptStore

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")


def test_corrupt_database_is_moved_aside_and_a_fresh_one_started(tmp_path):
    data = tmp_path / "data"
    store = TranscriptStore.open(data)
    add_session(store)
    store.close()
    db = data / "transcripts.db"
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{db}{suffix}"):
            os.remove(f"{db}{suffix}")
    raw = bytearray(db.read_bytes())
    raw[0:100] = b"\x42" * 100                      # header destroyed: "file is not a database"
    db.write_bytes(bytes(raw))

    fresh = TranscriptStore.open(data)
    moved = fresh.report.corrupt_moved_to
    assert moved is not None and moved.exists() and moved.parent == data
    assert moved.read_bytes()[:100] == b"\x42" * 100   # the old file is kept as it was
    assert "damaged" in fresh.report.notices[0] and str(moved) in fresh.report.notices[0]
    assert fresh.list_sessions() == [] and fresh.integrity_ok()
    add_session(fresh)                              # and it works
    assert len(fresh.list_sessions()) == 1
    assert [e["action"] for e in fresh.audit_log()][-1] == "corrupt_database_replaced"


def test_damaged_pages_inside_the_file_are_detected(tmp_path):
    data = tmp_path / "data"
    store = TranscriptStore.open(data)
    for _ in range(30):
        add_session(store, turns=5)
    store.close()
    db = data / "transcripts.db"
    import sqlite3
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    page = 4096
    for p in range(2, len(raw) // page):            # scribble over every page but the first
        raw[p * page + 8: p * page + 200] = os.urandom(192)
    db.write_bytes(bytes(raw))
    fresh = TranscriptStore.open(data)
    assert fresh.report.corrupt_moved_to is not None
    assert fresh.integrity_ok() and fresh.list_sessions() == []


@needs_root
def test_full_disk_is_a_storage_error_naming_the_path_and_fix(tmp_path):
    with tmpfs(tmp_path / "small", "160k") as mnt:
        store = TranscriptStore.open(mnt / "data")
        sid = store.begin_session({"mode": "text"})
        with pytest.raises(StorageError) as err:
            for i in range(10_000):
                store.add_turn(sid, {**turn(i), "prompt": "x" * 2000})
        msg = str(err.value)
        assert str(mnt / "data") in msg and "full" in msg and "Free space" in msg
        # what was committed before the disk filled is still there and sound
        kept = store.get_session(sid)["turns"]
        assert len(kept) == i and store.integrity_ok()


@needs_root
def test_read_only_data_dir_is_a_storage_error_naming_the_path_and_fix(tmp_path):
    with tmpfs(tmp_path / "ro") as mnt:
        (mnt / "data").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(StorageError) as err:
            TranscriptStore.open(mnt / "data")
        assert str(mnt / "data") in str(err.value) and "writable" in str(err.value)


@needs_root
def test_disk_becoming_read_only_mid_session(tmp_path):
    with tmpfs(tmp_path / "ro2") as mnt:
        store = TranscriptStore.open(mnt / "data")
        sid = store.begin_session({"mode": "text"})
        store.add_turn(sid, turn(0))
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(StorageError) as err:
            store.add_turn(sid, turn(1))
        assert "transcripts.db" in str(err.value)
        assert "chmod" in str(err.value) or "Free space" in str(err.value) or "disk" in str(err.value)


def test_recorder_keeps_the_dialog_going_and_fills_gaps_at_the_end(tmp_path):
    """A failure mid-session is reported once; finish() rewrites the whole transcript."""
    warnings: list[str] = []
    data = tmp_path / "data"
    rec = SafeRecorder.open(data, warn=warnings.append)
    record = {"session_id": "feedface", "mode": "voice", "started_at": "2026-11-27T02:00:00+00:00",
              "turns": [], "outcome": None}
    rec.begin(record)
    rec.on_turn(turn(0))
    store = rec.store

    real_add = store.add_turn
    def broken_add(*a, **k):                        # the disk is briefly unwritable
        raise StorageError(store.path, "cannot write the transcript database (disk I/O error)", "Fix it.")
    store.add_turn = broken_add
    rec.on_turn(turn(1))
    rec.on_turn(turn(2))                           # no exception reaches the dialog
    assert not rec.ok and len(rec.errors) == 2 and len(warnings) == 1
    assert "transcript not saved" in warnings[0] and str(store.path) in warnings[0]
    store.add_turn = real_add

    record.update(turns=[turn(0), turn(1), turn(2)], outcome="ask_staff", rules=["r"], explanation="e",
                  answers={}, ended_by="result", ended_at="2026-11-27T02:05:00+00:00", completed=True)
    assert rec.finish(record) == "feedface"
    got = store.get_session("feedface")
    assert [t["index"] for t in got["turns"]] == [0, 1, 2]
    assert got["status"] == "completed" and got["outcome"] == "ask_staff"


def test_recorder_with_unopenable_store_never_raises(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    warnings: list[str] = []
    rec = SafeRecorder.open(blocker / "data", warn=warnings.append)
    rec.begin({"mode": "text"})
    rec.on_turn(turn(0))
    assert rec.finish({"mode": "text", "turns": [turn(0)], "outcome": "ask_staff"}) is None
    assert rec.store is None and not rec.ok
    assert len(warnings) == 1 and str(blocker) in warnings[0]


def test_next_session_shares_the_store_and_starts_clean(tmp_path):
    first = SafeRecorder.open(tmp_path / "data", warn=lambda m: None)
    first.begin({"session_id": "aaaa0001", "mode": "voice"})
    first.on_turn(turn(0))
    first.finish({"session_id": "aaaa0001", "outcome": "ask_staff", "ended_by": "result", "turns": [turn(0)]})
    second = first.next_session()
    assert second.store is first.store and second.session_id is None and second.ok
    second.on_turn(turn(0))                        # before begin: kept, written at begin
    second.begin({"session_id": "aaaa0002", "mode": "voice"})
    assert len(first.store.get_session("aaaa0002")["turns"]) == 1


def test_two_damaged_files_in_a_row_are_both_kept(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    moved = []
    for marker in (b"first", b"second"):
        (data / "transcripts.db").write_bytes(marker * 1000)
        store = TranscriptStore.open(data)
        moved.append(store.report.corrupt_moved_to)
        store.close()                               # last connection: WAL checkpointed and removed
    assert moved[0] != moved[1]
    assert moved[0].read_bytes().startswith(b"first") and moved[1].read_bytes().startswith(b"second")


def test_next_session_marks_an_abandoned_unfinished_session_interrupted(tmp_path):
    first = SafeRecorder.open(tmp_path / "data", warn=lambda m: None)
    first.begin({"session_id": "bbbb0001", "mode": "voice"})
    first.on_turn(turn(0))                          # ... and the loop gave up without a result
    second = first.next_session()
    rec = second.store.get_session("bbbb0001")
    assert rec["status"] == "interrupted" and rec["ended_at"] and len(rec["turns"]) == 1


def test_results_the_store_refused_are_kept_until_it_takes_them(tmp_path):
    """The disk stays full for two patients, then space is freed: both results are stored at the next
    session, once each (finish is called twice for a session that told the staff)."""
    rec = SafeRecorder.open(tmp_path / "data", warn=lambda m: None)
    store = rec.store
    real = store.save_transcript, store.finish_session, store.add_turn

    def full(*a, **k):
        raise StorageError(store.path, "the disk is full (database or disk is full)", "Free space.")

    ids = []
    for n in range(2):
        rec = rec.next_session()
        sid = f"cccc000{n}"
        rec.begin({"session_id": sid, "mode": "voice"})
        store.save_transcript = store.finish_session = store.add_turn = full        # the disk fills up
        rec.on_turn(turn(0))
        record = {"session_id": sid, "mode": "voice", "turns": [turn(0)], "outcome": "ask_staff",
                  "ended_by": "result", "ended_at": "2026-11-27T02:05:00+00:00"}
        assert rec.finish(record) is None and rec.finish(record) is None
        ids.append(sid)
    assert [store.get_session(s)["status"] for s in ids] == ["in_progress", "in_progress"]
    store.save_transcript, store.finish_session, store.add_turn = real            # space freed
    rec.next_session()
    for sid in ids:
        got = store.get_session(sid)
        assert got["status"] == "completed" and got["outcome"] == "ask_staff" and len(got["turns"]) == 1
    assert len(store.list_sessions()) == 2
