"""The rules file's `staff_told` wording: checked like the rest, and only ever about where to go."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rules import DEFAULT_RULES, Outcome, RulesError, evaluate, load_questionnaire

GOOD = DEFAULT_RULES.read_text(encoding="utf-8")
RED_FLAG = {"open_wound_burn_fracture": "no", "blood_clot": "no", "osteoporosis_fracture": "no",
            "infection_fever": "no", "uncontrolled_blood_pressure": "no", "bladder_bowel_numbness": "yes"}
SENDS_TO_DESK = re.compile(r"\bdesk\b")


def load(tmp_path: Path, text: str):
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return load_questionnaire(p)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_spoken_text_that_sends_the_patient_to_the_desk_has_a_staff_told_replacement():
    """When the staff have been told, nothing still asks the patient to walk to the desk."""
    q = load_questionnaire()
    told = q.staff_told
    assert told is not None and told.source.startswith("product rule")
    for key in ("stopped", "ask_staff_failures", "greeting", "privacy", "instructions", "goodbye"):
        if SENDS_TO_DESK.search(getattr(q.script, key)):
            assert key in told.script, f"script {key} sends the patient to the desk"
    for outcome, text in q.outcomes.items():
        if SENDS_TO_DESK.search(text.say):
            assert outcome in told.outcomes, outcome
    for rule in q.rules:
        if SENDS_TO_DESK.search(rule.say):
            assert rule.id in told.rules, rule.id
    replacements = [told.notice, *told.script.values(), *told.outcomes.values(), *told.rules.values()]
    assert not [t for t in replacements if SENDS_TO_DESK.search(t)]


def test_replacements_keep_the_medical_content():
    q = load_questionnaire()
    plain = evaluate(q, RED_FLAG)
    told = evaluate(q, RED_FLAG, staff_told=True)
    assert (told.outcome, told.rules, told.explanation) == (plain.outcome, plain.rules, plain.explanation)
    assert "tell the staff at the desk now" in plain.say and "desk" not in told.say
    for phrase in ("needs urgent care", "see a doctor today", "Please see your doctor before booking"):
        assert phrase in plain.say and phrase in told.say
    no_flag = {**RED_FLAG, "bladder_bowel_numbness": "no"}
    assert evaluate(q, no_flag).outcome is not Outcome.SEE_DOCTOR_FIRST
    assert evaluate(q, no_flag, staff_told=True).say == evaluate(q, no_flag).say   # nothing to replace


def test_staff_told_is_optional(tmp_path):
    start, end = GOOD.index("\nstaff_told:"), GOOD.index("\nquestions:")
    q = load(tmp_path, GOOD[:start] + GOOD[end:])
    assert q.staff_told is None
    assert evaluate(q, RED_FLAG, staff_told=True).say == evaluate(q, RED_FLAG).say


@pytest.mark.parametrize("old, new, problem, at", [
    ("    red_flag_bladder_bowel_numbness: \"New numbness",
     "    red_flag_bladder_numbness: \"New numbness", r"unknown rule id 'red_flag_bladder_numbness'",
     "red_flag_bladder_numbness: \"New"),
    ("    ask_staff: \"Please talk to the staff", "    ask_staf: \"Please talk to the staff",
     r"unknown outcome 'ask_staf'", "ask_staf: \"Please talk"),
    ("    stopped: \"All right, we will stop here. Nothing you said has been used for advice.\"",
     "    stoped: \"All right.\"", r"unknown script key 'stoped'", "stoped:"),
    ("  notice: \"The staff have been told", "  notise: \"The staff have been told", r"unknown key 'notise'",
     "notise:"),
    ("  notice: \"The staff have been told, so please stay where you are. Someone will come to you.\"",
     "  notice: \"\"", r"'notice' must be non-empty", "notice:"),
])
def test_mistakes_in_staff_told_name_the_line(tmp_path, old, new, problem, at):
    assert GOOD.count(old) == 1, old
    text = GOOD.replace(old, new)
    with pytest.raises(RulesError) as info:
        load(tmp_path, text)
    assert re.search(problem, info.value.problem), info.value.problem
    assert info.value.line == line_of(text, at), str(info.value)
    assert "use one of" in str(info.value) or "non-empty" in str(info.value) or "remove it" in str(info.value)
