"""Evaluate the outcome rules for a set of answers, and walk the skip logic."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping

from .model import ANSWERS, Context, Guidance, Outcome, Question, Questionnaire, Rule


@dataclass(frozen=True)
class Evaluation:
    """The result for one patient: deterministic given the answers."""

    outcome: Outcome
    rules: tuple[str, ...]          # every rule that fired, highest priority first
    explanation: str                # written, full
    say: str                        # spoken, short
    guidance: tuple[Guidance, ...] = field(default=())
    sources: tuple[str, ...] = ()   # citations behind the deciding rules

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "rules": list(self.rules),
            "explanation": self.explanation,
            "say": self.say,
            "guidance": [{"id": g.id, "text": g.text, "source": g.source} for g in self.guidance],
            "sources": list(self.sources),
        }


def validate_answers(q: Questionnaire, answers: Mapping[str, str], where: str = "answers") -> dict[str, str]:
    """Check ids and values; raise ValueError naming the bad entry and the fix."""
    clean: dict[str, str] = {}
    for qid, value in answers.items():
        if qid not in q.by_id:
            raise ValueError(f"{where}: unknown question id {qid!r} (known ids: {', '.join(q.by_id)})")
        if value not in ANSWERS:
            raise ValueError(f"{where}: answer to {qid!r} is {value!r}; use one of {', '.join(ANSWERS)}")
        clean[qid] = value
    return clean


def evaluate(q: Questionnaire, answers: Mapping[str, str], complete: bool = True,
             staff_told: bool = False) -> Evaluation:
    """Fire every rule whose condition holds; the highest-priority one decides the outcome.

    `staff_told`: the staff have really been told about this session, so spoken
    texts with a `staff_told` replacement use it (the outcome and rules are the same).
    """
    ctx = Context(answers=dict(answers), complete=complete)
    fired: list[Rule] = [r for r in q.rules if r.when.holds(ctx)]  # q.rules is sorted by priority
    if not fired:  # the loader guarantees an always-rule, so this is a broken invariant
        raise RuntimeError(f"{q.path}: no rule fired; the rules file needs an 'always' rule")
    outcome = fired[0].outcome
    deciding = [r for r in fired if r.outcome is outcome]
    text = q.outcomes[outcome]
    guidance = tuple(q.guidance[g] for g in text.guidance)
    explanation = " ".join([text.text] + [r.explain for r in deciding] + [g.text for g in guidance])
    told = q.staff_told if staff_told else None
    outcome_say = told.outcomes.get(outcome, text.say) if told else text.say
    rule_says = [told.rules.get(r.id, r.say) if told else r.say for r in deciding]
    say = " ".join([outcome_say] + _unique(rule_says) + [g.say for g in guidance])
    sources = tuple(_unique([r.source for r in deciding] + [g.source for g in guidance]))
    return Evaluation(outcome, tuple(r.id for r in fired), explanation, say, guidance, sources)


def _unique(items) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def should_ask(question: Question, answers: Mapping[str, str]) -> bool:
    """Skip logic: a question is asked unless its ask_if is false for the answers so far."""
    return question.ask_if is None or question.ask_if.holds(Context(answers=dict(answers)))


def next_question(q: Questionnaire, answers: Mapping[str, str], after: int = -1) -> int | None:
    """Index of the next question to ask after position `after`, or None when done."""
    for i in range(after + 1, len(q.questions)):
        if should_ask(q.questions[i], answers):
            return i
    return None


def reachable_paths(q: Questionnaire, include_incomplete: bool = True) -> Iterator[tuple[dict[str, str], bool]]:
    """Every answer combination the skip logic allows, as (answers, complete).

    With include_incomplete, also every prefix at which a patient could stop
    (say "stop", or fail three times): those are sessions with missing answers.
    """
    def walk(after: int, answers: dict[str, str]) -> Iterator[tuple[dict[str, str], bool]]:
        i = next_question(q, answers, after)
        if i is None:
            yield answers, True
            return
        if include_incomplete:
            yield answers, False
        qid = q.questions[i].id
        for a in ANSWERS:
            answers[qid] = a
            yield from walk(i, answers)
        del answers[qid]

    yield from walk(-1, {})
