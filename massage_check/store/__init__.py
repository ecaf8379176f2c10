"""Transcript storage: what each patient was asked and answered, for staff review.

    store = TranscriptStore.open(data_dir)          # or TranscriptStore.from_config()
    sid = store.begin_session(transcript_meta)
    store.add_turn(sid, turn)                       # one transaction per turn
    store.finish_session(sid, outcome, rules, explanation, answers, ended_by)

Front-ends use `SafeRecorder`, which never lets a storage failure stop the dialog.
"""
from massage_check.store.db import OpenReport, SessionSummary, TranscriptStore
from massage_check.store.errors import StorageError, UnknownSession
from massage_check.store.recorder import SafeRecorder

__all__ = ["OpenReport", "SafeRecorder", "SessionSummary", "StorageError", "TranscriptStore",
           "UnknownSession"]
