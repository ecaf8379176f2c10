"""Outcome rules: each category, priority order, determinism, and the safety invariant on every path."""
from __future__ import annotations

import pytest

from rules import Outcome, evaluate, load_questionnaire, reachable_paths, validate_answers

CONTRAINDICATIONS = ["open_wound_burn_fracture", "blood_clot", "osteoporosis_fracture", "infection_fever",
                     "uncontrolled_blood_pressure", "bladder_bowel_numbness"]
CONDITIONS = ["chronic_low_back_pain", "sciatica", "neck_shoulder_pain", "tension_headaches",
              "repetitive_strain", "nerve_pain", "osteoarthritis", "sports_injury", "fibromyalgia"]


@pytest.fixture(scope="module")
def q():
    return load_questionnaire()


def all_no(q, **overrides):
    answers = {x.id: "no" for x in q.questions if x.safety}
    answers.update(post_surgery="no", cancer_treatment="no", has_pain="no")
    answers.update(overrides)
    return answers


@pytest.mark.parametrize("qid", CONTRAINDICATIONS)
def test_contraindication_yes_sends_to_doctor(q, qid):
    r = evaluate(q, all_no(q, **{qid: "yes"}, has_pain="yes", chronic_low_back_pain="yes"))
    assert r.outcome is Outcome.SEE_DOCTOR_FIRST
    assert r.rules[0].endswith(qid)
    assert "helps_chronic_low_back_pain" in r.rules  # fired, but outranked


@pytest.mark.parametrize("qid", CONTRAINDICATIONS)
def test_contraindication_unsure_asks_staff(q, qid):
    r = evaluate(q, all_no(q, **{qid: "unsure"}, has_pain="yes", chronic_low_back_pain="yes"))
    assert r.outcome is Outcome.ASK_STAFF
    assert "safety_answer_unsure" in r.rules


def test_red_flag_outranks_other_contraindications(q):
    r = evaluate(q, all_no(q, blood_clot="yes", bladder_bowel_numbness="yes"))
    assert r.rules[0] == "red_flag_bladder_bowel_numbness"
    assert "urgent" in r.say


def test_incomplete_session_asks_staff(q):
    r = evaluate(q, {"open_wound_burn_fracture": "no"}, complete=False)
    assert r.outcome is Outcome.ASK_STAFF
    assert "session_incomplete" in r.rules


def test_incomplete_session_with_contraindication_still_sends_to_doctor(q):
    r = evaluate(q, {"open_wound_burn_fracture": "yes"}, complete=False)
    assert r.outcome is Outcome.SEE_DOCTOR_FIRST


@pytest.mark.parametrize("qid", ["cancer_treatment", "post_surgery"])
def test_with_care(q, qid):
    r = evaluate(q, all_no(q, **{qid: "yes"}, has_pain="yes", neck_shoulder_pain="yes"))
    assert r.outcome is Outcome.MASSAGE_WITH_CARE
    assert {"sessions", "therapist", "cost"} <= {g.id for g in r.guidance}


@pytest.mark.parametrize("qid", CONDITIONS)
def test_each_condition_likely_to_help(q, qid):
    r = evaluate(q, all_no(q, has_pain="yes", **{qid: "yes"}))
    assert r.outcome is Outcome.LIKELY_TO_HELP
    assert r.rules[0] == f"helps_{qid}"
    assert "4 to 8 sessions" in r.explanation and "$80 to $130" in r.explanation


def test_nothing_indicated(q):
    r = evaluate(q, all_no(q))
    assert r.outcome is Outcome.NO_CLEAR_NEED
    assert r.rules == ("nothing_indicated",)
    assert "GP or physiotherapist" in r.explanation


def test_condition_unsure_is_not_an_indication(q):
    r = evaluate(q, all_no(q, has_pain="unsure", chronic_low_back_pain="unsure"))
    assert r.outcome is Outcome.NO_CLEAR_NEED


def test_evaluation_is_deterministic(q):
    answers = all_no(q, has_pain="yes", sciatica="yes", cancer_treatment="unsure")
    first = evaluate(q, answers)
    assert all(evaluate(q, dict(reversed(list(answers.items())))) == first for _ in range(5))


def test_validate_answers_rejects_unknown_id_and_value(q):
    with pytest.raises(ValueError, match="unknown question id 'blod_clot'"):
        validate_answers(q, {"blod_clot": "no"})
    with pytest.raises(ValueError, match="answer to 'blood_clot' is 'perhaps'"):
        validate_answers(q, {"blood_clot": "perhaps"})


def test_safety_invariant_on_every_reachable_path(q):
    """Every answer combination the skip logic allows, finished or stopped at any point:
    a contraindication answered yes or unsure never yields likely_to_help or no_clear_need,
    and a yes always yields see_doctor_first."""
    safety = q.safety_ids
    forbidden = {Outcome.LIKELY_TO_HELP, Outcome.NO_CLEAR_NEED}
    checked = complete = 0
    outcomes: dict[Outcome, int] = {}
    for answers, is_complete in reachable_paths(q, include_incomplete=True):
        result = evaluate(q, answers, complete=is_complete)
        states = [answers.get(s) for s in safety]
        if "yes" in states:
            assert result.outcome is Outcome.SEE_DOCTOR_FIRST, (answers, is_complete)
        elif "unsure" in states or not is_complete:
            assert result.outcome is Outcome.ASK_STAFF, (answers, is_complete)
        if "yes" in states or "unsure" in states:
            assert result.outcome not in forbidden, (answers, is_complete)
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        checked += 1
        complete += is_complete
    print(f"\nsafety invariant checked on {checked} reachable paths ({complete} finished, "
          f"{checked - complete} stopped early): " + ", ".join(f"{o.value}={n}" for o, n in outcomes.items()))
    assert set(outcomes) == set(Outcome)  # every outcome is reachable
    assert checked > 100_000
