"""The kiosk keeps going when a part fails (issue 32): the speech synthesiser crashing, the recogniser
raising, the disk filling up. Each test runs the real kiosk loop (`voice.app.make_loop`, `SpeechLoop.kiosk`)
with real libvosk and the built-in model, the real dialog, real espeak-ng speech for the patient's answers
and the prompts, and the real transcript store (`massage-check run`'s `Recording`) in a real database file.
Only the sound card is replaced: the patient is a synthetic one (espeak-ng answers with room noise, fed
as a file would be) and prompts are "played" to a null device.

The microphone lost and back is `test_voice_kiosk_pulse.py` (the sound server killed mid-session); the
speaker unplugged and back, and SIGTERM mid-session, are `test_voice_kiosk_resilience.py` (real processes
on the PulseAudio virtual sound card).
"""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from store_support import tmpfs

from massage_check.commands.run import Recording
from massage_check.store import TranscriptStore, list_attention
from rules import load_questionnaire
from voice.app import VoiceSettings, make_loop
from voice.loop import KioskError
from voice.modelset import open_model
from voice.patient import ScriptedPatientSource
from voice.speaker import AudioSpeaker, EspeakSynth

VOICE = "en-gb"
MODEL = os.environ.get("MASSAGE_CHECK_TEST_MODEL", "answer-model")  # as in test_voice_loop.py
INTENT_OF = {"yes": "yes", "no": "no", "not sure": "unsure"}
ALL_NO = {}  # -> no_clear_need
BACK_PAIN = {"has_pain": "yes", "chronic_low_back_pain": "yes"}  # -> likely_to_help

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs as root)")


@pytest.fixture(scope="module")
def models():
    return open_model(MODEL, Path("/nonexistent-models-dir"))


@pytest.fixture(scope="module")
def questionnaire():
    return load_questionnaire()


class Patients:
    """One patient after another: "hello" while the kiosk is idle, then each patient's answers by
    question (default "no"), "is that right?" answered truthfully. Nothing more once all have been."""

    def __init__(self, scripts: list[dict[str, str]]):
        self.scripts = list(scripts)
        self.dm: Any = None
        self.script: dict[str, str] = {}

    def attach(self, dm: Any) -> None:
        self.dm, self.script = dm, (self.scripts.pop(0) if self.scripts else {})

    def next_line(self) -> str | None:
        dm = self.dm
        if dm is None or dm.finished:
            return "hello" if self.scripts else None
        if dm.listening_for is None:
            return None
        intended = self.script.get(dm.listening_for, "no")
        if dm.confirming:
            return "yes" if dm.pending_answer == INTENT_OF[intended] else "no"
        return intended


def null_play(clip: Any) -> float:
    """The sound card: a null device that has played the clip at once."""
    return time.monotonic()


class Kiosk:
    """`massage-check run`'s kiosk, wired as run_kiosk wires it, over the synthetic patient."""

    def __init__(self, models: Any, questionnaire: Any, data: Path, scripts: list[dict[str, str]],
                 speaker: Any = None, keep_audio: bool = False, monkeypatch: Any = None):
        monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(data))
        self.patients = Patients(scripts)
        self.recording = Recording(True, {"keep_audio": keep_audio, "review_refresh_seconds": 20})
        self.speaker = speaker or AudioSpeaker(EspeakSynth("en-us", 200), play=null_play)
        self.source = ScriptedPatientSource(self.patients.next_line, voice=VOICE)
        hooks = self.recording.hooks()

        def on_dialog(dm: Any) -> None:
            hooks["on_dialog"](dm)
            self.patients.attach(dm)

        settings = VoiceSettings(model=MODEL, models_dir=Path("/nonexistent-models-dir"))
        self.loop = make_loop(settings, self.source, self.speaker, questionnaire, mode="voice", models=models,
                              on_turn=hooks["on_turn"], on_dialog=on_dialog)
        self.recording.attach(self.loop)
        self.reports: list[Any] = []
        self.after_session: list[Any] = []  # test hooks, called after each session is stored

    def on_session(self, report: Any) -> None:
        self.recording.finish(report.transcript, report.interrupted)  # as run_kiosk's on_session
        self.patients.dm = None  # gone (after an interrupted session too): the next one says hello
        self.reports.append(report)
        for hook in self.after_session:
            hook(report)

    def run(self, sessions: int) -> int:
        return self.loop.kiosk(sessions=sessions, on_session=self.on_session)


def stored(data: Path) -> dict[str, dict[str, Any]]:
    store = TranscriptStore.open(data)
    try:
        assert store.integrity_ok()
        return {s.id: store.get_session(s.id) for s in store.list_sessions()}
    finally:
        store.close()


# -- the speech synthesiser fails ------------------------------------------------------------------


def broken_espeak(tmp_path: Path) -> tuple[Path, Path]:
    """An `espeak-ng` in front of the real one that crashes (SIGSEGV) while `flag` exists."""
    real = EspeakSynth("en-us").binary
    flag = tmp_path / "espeak-broken"
    wrapper = tmp_path / "bin" / "espeak-ng"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nif [ -e "{flag}" ]; then echo "espeak-ng: crashed" >&2; kill -SEGV $$; fi\n'
                       f'exec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, flag


def test_synthesiser_crashing_mid_session_prints_prompts_and_comes_back_by_itself(models, questionnaire, tmp_path,
                                                                                   monkeypatch, capsys):
    """The real espeak-ng behind a wrapper that crashes with SIGSEGV from the third turn of the first
    session to its end: the prompts it could not make are printed (cached ones still play), the
    patient gets the result, the session is stored; the synthesiser works again for the next patient
    and is used again by itself (not given up for minutes)."""
    wrapper, flag = broken_espeak(tmp_path)
    speaker = AudioSpeaker(EspeakSynth("en-us", 200, binary=str(wrapper)), play=null_play, retry_first=0.2)
    kiosk = Kiosk(models, questionnaire, tmp_path / "data", [BACK_PAIN, ALL_NO], speaker=speaker,
                  monkeypatch=monkeypatch)
    make = kiosk.loop.make_dialog

    def make_dialog() -> Any:
        dm = make()
        first_session = not kiosk.reports
        inner = dm.on_turn

        def breaking(turn: Any) -> None:
            inner(turn)
            if first_session and turn.index == 2:
                flag.touch()                   # the synthesiser starts crashing
        dm.on_turn = breaking
        return dm

    kiosk.loop.make_dialog = make_dialog
    kiosk.after_session.append(lambda report: flag.unlink(missing_ok=True))   # ... and is fixed
    assert kiosk.run(2) == 2
    first, second = kiosk.reports
    assert [r.outcome for r in kiosk.reports] == ["likely_to_help", "no_clear_need"]
    assert not first.interrupted and not second.interrupted
    printed = [s for s in first.spoken if s.how == "printed"]
    assert printed and any("SpeechUnavailable" in (s.error or "") for s in printed)
    assert first.spoken[-1].how == "printed"   # the result and goodbye were never synthesised before
    assert "massage-check says: " + first.spoken[-1].text in capsys.readouterr().out
    assert [s.how for s in second.spoken] == ["played"] * len(second.spoken)
    sessions = stored(tmp_path / "data")
    assert sorted(s["outcome"] for s in sessions.values()) == ["likely_to_help", "no_clear_need"]
    assert all(s["status"] == "completed" for s in sessions.values())


# -- the recogniser raises -------------------------------------------------------------------------


class FailingRecognizer:
    """The real VoskRecognizer with a fault injected at its boundary: `accept` raises (as a libvosk
    error would surface) while `failing` says so. Nothing in the real decoder can be made to fail
    mid-session on purpose (the model's graphs are all loaded before the first patient), so this is
    an injected exception, not a real one."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.failing: Any = lambda: False
        self.raised = 0

    def begin(self, phrases: Any = None) -> None:
        self.inner.begin(phrases)

    def accept(self, pcm: bytes) -> bool:
        if self.failing():
            self.raised += 1
            raise RuntimeError("libvosk: decoder failure (injected)")
        return self.inner.accept(pcm)

    def partial(self) -> str:
        return self.inner.partial()

    def result(self) -> Any:
        return self.inner.result()


def test_recogniser_raising_mid_session_interrupts_that_session_only(models, questionnaire, tmp_path, monkeypatch):
    kiosk = Kiosk(models, questionnaire, tmp_path / "data", [ALL_NO, BACK_PAIN], monkeypatch=monkeypatch)
    rec = kiosk.loop.recognizer = FailingRecognizer(kiosk.loop.recognizer)
    # the first session's fourth answer cannot be decoded, once
    rec.failing = lambda: (not kiosk.reports and kiosk.patients.dm is not None
                           and len(kiosk.patients.dm.transcript.turns) == 3 and rec.raised == 0)
    assert kiosk.run(2) == 2
    first, second = kiosk.reports
    assert rec.raised == 1
    assert first.interrupted and "decoder failure" in first.error and first.outcome is None
    assert not second.interrupted and second.error is None and second.outcome == "likely_to_help"
    sessions = stored(tmp_path / "data")
    cut = sessions[first.transcript["session_id"]]
    assert cut["status"] == "interrupted" and cut["outcome"] is None and len(cut["turns"]) == 3
    assert [t["answer"] for t in cut["turns"]][1:] == ["no", "no"]      # what was heard is kept
    assert sessions[second.transcript["session_id"]]["status"] == "completed"
    store = TranscriptStore.open(tmp_path / "data")
    flagged = {a.id: a for a in list_attention(store)}
    assert flagged[cut["session_id"]].reason == "session cut off before a result"   # the desk is told


def test_recogniser_raising_for_good_ends_the_kiosk_for_a_restart(models, questionnaire, tmp_path, monkeypatch):
    """Every turn raising (idle included): after three errors in a row the kiosk gives up with an error,
    so the process ends and its service restarts it, instead of spinning."""
    kiosk = Kiosk(models, questionnaire, tmp_path / "data", [ALL_NO], monkeypatch=monkeypatch)
    rec = kiosk.loop.recognizer = FailingRecognizer(kiosk.loop.recognizer)
    rec.failing = lambda: True
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="injected"):
        kiosk.run(1)
    assert rec.raised == 3 and 2.5 < time.monotonic() - started < 30   # waited 1 s, then 2 s, between tries


# -- a full disk -----------------------------------------------------------------------------------


def fill(directory: Path) -> Path:
    """Fill the file system under `directory` to the last byte, as another program writing a big file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


@needs_root
def test_disk_filling_up_mid_session_loses_nothing_committed(models, questionnaire, tmp_path, monkeypatch, capsys):
    """The data directory on a real 8 MB tmpfs, filled by another file after the third turn of the
    first session (answers' audio kept too): the patient still gets the result, the turns committed
    before are kept, a warning names the path and the fix; once space is freed (before the next
    patient), the first session is stored in full and the next one as usual."""
    with tmpfs(tmp_path / "small", "8m") as mnt:
        data = mnt / "data"
        kiosk = Kiosk(models, questionnaire, data, [BACK_PAIN, ALL_NO], keep_audio=True, monkeypatch=monkeypatch)
        filler: list[Path] = []
        committed: list[int] = []
        on_turn = kiosk.recording.on_turn

        def turn_then_fill(turn: Any) -> None:
            on_turn(turn)
            if not kiosk.reports and turn.index == 2:
                committed.append(len(stored(data)[kiosk.recording.current.session_id]["turns"]))
                filler.append(fill(mnt))
        kiosk.loop.make_dialog = _with_on_turn(kiosk.loop.make_dialog, turn_then_fill)
        kiosk.after_session.append(lambda report: filler and filler[0].unlink(missing_ok=True))
        assert kiosk.run(2) == 2
        first, second = kiosk.reports
        assert [r.outcome for r in kiosk.reports] == ["likely_to_help", "no_clear_need"]
        assert first.spoken[-1].text.endswith("Thank you, goodbye.")    # the result was said, then goodbye
        err = capsys.readouterr().err
        assert "transcript not saved" in err and str(data) in err and "Free space" in err
        assert committed == [3]
        sessions = stored(data)
        for report in kiosk.reports:
            got = sessions[report.transcript["session_id"]]
            assert got["status"] == "completed" and got["outcome"] == report.outcome
            assert [t["index"] for t in got["turns"]] == [t["index"] for t in report.transcript["turns"]]


def _with_on_turn(make_dialog: Any, on_turn: Any) -> Any:
    def made() -> Any:
        dm = make_dialog()
        dm.on_turn = on_turn
        return dm
    return made


# -- stopped while speaking ---------------------------------------------------------------------------


def test_stop_during_the_greeting_ends_after_the_prompt_playing(models, questionnaire, tmp_path, monkeypatch):
    """SIGTERM's handler sets `stop_event` (the subprocess test sends a real SIGTERM while listening);
    here it comes while the second greeting prompt plays: that prompt ends, no further one starts,
    and the session, begun but unanswered, is stored interrupted and flagged."""
    played: list[str] = []
    kiosk_ref: list[Kiosk] = []

    def play(clip: Any) -> float:
        played.append("x")
        if len(played) == 2:
            kiosk_ref[0].loop.stop_event.set()
        return time.monotonic()

    kiosk = Kiosk(models, questionnaire, tmp_path / "data", [ALL_NO], monkeypatch=monkeypatch,
                  speaker=AudioSpeaker(EspeakSynth("en-us", 200), play=play))
    kiosk_ref.append(kiosk)
    assert kiosk.run(None) == 1
    (report,) = kiosk.reports
    assert len(played) == 2 and len(report.spoken) == 2 and report.interrupted and report.error is None
    (rec,) = stored(tmp_path / "data").values()
    assert rec["status"] == "interrupted" and rec["turns"] == [] and rec["attention"]["flagged_at"]
