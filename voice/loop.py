"""The speech loop: speak the dialog's prompts, listen for the answer it expects, repeat.

Half duplex: the source is paused while prompts play and resumed (queue flushed,
guard interval) afterwards, and every turn starts with a reset recognizer, so
the skill never hears itself. The dialog itself (what to ask, what an answer
means) is `dialog.DialogManager`; this module only moves audio and text.

Each session has a `Pace` (voice.pace): how much quiet ends this patient's
answers. Speech that turns out to be the rest of the previous answer
(`Utterance.continues`) goes to `DialogManager.amend`, which reads the whole
answer again for the previous question: it never answers the new one.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .listener import ListenConfig, NoiseFloor, Utterance, listen
from .pace import Pace
from .recognizer import Recognizer, contains_phrase
from .sources import AudioSource
from .speaker import Speaker, Spoken

log = logging.getLogger(__name__)

ANSWER_INTENTS = ("yes", "no", "unsure")
SPEECH_INTENTS = ("yes", "no", "unsure", "repeat", "help", "back", "stop", "slower", "faster", "start")


@dataclass(frozen=True)
class LoopConfig:
    listen: ListenConfig = ListenConfig()
    abandon_seconds: float = 60.0  # no speech at all for this long: the patient has left
    idle_prompt: str | None = None  # said when the kiosk becomes idle (None: stay quiet)


@dataclass
class TurnTiming:
    """Latency of one answer: end of the patient's speech -> first sample of the reply.

    The endpoint delay is audio time (it is real time on a live microphone), so
    latencies measured on files equal what a patient would experience, as long
    as decoding keeps up with real time.
    """

    utterance: Utterance
    processing: float  # wall time from the endpoint decision to the first reply sample
    true_speech_end: float | None = None  # set by benchmarks that know where the speech really ended

    @property
    def heard(self) -> str:
        return self.utterance.hypothesis.text

    @property
    def endpoint_delay(self) -> float:
        u = self.utterance
        if self.true_speech_end is not None and u.endpoint_audio is not None:
            return max(0.0, u.endpoint_audio - self.true_speech_end)
        return u.endpoint_delay

    @property
    def latency(self) -> float:
        return self.endpoint_delay + self.processing


@dataclass
class SessionReport:
    transcript: dict[str, Any]
    outcome: str | None
    ended_by: str | None
    abandoned: bool
    timings: list[TurnTiming] = field(default_factory=list)
    spoken: list[Spoken] = field(default_factory=list)
    started_wall: float = 0.0
    first_prompt_wall: float | None = None  # monotonic time the first prompt's first sample left
    interrupted: bool = False  # cut off before its end (stopped, or an error): no result was given
    error: str | None = None  # what went wrong, if an error cut it off


def speech_phrases(vocabulary: Any, intents: Iterable[str], runtime_grammar: bool) -> list[str]:
    """The phrases a recognizer should accept for these intents.

    Static-graph models know only the `spoken` phrases. Runtime-grammar models
    also get the typed synonyms (real words only: no "y"/"?") plus negators and
    fillers, so "um not right" is decoded word for word. Corrections ("i mean")
    only matter around answers, so idle listening for "start" leaves them out.
    """
    chosen = [i for i in intents if i in SPEECH_INTENTS]
    answers = any(i in ANSWER_INTENTS for i in chosen)
    phrases: set[str] = {p for i in chosen for p in vocabulary.spoken.get(i, ())}
    if answers:
        phrases.update(vocabulary.corrections_spoken)
    if not runtime_grammar:
        return sorted(phrases)
    for intent in chosen:
        phrases.update(vocabulary.phrases(intent))
    if answers:
        phrases.update(vocabulary.corrections)
        phrases.update(vocabulary.negators)
    phrases.update(vocabulary.fillers)
    return sorted(p for p in phrases if all(len(w) > 1 and w.replace("'", "").isalpha() for w in p.split()))


def whole_reply(vocabulary: Any) -> Callable[[str], bool] | None:
    """Text -> True if the dialog reads it as a reply (an answer or a command), not yet or never
    one otherwise ("not", "um", "[unk]"): such text gets the listener's longer patience."""
    try:
        from dialog import NOT_UNDERSTOOD, NOTHING_HEARD, Interpreter  # noqa: PLC0415

        interpreter = Interpreter(vocabulary)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    return lambda text: interpreter(text).intent not in (NOTHING_HEARD, NOT_UNDERSTOOD)


class SpeechLoop:
    """Runs voice sessions over one source, one recognizer, one speaker."""

    def __init__(
        self,
        source: AudioSource,
        recognizer: Recognizer,
        speaker: Speaker,
        vocabulary: Any,
        make_dialog: Callable[[], Any],
        runtime_grammar: bool = False,
        config: LoopConfig = LoopConfig(),
        heard_type: Any = None,
        on_heard: Callable[[Utterance], None] | None = None,
        whole: Callable[[str], bool] | None = None,
    ):
        self.source = source
        self.recognizer = recognizer
        self.speaker = speaker
        self.vocabulary = vocabulary
        self.make_dialog = make_dialog
        self.runtime_grammar = runtime_grammar
        self.config = config
        self.on_heard = on_heard
        self.keep_audio = False  # collect each answer's audio (Utterance.audio) for the transcript store
        self.floor = NoiseFloor()
        self.stop_event = threading.Event()
        if heard_type is None:
            from dialog import Heard  # noqa: PLC0415

            heard_type = Heard
        self._heard = heard_type
        self.whole = whole or whole_reply(vocabulary)
        self.pace = self.new_pace()
        self._after_answer: float | None = None  # patient-clock seconds since the last answer ended
        self._talker_db: float | None = None  # this session's patient's level (their start phrase, answers)
        self._start_db: float | None = None   # the level of the start phrase that began the next session

    # -- pieces -----------------------------------------------------------
    def speech_end_of(self, utt: Utterance) -> float | None:
        """Where the answer's speech really ended, if the source knows (synthetic patients do)."""
        return getattr(self.source, "last_speech_end", None)

    def speak(self, prompts: Sequence[Any]) -> list[Spoken]:
        """Say prompts with the microphone deaf; resume listening only after the last sample."""
        self.source.pause()
        try:  # stopped (SIGTERM): the prompt playing ends, the next ones are not started
            return [self.speaker.say(p.text, getattr(p, "rate", 1.0), getattr(p, "kind", "info"))
                    for p in prompts if p.text and not self.stop_event.is_set()]
        finally:
            self.source.resume()

    def heard_patient(self, utt: Utterance) -> None:
        """Words understood (not unknown speech) were the patient's: their level is the one to expect.
        The loudest so far is kept, so a far-away answer once taken never lowers it."""
        words = utt.hypothesis.text.split()
        if utt.level is not None and words and any(w != "[unk]" for w in words):
            self._talker_db = utt.level if self._talker_db is None else max(self._talker_db, utt.level)

    def new_pace(self) -> Pace:
        cfg = self.config.listen
        return Pace(quick=cfg.end_silence, longest=max(cfg.end_silence, cfg.patient_silence))

    def hear(self, intents: Iterable[str], wall_timeout: float | None = None,
             listen_cfg: ListenConfig | None = None, answering: bool = True) -> Utterance:
        """One turn. `answering`: a reply in a session (the session's pace, and speech may be the
        rest of the last answer); idle listening for a start phrase is neither."""
        phrases = speech_phrases(self.vocabulary, intents, self.runtime_grammar)
        after = self._after_answer if answering else None
        if after is not None and not getattr(self.source, "continuous", False):
            after = float("inf")  # the patient heard the prompt end: only speech already going on continues
        utt = listen(self.source, self.recognizer, phrases, listen_cfg or self.config.listen,
                     stop=self.stop_event.is_set, wall_timeout=wall_timeout, floor=self.floor,
                     keep_audio=self.keep_audio, whole=self.whole, patience=self.pace if answering else None,
                     after_answer=after, talker_db=self._talker_db if answering else None)
        if answering:
            self._after_answer = utt.trailing_quiet if utt.heard else None
            self.pace.heard(utt)
            self.heard_patient(utt)
        log.info("heard %r (%s, confidence %s%s)", utt.hypothesis.text, utt.reason, utt.hypothesis.confidence,
                 ", the rest of the last answer" if utt.continues else "")
        if self.on_heard is not None:
            self.on_heard(utt)
        return utt

    # -- a session ----------------------------------------------------------
    def run_session(self, contain_errors: bool = False) -> SessionReport:
        """One patient, from greeting to result (or abandonment).

        Stopped mid-way (`stop_event`: SIGTERM), the session ends at once, `interrupted`,
        with what was heard so far and no made-up turns or result. `contain_errors` (the
        kiosk): an exception from the recognizer, speaker or dialog ends the session the
        same way, with `error` set, instead of propagating.
        """
        started = time.monotonic()
        dm = self.make_dialog()
        self.pace = self.new_pace()
        self._after_answer = None
        self._talker_db, self._start_db = self._start_db, None   # a new patient: known by their "start" only
        report = SessionReport({}, None, None, False, started_wall=started)
        try:
            self._converse(dm, report)
        except Exception as exc:
            if not contain_errors:
                raise
            log.exception("session cut off by an error")
            report.error = f"{type(exc).__name__}: {exc}"
        report.interrupted = not getattr(dm, "finished", True)
        record = dm.transcript.to_dict()
        report.transcript = record
        report.outcome = record.get("outcome")
        report.ended_by = record.get("ended_by")
        return report

    def _converse(self, dm: Any, report: SessionReport) -> None:
        prompts = dm.start()
        silent_since = time.monotonic()
        silent_audio = 0.0
        pending: Utterance | None = None
        pending_end: float | None = None  # where its speech really ended (read before the source moves on)
        while True:
            spoken = self.speak(prompts)
            report.spoken.extend(spoken)
            if spoken and report.first_prompt_wall is None:
                report.first_prompt_wall = spoken[0].started
            if pending is not None and spoken:
                report.timings.append(TurnTiming(pending, max(0.0, spoken[0].started - pending.endpoint_wall),
                                                 pending_end))
            if dm.finished or self.stop_event.is_set():
                break
            remaining = self.config.abandon_seconds - (time.monotonic() - silent_since)
            log.info("listening (question %s)", dm.listening_for)
            utt = self.hear(dm.expected, wall_timeout=max(0.5, remaining) if self.source.realtime else None)
            silent_audio = 0.0 if utt.heard else silent_audio + utt.audio_seconds
            if utt.heard:
                silent_since = time.monotonic()
            abandoned = (
                (not utt.heard)
                and (time.monotonic() - silent_since >= self.config.abandon_seconds
                     or silent_audio >= self.config.abandon_seconds)
            )
            if utt.reason == "stopped":  # the kiosk is being stopped: no made-up answers, no result
                log.warning("stopped mid-session (question %s): the session is interrupted", dm.listening_for)
                break
            if abandoned:
                prompts = self._abandon(dm)
                report.abandoned = True
                pending = None
                continue
            pending = utt if utt.heard else None
            pending_end = self.speech_end_of(utt)
            heard = self._heard(text=utt.hypothesis.text, confidence=utt.hypothesis.confidence)
            amend = getattr(dm, "amend", None)
            prompts = amend(heard) if utt.continues and callable(amend) else dm.handle(heard)
            if getattr(dm, "rate", 1.0) < 1.0:
                self.pace.asked_slower()

    def _abandon(self, dm: Any) -> list[Any]:
        """End a session nobody is answering any more (result: ask staff)."""
        abandon = getattr(dm, "abandon", None)
        if callable(abandon):
            return list(abandon())
        prompts: list[Any] = []
        for _ in range(100):  # the dialog ends a run of "nothing heard" on its own
            if dm.finished:
                break
            prompts = dm.handle(self._heard(text="", confidence=None))
        return prompts[-2:] if prompts else []

    # -- the kiosk -----------------------------------------------------------
    def wait_for_start(self) -> Utterance | None:
        """Idle: listen until a start phrase ("start", "hello", ...). None if stopped."""
        start_phrases = speech_phrases(self.vocabulary, ("start",), self.runtime_grammar)
        # Waiting-room chatter is not held on to: a start phrase said just after it must not join it.
        quick = self.config.listen.end_silence
        idle_cfg = ListenConfig(**{**self.config.listen.__dict__, "no_input_seconds": 30.0, "patient_silence": quick})
        while not self.stop_event.is_set():
            log.info("listening for a start phrase")
            utt = self.hear(("start",), wall_timeout=30.0 if self.source.realtime else None, listen_cfg=idle_cfg,
                            answering=False)
            if utt.heard and contains_phrase(utt.hypothesis.text, start_phrases):
                self._talker_db = None
                self.heard_patient(utt)    # whoever said "start" is the patient of this session
                self._start_db = self._talker_db
                return utt
            if utt.reason == "exhausted":
                return None
        return None

    def kiosk(self, sessions: int | None = None,
              on_session: Callable[[SessionReport], None] | None = None,
              max_errors: int = 3) -> int:
        """Idle -> session -> idle, forever (or `sessions` times). Returns sessions run.

        An error in a session (the recognizer raising, say) ends that session as interrupted
        (`on_session` still gets it, so it is stored as such) and the kiosk goes back to idle;
        an error while idle is retried after a pause (1 s, doubling up to 30 s). Only
        `max_errors` errors in a row with no good session between them are raised: then the
        process should end and be restarted (systemd), since something is broken for good.
        """
        done = 0
        errors = 0
        self.source.resume()
        while not self.stop_event.is_set() and (sessions is None or done < sessions):
            try:
                if self.wait_for_start() is None:
                    break
            except Exception:
                errors += 1
                if errors >= max_errors:
                    raise
                log.exception("error while idle (%d in a row); listening again", errors)
                self.stop_event.wait(min(30.0, 2.0 ** (errors - 1)))
                continue
            try:
                report = self.run_session(contain_errors=True)
            except Exception:  # before the dialog existed (making it): nothing to store, as while idle
                errors += 1
                if errors >= max_errors:
                    raise
                log.exception("error starting a session (%d in a row); listening again", errors)
                self.source.resume()
                self.stop_event.wait(min(30.0, 2.0 ** (errors - 1)))
                continue
            done += 1
            errors = errors + 1 if report.error else 0
            if on_session is not None:
                try:
                    on_session(report)
                except Exception:  # e.g. a transcript file on a full disk: the next patient still gets a check
                    log.exception("after the session")
                    errors += 0 if report.error else 1
            if errors >= max_errors:
                raise KioskError(f"{errors} errors in a row; last: {report.error or 'after the session'}")
            if report.error:
                self.source.resume()  # listen afresh: what was queued belonged to the failed session
            if self.config.idle_prompt:
                self.speak([_Text(self.config.idle_prompt)])
        return done


class KioskError(RuntimeError):
    """The kiosk keeps failing: better to end the process (and be restarted) than to go on."""


@dataclass(frozen=True)
class _Text:
    text: str
    rate: float = 1.0
    kind: str = "info"
