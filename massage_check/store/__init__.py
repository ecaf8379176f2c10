"""Transcript storage: what each patient was asked and answered, for staff review.

    store = TranscriptStore.open(data_dir)          # or TranscriptStore.from_config()
    sid = store.begin_session(transcript_meta)
    store.add_turn(sid, turn)                       # one transaction per turn
    store.finish_session(sid, outcome, rules, explanation, answers, ended_by)

Front-ends use `SafeRecorder`, which never lets a storage failure stop the dialog.
Sessions that need a person are flagged when they end (`attention`).
"""
from massage_check.store.attention import (ATTENTION_OUTCOMES, AttentionError, AttentionItem, acknowledge,
                                         desk_seen_within, list_attention, needs_attention, note_desk_view)
from massage_check.store.db import OpenReport, SessionSummary, TranscriptStore
from massage_check.store.errors import StorageError, UnknownSession
from massage_check.store.recorder import SafeRecorder

__all__ = ["ATTENTION_OUTCOMES", "AttentionError", "AttentionItem", "OpenReport", "SafeRecorder",
           "SessionSummary", "StorageError", "TranscriptStore", "UnknownSession", "acknowledge",
           "desk_seen_within", "list_attention", "needs_attention", "note_desk_view"]
