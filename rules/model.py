"""The questionnaire as data: questions, conditions, outcome rules, guidance.

Everything here is immutable and pure: the same answers always give the same
result, which is what lets the exhaustive safety test enumerate every path.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping

ANSWERS = ("yes", "no", "unsure")
MISSING = "missing"
ANSWER_STATES = ANSWERS + (MISSING,)


class Outcome(str, enum.Enum):
    """Result categories, highest priority first (declaration order is the ranking)."""

    SEE_DOCTOR_FIRST = "see_doctor_first"
    ASK_STAFF = "ask_staff"
    MASSAGE_WITH_CARE = "massage_with_care"
    LIKELY_TO_HELP = "likely_to_help"
    NO_CLEAR_NEED = "no_clear_need"

    @property
    def rank(self) -> int:
        return list(Outcome).index(self)


Answers = Mapping[str, str]  # question id -> "yes" | "no" | "unsure" (absent = missing)


@dataclass(frozen=True)
class Context:
    """What a condition can look at: the answers and whether the session ran to the end."""

    answers: Answers
    complete: bool = True

    def state(self, qid: str) -> str:
        return self.answers.get(qid, MISSING)


class Condition:
    """A boolean test over a Context. Subclasses are small and frozen."""

    def holds(self, ctx: Context) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        """Three-valued evaluation while answers are still coming in.

        `known` holds the questions already decided (answered or skipped);
        anything else is unknown. Returns None when the result is not yet fixed.
        Used to prove every question reachable without enumerating every path.
        """
        raise NotImplementedError  # pragma: no cover

    def questions(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class AnswerIs(Condition):
    question: str
    states: frozenset[str]

    def holds(self, ctx: Context) -> bool:
        return ctx.state(self.question) in self.states

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        if self.question in known:
            return known[self.question] in self.states
        return None

    def questions(self) -> set[str]:
        return {self.question}


@dataclass(frozen=True)
class SessionIs(Condition):
    complete: bool

    def holds(self, ctx: Context) -> bool:
        return ctx.complete == self.complete

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        return None


@dataclass(frozen=True)
class Always(Condition):
    def holds(self, ctx: Context) -> bool:
        return True

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        return True


@dataclass(frozen=True)
class AllOf(Condition):
    parts: tuple[Condition, ...]

    def holds(self, ctx: Context) -> bool:
        return all(p.holds(ctx) for p in self.parts)

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        values = [p.partial(known, done) for p in self.parts]
        if any(v is False for v in values):
            return False
        return True if all(v is True for v in values) else None

    def questions(self) -> set[str]:
        return set().union(*(p.questions() for p in self.parts))


@dataclass(frozen=True)
class AnyOf(Condition):
    parts: tuple[Condition, ...]

    def holds(self, ctx: Context) -> bool:
        return any(p.holds(ctx) for p in self.parts)

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        values = [p.partial(known, done) for p in self.parts]
        if any(v is True for v in values):
            return True
        return False if all(v is False for v in values) else None

    def questions(self) -> set[str]:
        return set().union(*(p.questions() for p in self.parts))


@dataclass(frozen=True)
class Not(Condition):
    part: Condition

    def holds(self, ctx: Context) -> bool:
        return not self.part.holds(ctx)

    def partial(self, known: Mapping[str, str], done: bool) -> bool | None:
        v = self.part.partial(known, done)
        return None if v is None else not v

    def questions(self) -> set[str]:
        return self.part.questions()


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str                 # full wording, one breath long
    short: str                  # short form for a reprompt after silence
    help: str                   # spoken on "help"
    safety: bool                # contraindication / red-flag screening question
    confirm_yes: str            # "you have had a blood clot": used to confirm a low-confidence answer
    confirm_no: str
    source: str                 # where the question's topic comes from
    ask_if: Condition | None = None
    line: int = 0


@dataclass(frozen=True)
class Rule:
    id: str
    priority: int
    outcome: Outcome
    when: Condition
    say: str                    # short, spoken
    explain: str                # full, written
    source: str                 # citation for the claim
    line: int = 0


@dataclass(frozen=True)
class Guidance:
    id: str
    say: str
    text: str
    source: str


@dataclass(frozen=True)
class OutcomeText:
    outcome: Outcome
    say: str
    text: str
    guidance: tuple[str, ...]


@dataclass(frozen=True)
class Script:
    """Fixed things the dialog says around the questions."""

    greeting: str
    privacy: str
    instructions: str
    goodbye: str
    stopped: str
    ask_staff_failures: str


@dataclass(frozen=True)
class StaffTold:
    """What is said instead when the staff have really been told (the session is flagged for them).

    Only where the patient should go changes ("the staff have been told" instead
    of "ask the staff at the desk"); what needs care and why stays as it is.
    """

    notice: str                             # said once, before goodbye
    source: str
    script: Mapping[str, str] = field(default_factory=dict)     # Script field -> replacement
    outcomes: Mapping[Outcome, str] = field(default_factory=dict)  # outcome say -> replacement
    rules: Mapping[str, str] = field(default_factory=dict)      # rule id -> replacement say


@dataclass(frozen=True)
class Questionnaire:
    path: str
    sha256: str
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    outcomes: Mapping[Outcome, OutcomeText]
    guidance: Mapping[str, Guidance]
    script: Script
    by_id: Mapping[str, Question] = field(default_factory=dict)
    staff_told: StaffTold | None = None     # optional section of the rules file

    def question(self, qid: str) -> Question:
        return self.by_id[qid]

    @property
    def safety_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions if q.safety)
