"""kill -9 at random points while sessions are written: nothing committed is lost, the file stays sound."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

from store_support import REPO, add_session

from massage_check.store import TranscriptStore

# Writes sessions as fast as it can and reports each commit only after it returned.
WRITER = textwrap.dedent("""
    import sys, uuid
    sys.path.insert(0, sys.argv[2])
    from massage_check.store import TranscriptStore
    s = TranscriptStore.open(sys.argv[1], retention_days=0)
    n = 0
    while True:
        sid = s.begin_session({"session_id": uuid.uuid4().hex, "mode": "voice"})
        print("B", sid, flush=True)
        for i in range(6):
            s.add_turn(sid, {"index": i, "prompt": "question " + str(i) + " " + "x" * 300,
                             "heard": "no", "confidence": 0.8, "interpretation": "no", "answer": "no",
                             "question_id": "q" + str(i)})
            print("T", sid, i, flush=True)
        s.finish_session(sid, "likely_to_help", ["r"], "explained", {"q0": "no"}, "result")
        print("F", sid, flush=True)
        n += 1
        if n % 7 == 0:
            victim = s.list_sessions(status="completed")[-1].id
            print("d", victim, flush=True)    # about to delete: may be gone after a kill
            s.delete_session(victim)          # VACUUM under way when the kill comes, sometimes
            print("D", victim, flush=True)
""")


def _run_and_kill(data, delay: float) -> list[list[str]]:
    """Start a writer, let it write for `delay` seconds after its first commit, then SIGKILL it."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(data), str(REPO)],
                             stdout=subprocess.PIPE, text=True)
    lines: list[list[str]] = []
    writing = threading.Event()

    def read() -> None:
        for line in child.stdout:
            if line.endswith("\n"):              # only whole lines count: a kill can cut the last one short
                lines.append(line.split())
                writing.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert writing.wait(timeout=60), "the writer process never started writing"
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=20)
    reader.join(timeout=20)
    return lines


def test_sigkill_at_random_points_loses_nothing_committed(tmp_path):
    data = tmp_path / "data"
    rng = random.Random(20261127)
    expected_turns: dict[str, int] = {}
    finished: set[str] = set()
    deleted: set[str] = set()      # delete_session returned: must be gone
    deleting: set[str] = set()     # killed between "about to delete" and its return: either state is fine
    for _ in range(8):
        for kind, sid, *rest in _run_and_kill(data, rng.uniform(0.05, 1.0)):
            if kind == "B":
                expected_turns[sid] = 0
            elif kind == "T":
                expected_turns[sid] = int(rest[0]) + 1
            elif kind == "F":
                finished.add(sid)
            elif kind == "d":
                deleting.add(sid)
            elif kind == "D":
                deleted.add(sid)
        store = TranscriptStore.open(data)     # recovery happens here
        assert store.integrity_ok()
        stored = {s.id: s for s in store.list_sessions()}
        for sid, n in expected_turns.items():
            if sid in deleted:
                assert sid not in stored
                continue
            if sid in deleting and sid not in stored:
                continue
            assert sid in stored, f"committed session {sid} lost"
            assert stored[sid].turns >= n, f"session {sid}: {stored[sid].turns} turns stored, {n} committed"
            if sid in finished:
                assert stored[sid].status == "completed" and stored[sid].outcome == "likely_to_help"
            else:
                assert stored[sid].status in ("interrupted", "completed")
        assert not [s for s in stored.values() if s.status == "in_progress"]
        store.close()
    assert finished and len(expected_turns) > len(finished)      # the kills did land mid-session


def test_reading_while_a_session_is_being_written(tmp_path):
    """The review page reads while the dialog writes: no 'database is locked', no torn reads."""
    data = tmp_path / "data"
    writer_store = TranscriptStore.open(data)
    reader_store = TranscriptStore.open(data)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                add_session(writer_store, turns=5)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    t = threading.Thread(target=write)
    t.start()
    reads = 0
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            for summary in reader_store.list_sessions(limit=5):
                rec = reader_store.get_session(summary.id)
                assert [x["index"] for x in rec["turns"]] == list(range(len(rec["turns"])))
                if rec["status"] == "completed":
                    assert len(rec["turns"]) == 5
                reads += 1
    finally:
        stop.set()
        t.join(timeout=20)
    assert not errors, errors
    assert reads > 20
