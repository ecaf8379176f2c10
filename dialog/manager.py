"""The dialog state machine: prompts out, interpreted utterances in.

It knows nothing about audio: a keyboard, a WAV file or a microphone feed it
`Heard` events and speak its `Prompt`s. Every path ends in a bounded number of
turns: three failed attempts on one question, a per-question turn cap and a
session turn cap all end the session as `ask_staff`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from rules import Evaluation, Outcome, Questionnaire, evaluate, next_question

from .interpret import (NOT_UNDERSTOOD, NOTHING_HEARD, UNKNOWN_TOKEN, Interpretation, Interpreter,
                        default_interpreter, tokenize)
from .transcript import Transcript, Turn, iso, utc_now
from .vocabulary import ANSWER_INTENTS, COMMAND_INTENTS

MAX_FAILURES = 3            # failed attempts (silence or not understood) on one question
MAX_TURNS_PER_QUESTION = 10  # repeat/help/slower... loops end too
RATE_STEP = 0.8             # "slower" multiplies the speaking rate by this, "faster" divides
MIN_RATE, MAX_RATE = 0.5, 1.6

ANSWER_WORDS = {"yes": "yes", "no": "no", "unsure": "not sure"}
SPOKE_TOO_SOON = "Sorry, I spoke too soon."


@dataclass(frozen=True)
class Heard:
    """What came back from the patient: text (None or "" = nothing heard) and 0..1 confidence."""

    text: str | None
    confidence: float | None = None


@dataclass(frozen=True)
class Prompt:
    kind: str                  # info | question | reprompt | confirm | help | result | goodbye
    text: str
    question_id: str | None = None
    rate: float = 1.0          # relative speaking rate the patient asked for


@dataclass(frozen=True)
class _State:
    """What a reply can change, kept so a reply that turns out longer can be read again (amend)."""

    answers: dict[str, str]
    history: list[int]
    current: int | None
    pending: str | None
    failures: int
    turns_here: int
    rate: float


def _lower(a: float | None, b: float | None) -> float | None:
    known = [c for c in (a, b) if c is not None]
    return min(known) if known else None


class DialogManager:
    def __init__(
        self,
        questionnaire: Questionnaire,
        *,
        confidence_threshold: float = 0.6,
        interpreter: Interpreter | None = None,
        mode: str = "text",
        model: str | None = None,
        on_turn: Callable[[Turn], None] | None = None,
        on_end: Callable[[Transcript], bool] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.q = questionnaire
        self.threshold = confidence_threshold
        self.interpret = interpreter or default_interpreter()
        self.on_turn = on_turn
        # Called with the finished transcript before the result is spoken; True means the
        # staff have really been told (stored and flagged), so the rules file's
        # `staff_told` wording is said instead of sending the patient to the desk.
        self.on_end = on_end
        self.staff_told = False
        self.clock = clock
        self.transcript = Transcript(mode=mode, rules_file=questionnaire.path,
                                     rules_sha256=questionnaire.sha256, model=model,
                                     started_at=iso(clock()))
        self.answers: dict[str, str] = {}
        self.rate = 1.0
        self.result: Evaluation | None = None
        self.finished = False
        self._current: int | None = None       # index of the question being asked
        self._history: list[int] = []          # indices of answered questions, for "back"
        self._pending: str | None = None       # answer awaiting confirmation
        self._failures = 0
        self._turns_here = 0
        self._spoken: list[str] = []            # prompt texts since the last reply
        self._max_turns = (len(questionnaire.questions) + 2) * MAX_TURNS_PER_QUESTION
        self._started = False
        self._before: tuple[Heard, _State] | None = None  # the last reply and the state it found
        self._apologise = False

    # ---- what the outside world may ask ----------------------------------
    @property
    def listening_for(self) -> str | None:
        """The question id a reply would answer (None before start or after the end)."""
        if self.finished or self._current is None:
            return None
        return self.q.questions[self._current].id

    @property
    def confirming(self) -> bool:
        return self._pending is not None

    @property
    def pending_answer(self) -> str | None:
        """The answer being read back for confirmation ("I heard yes: ..."), if any."""
        return self._pending

    @property
    def expected(self) -> frozenset[str]:
        """Intents that mean something now: lets a recogniser restrict its grammar."""
        if self.finished:
            return frozenset()
        commands = set(COMMAND_INTENTS) - {"start"}
        if self.confirming:
            return frozenset({"yes", "no"} | commands)
        return frozenset(set(ANSWER_INTENTS) | commands)

    # ---- the two entry points --------------------------------------------
    def start(self) -> list[Prompt]:
        if self._started:
            raise RuntimeError("start() was already called for this session")
        self._started = True
        s = self.q.script
        out = [self._p("info", s.greeting), self._p("info", s.privacy), self._p("info", s.instructions)]
        return out + self._advance(-1)

    def handle(self, heard: Heard) -> list[Prompt]:
        """Feed one reply; returns what to say next. After the end, returns []."""
        return self._handle(heard, None)

    def _handle(self, heard: Heard, meaning: Interpretation | None) -> list[Prompt]:
        if not self._started:
            raise RuntimeError("call start() before handle()")
        if self.finished:
            return []
        self._before = (heard, self._state())
        meaning = meaning or self.interpret(heard.text, heard.confidence)
        self._turns_here += 1
        if len(self.transcript.turns) + 1 >= self._max_turns or self._turns_here > MAX_TURNS_PER_QUESTION:
            self._record(heard, meaning, None)
            return self._end("turn_limit", self.q.script.ask_staff_failures)
        handler = getattr(self, f"_on_{meaning.intent}", None)
        if meaning.intent in ANSWER_INTENTS:
            return self._on_answer(heard, meaning)
        if handler is None:  # "start" in the middle of a question, or anything unexpected
            return self._failed(heard, meaning)
        return handler(heard, meaning)

    def amend(self, more: Heard) -> list[Prompt]:
        """The patient went on speaking after their last reply was taken ("no ... not really",
        "yes ... I mean no"): read all of it as that reply instead, so the rest of an answer never
        answers the next question. The dialog goes back to where the reply found it and handles
        the joined reply there (confidence: the lower of the two); the transcript keeps both turns.
        If either part is unknown speech alone, the whole is not understood: the speech model
        never mixes unknown words with answers in one utterance, so "[unk]" + "i think so" may
        have been "i don't ... think so", and is asked again rather than read as yes."""
        if not self._started:
            raise RuntimeError("call start() before amend()")
        if self._before is None or self.finished:
            return self.handle(more)
        last, state = self._before
        joined = Heard(" ".join(t for t in (last.text, more.text) if t), _lower(last.confidence, more.confidence))
        meaning = None
        if any(self._unknown_only(part) for part in (last, more)):
            meaning = Interpretation(NOT_UNDERSTOOD, joined.confidence, (), "part of a paused answer was unknown")
        self._restore(state)
        self._apologise = True  # said first after the joined reply, so the transcript has it in order
        out = self._handle(joined, meaning)
        return [Prompt("info", SPOKE_TOO_SOON, None, self.rate)] + out

    def _unknown_only(self, heard: Heard) -> bool:
        tokens = tokenize(heard.text or "")
        return bool(tokens) and all(t == UNKNOWN_TOKEN for t in tokens)

    def _state(self) -> "_State":
        return _State(dict(self.answers), list(self._history), self._current, self._pending, self._failures,
                      self._turns_here, self.rate)

    def _restore(self, state: "_State") -> None:
        self.answers = dict(state.answers)
        self._history = list(state.history)
        self._current, self._pending = state.current, state.pending
        self._failures, self._turns_here, self.rate = state.failures, state.turns_here, state.rate

    # ---- intents ---------------------------------------------------------
    def _on_answer(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        question = self.q.questions[self._current]
        if self.confirming:
            if meaning.intent == "yes":
                answer, self._pending = self._pending, None
                self._record(heard, meaning, answer)
                return self._accept(answer)
            self._pending = None
            self._record(heard, meaning, None)
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                return self._end("failures", self.q.script.ask_staff_failures)
            return [self._p("reprompt", "All right, let's try again.")] + self._ask(question.prompt)
        low = heard.confidence is not None and heard.confidence < self.threshold
        if question.safety and low:
            self._pending = meaning.intent
            self._record(heard, meaning, None)
            return [self._p("confirm", self._confirm_text(meaning.intent), question.id)]
        self._record(heard, meaning, meaning.intent)
        return self._accept(meaning.intent)

    def _on_repeat(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        self._record(heard, meaning, None)
        if self.confirming:
            return [self._p("confirm", self._confirm_text(self._pending), self.listening_for)]
        return self._ask(self.q.questions[self._current].prompt)

    def _on_help(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        self._record(heard, meaning, None)
        question = self.q.questions[self._current]
        return [self._p("help", f"{question.help} Please answer yes, no, or not sure.", question.id)] + \
            self._ask(question.short, kind="reprompt")

    def _on_back(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        self._record(heard, meaning, None)
        self._pending = None
        if not self._history:
            return [self._p("info", "This is the first question.")] + \
                self._ask(self.q.questions[self._current].prompt)
        previous = self._history.pop()
        self.answers.pop(self.q.questions[previous].id, None)
        self._set_current(previous)
        return [self._p("info", "Going back.")] + self._ask(self.q.questions[previous].prompt)

    def _on_stop(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        self._record(heard, meaning, None)
        return self._end("stop", self.q.script.stopped)

    def _on_slower(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        return self._change_rate(heard, meaning, RATE_STEP, "I will speak more slowly.")

    def _on_faster(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        return self._change_rate(heard, meaning, 1 / RATE_STEP, "I will speak a little faster.")

    def _on_nothing_heard(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        return self._failed(heard, meaning)

    def _on_not_understood(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        return self._failed(heard, meaning)

    # ---- mechanics -------------------------------------------------------
    def _failed(self, heard: Heard, meaning: Interpretation) -> list[Prompt]:
        self._record(heard, meaning, None)
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            return self._end("failures", self.q.script.ask_staff_failures)
        question = self.q.questions[self._current]
        if self.confirming:
            return [self._p("confirm", "Please say yes or no. " + self._confirm_text(self._pending), question.id)]
        if meaning.intent == NOTHING_HEARD and self._failures == 1:
            return self._ask(question.short, kind="reprompt")
        return [self._p("reprompt", "Sorry, I did not catch that. You can say yes, no, or not sure.",
                        question.id)] + self._ask(question.short, kind="reprompt")

    def _change_rate(self, heard: Heard, meaning: Interpretation, factor: float, text: str) -> list[Prompt]:
        self._record(heard, meaning, None)
        self.rate = min(MAX_RATE, max(MIN_RATE, round(self.rate * factor, 3)))
        if self.confirming:
            return [self._p("info", text), self._p("confirm", self._confirm_text(self._pending),
                                                   self.listening_for)]
        return [self._p("info", text)] + self._ask(self.q.questions[self._current].prompt)

    def _accept(self, answer: str) -> list[Prompt]:
        question = self.q.questions[self._current]
        self.answers[question.id] = answer
        self._history.append(self._current)
        return self._advance(self._current)

    def _advance(self, after: int) -> list[Prompt]:
        nxt = next_question(self.q, self.answers, after)
        if nxt is None:
            return self._end("result", None)
        self._set_current(nxt)
        return self._ask(self.q.questions[nxt].prompt)

    def _set_current(self, index: int) -> None:
        self._current = index
        self._failures = 0
        self._turns_here = 0

    def _ask(self, text: str, kind: str = "question") -> list[Prompt]:
        return [self._p(kind, text, self.q.questions[self._current].id)]

    def _confirm_text(self, answer: str | None) -> str:
        question = self.q.questions[self._current]
        if answer == "yes":
            heard = f"I heard yes: {question.confirm_yes}."
        elif answer == "no":
            heard = f"I heard no: {question.confirm_no}."
        else:
            heard = "I heard that you are not sure."
        return f"{heard} Is that right?"

    def _end(self, reason: str, message: str | None) -> list[Prompt]:
        complete = reason == "result"
        self.result = evaluate(self.q, self.answers, complete=complete)
        self.finished = True
        self._current = None
        self._pending = None
        t = self.transcript
        t.ended_at = iso(self.clock())
        t.completed = complete
        t.ended_by = reason
        t.outcome = self.result.outcome.value
        t.rules = list(self.result.rules)
        t.explanation = self.result.explanation
        t.answers = dict(self.answers)
        told = self.q.staff_told
        self.staff_told = bool(told and self.on_end and self.on_end(t))
        if self.staff_told:
            self.result = evaluate(self.q, self.answers, complete=complete, staff_told=True)
            message = next((told.script[k] for k in told.script if getattr(self.q.script, k) == message), message)
        out: list[Prompt] = []
        if message:
            out.append(self._p("info", message))
        # A contraindication already heard is always passed on, even if the patient stopped.
        if complete or self.result.outcome is Outcome.SEE_DOCTOR_FIRST:
            out.append(self._p("result", self.result.say))
        # The notice rides with goodbye, so the prompts keep their number (the voice loop's
        # abandon path says only the last two).
        goodbye = f"{told.notice} {self.q.script.goodbye}" if self.staff_told else self.q.script.goodbye
        out.append(self._p("goodbye", goodbye))
        self._record(None, None, None)  # the closing words, with no reply expected
        return out

    def _p(self, kind: str, text: str, question_id: str | None = None) -> Prompt:
        self._spoken.append(text)
        return Prompt(kind, text, question_id, self.rate)

    def _record(self, heard: Heard | None, meaning: Interpretation | None, answer: str | None) -> None:
        qid = None if heard is None else self.listening_for
        turn = Turn(
            index=len(self.transcript.turns),
            time=iso(self.clock()),
            question_id=qid,
            prompt=" ".join(self._spoken),
            heard=None if heard is None else (heard.text or ""),
            confidence=None if heard is None else heard.confidence,
            interpretation=None if meaning is None else meaning.intent,
            answer=answer,
        )
        self._spoken = []
        if self._apologise and heard is not None:
            self._apologise = False
            self._spoken.append(SPOKE_TOO_SOON)
        if heard is None and not turn.prompt:
            return
        self.transcript.turns.append(turn)
        if self.on_turn:
            self.on_turn(turn)
