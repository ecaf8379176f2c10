"""Retention: old sessions and their audio are deleted (at start-up and by purge), and really gone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from store_support import add_session

from massage_check.store import TranscriptStore

NOW = datetime.now(timezone.utc)


def test_startup_purge_deletes_only_sessions_older_than_retention(tmp_path):
    data = tmp_path / "data"
    store = TranscriptStore.open(data, keep_audio=True)
    old = add_session(store, started=NOW - timedelta(days=40), heard="OLDSECRETWORD")
    recent = add_session(store, started=NOW - timedelta(days=5))
    store.add_turn(old, {"index": 9, "prompt": "p", "heard": "x", "confidence": 0.5,
                         "interpretation": "no", "answer": "no"}, audio=b"RIFFold")
    assert (data / "audio" / old).is_dir()
    store.close()

    reopened = TranscriptStore.open(data, retention_days=30)          # purge runs at start-up
    assert reopened.report.purged == 1
    assert [s.id for s in reopened.list_sessions()] == [recent]
    assert not (data / "audio" / old).exists()
    reopened.close()
    # secure_delete + VACUUM + WAL truncation: the words are gone from every file, not just hidden
    for f in data.iterdir():
        if f.is_file():
            assert b"OLDSECRETWORD" not in f.read_bytes(), f.name


def test_zero_retention_keeps_everything_and_in_progress_sessions_are_never_purged(tmp_path):
    store = TranscriptStore.open(tmp_path, retention_days=0)
    add_session(store, started=NOW - timedelta(days=4000))
    live = add_session(store, started=NOW - timedelta(days=400), finish=False)
    assert TranscriptStore.open(tmp_path, retention_days=0).report.purged == 0
    assert store.purge(older_than_days=30) == 1                     # the finished one only
    assert [s.id for s in store.list_sessions()] == [live]


def test_list_filters_and_order(tmp_path):
    store = TranscriptStore.open(tmp_path)
    a = add_session(store, started=NOW - timedelta(days=3), outcome="ask_staff")
    b = add_session(store, started=NOW - timedelta(days=2), outcome="likely_to_help")
    c = add_session(store, started=NOW - timedelta(days=1), outcome="ask_staff")
    assert [s.id for s in store.list_sessions()] == [c, b, a]                    # newest first
    assert [s.id for s in store.list_sessions(outcome="ask_staff")] == [c, a]
    assert [s.id for s in store.list_sessions(since=NOW - timedelta(days=2, hours=1))] == [c, b]
    assert store.list_sessions(limit=1)[0].id == c and store.list_sessions()[0].turns == 3


def test_long_running_process_applies_retention_again(tmp_path):
    store = TranscriptStore.open(tmp_path, retention_days=30)     # purge ran at open
    old = add_session(store, started=NOW - timedelta(days=31))    # e.g. aged past retention since then
    assert store.maybe_purge() == 0 and old in [s.id for s in store.list_sessions()]   # not due yet
    store._last_purge -= 7 * 3600                                 # as if the kiosk had run for 7 hours
    new = add_session(store)                                      # starting a session applies it
    assert [s.id for s in store.list_sessions()] == [new]
