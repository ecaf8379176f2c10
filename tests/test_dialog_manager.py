"""The dialog state machine: flow, commands, robustness, confirmation, transcript."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from dialog import DialogManager, Heard
from dialog.manager import MAX_FAILURES, MAX_TURNS_PER_QUESTION
from rules import Outcome, load_questionnaire

SAFETY_NO = ["no"] * 6


@pytest.fixture(scope="module")
def q():
    return load_questionnaire()


def feed(dm: DialogManager, replies, confidence=None):
    """Reply to each prompt in turn; returns all prompts spoken."""
    spoken = dm.start()
    for reply in replies:
        if dm.finished:
            break
        spoken += dm.handle(Heard(reply, confidence))
    return spoken


def last_question(dm):
    return dm.listening_for


def test_opens_with_greeting_privacy_then_straight_into_first_question(q):
    dm = DialogManager(q)
    prompts = dm.start()
    kinds = [p.kind for p in prompts]
    assert kinds == ["info", "info", "info", "question"]
    assert "privately" in prompts[1].text
    assert prompts[-1].question_id == q.questions[0].id == dm.listening_for
    assert not any("shall we begin" in p.text.lower() for p in prompts)


@pytest.mark.parametrize("replies,outcome", [
    (SAFETY_NO + ["no", "no", "yes", "yes"], Outcome.LIKELY_TO_HELP),
    (SAFETY_NO + ["no", "no", "no"], Outcome.NO_CLEAR_NEED),
    (SAFETY_NO + ["no", "yes", "yes", "no", "yes"], Outcome.MASSAGE_WITH_CARE),
    (["no", "yes", "no", "no", "no", "no"], Outcome.SEE_DOCTOR_FIRST),
    (["no", "not sure"] + ["no"] * 4 + ["no", "no", "no"], Outcome.ASK_STAFF),
])
def test_each_outcome_is_reachable_by_dialog(q, replies, outcome):
    dm = DialogManager(q)
    prompts = feed(dm, replies)
    assert dm.finished and dm.result.outcome is outcome
    assert prompts[-1].kind == "goodbye" and prompts[-2].kind == "result"
    assert dm.transcript.outcome == outcome.value and dm.transcript.completed


def test_contraindication_yes_skips_condition_questions(q):
    dm = DialogManager(q)
    feed(dm, ["yes"] + ["no"] * 5)
    assert dm.finished
    assert set(dm.answers) == set(q.safety_ids)


def test_repeat_says_the_question_again(q):
    dm = DialogManager(q)
    first = dm.start()[-1]
    again = dm.handle(Heard("say that again"))
    assert again[-1].text == first.text and dm.listening_for == first.question_id
    assert dm.answers == {}


def test_help_gives_help_text_then_short_question(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard("help"))
    assert out[0].kind == "help" and q.questions[0].help in out[0].text
    assert out[1].text == q.questions[0].short


def test_back_reopens_previous_question_and_answer_can_change(q):
    dm = DialogManager(q)
    feed(dm, ["yes"])  # a contraindication... said by mistake
    assert dm.answers["open_wound_burn_fracture"] == "yes"
    out = dm.handle(Heard("go back"))
    assert dm.listening_for == "open_wound_burn_fracture" and "open_wound_burn_fracture" not in dm.answers
    assert out[-1].text == q.questions[0].prompt
    for reply in ["no"] * 6 + ["no", "no", "no"]:
        dm.handle(Heard(reply))
    assert dm.result.outcome is Outcome.NO_CLEAR_NEED


def test_back_on_first_question_stays(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard("back"))
    assert "first question" in out[0].text and dm.listening_for == q.questions[0].id


def test_stop_ends_politely_and_keeps_no_answer(q):
    dm = DialogManager(q)
    feed(dm, ["no", "stop"])
    assert dm.finished and dm.transcript.ended_by == "stop" and not dm.transcript.completed
    assert dm.answers == {"open_wound_burn_fracture": "no"}
    assert dm.result.outcome is Outcome.ASK_STAFF
    assert "stop" not in dm.transcript.answers.values()


def test_stop_after_contraindication_still_says_see_doctor(q):
    dm = DialogManager(q)
    prompts = feed(dm, ["no", "yes", "stop"])
    assert dm.result.outcome is Outcome.SEE_DOCTOR_FIRST
    assert any(p.kind == "result" and "doctor" in p.text for p in prompts)


def test_no_input_reprompts_with_short_form_once(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard(""))
    assert [p.kind for p in out] == ["reprompt"] and out[0].text == q.questions[0].short


def test_not_understood_lists_possible_answers(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard("purple elephants"))
    assert "yes, no, or not sure" in out[0].text


def test_three_failures_end_as_ask_staff(q):
    dm = DialogManager(q)
    dm.start()
    replies = ["", "banana", "yes no"]
    for reply in replies[:-1]:
        dm.handle(Heard(reply))
        assert not dm.finished
    out = dm.handle(Heard(replies[-1]))
    assert dm.finished and dm.result.outcome is Outcome.ASK_STAFF
    assert dm.transcript.ended_by == "failures" and MAX_FAILURES == 3
    assert "staff at the desk" in out[0].text


def test_failures_reset_on_a_new_question(q):
    dm = DialogManager(q)
    feed(dm, ["", "", "no", "", "", "no"])
    assert not dm.finished and len(dm.answers) == 2


def test_low_confidence_safety_answer_is_confirmed(q):
    dm = DialogManager(q, confidence_threshold=0.6)
    dm.start()
    dm.handle(Heard("no", 0.9))
    out = dm.handle(Heard("yes", 0.3))  # blood_clot
    assert out[0].kind == "confirm"
    assert out[0].text == "I heard yes: you have, or may have, a blood clot. Is that right?"
    assert "blood_clot" not in dm.answers and dm.expected == frozenset(
        {"yes", "no", "repeat", "help", "back", "stop", "slower", "faster"})
    dm.handle(Heard("yes", 0.3))  # confirmation itself is not re-confirmed
    assert dm.answers["blood_clot"] == "yes"


def test_denied_confirmation_asks_the_question_again(q):
    dm = DialogManager(q, confidence_threshold=0.6)
    dm.start()
    dm.handle(Heard("yes", 0.2))
    out = dm.handle(Heard("no", 0.9))
    assert out[-1].kind == "question" and out[-1].question_id == "open_wound_burn_fracture"
    assert "open_wound_burn_fracture" not in dm.answers
    dm.handle(Heard("no", 0.95))
    assert dm.answers["open_wound_burn_fracture"] == "no"


def test_low_confidence_non_safety_answer_is_not_confirmed(q):
    dm = DialogManager(q, confidence_threshold=0.6)
    feed(dm, SAFETY_NO, confidence=0.9)
    out = dm.handle(Heard("yes", 0.3))  # post_surgery
    assert out[0].kind == "question" and dm.answers["post_surgery"] == "yes"


def test_typed_answers_are_never_confirmed(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard("yes", None))
    assert out[0].kind != "confirm"


def test_slower_and_faster_change_rate_and_repeat(q):
    dm = DialogManager(q)
    dm.start()
    out = dm.handle(Heard("slower"))
    assert out[-1].rate < 1.0 and out[-1].kind == "question"
    slow = out[-1].rate
    for _ in range(6):
        out = dm.handle(Heard("slower"))
    assert out[-1].rate >= 0.5
    out = dm.handle(Heard("faster"))
    assert out[-1].rate > 0.5 and dm.rate > 0.5
    assert slow < 1.0


def test_repeat_loop_is_bounded(q):
    dm = DialogManager(q)
    dm.start()
    for _ in range(MAX_TURNS_PER_QUESTION + 1):
        dm.handle(Heard("repeat"))
    assert dm.finished and dm.transcript.ended_by == "turn_limit"
    assert dm.result.outcome is Outcome.ASK_STAFF


def test_back_and_forth_is_bounded(q):
    dm = DialogManager(q)
    dm.start()
    n = 0
    while not dm.finished and n < 10_000:
        dm.handle(Heard("no" if n % 2 == 0 else "back"))
        n += 1
    assert dm.finished and n < 1000


def test_handle_after_end_is_harmless(q):
    dm = DialogManager(q)
    feed(dm, ["stop"])
    assert dm.handle(Heard("yes")) == []


def test_transcript_records_every_turn(q):
    clock = iter(datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i) for i in range(1000))
    seen = []
    dm = DialogManager(q, clock=lambda: next(clock), on_turn=seen.append)
    feed(dm, ["", "no"] + ["no"] * 5 + ["no", "no", "yes", "yes"], confidence=0.8)
    t = dm.transcript
    data = json.loads(t.to_json())
    assert list(data)[:4] == ["outcome", "rules", "explanation", "mode"]
    assert data["outcome"] == "likely_to_help" and data["rules"][0] == "helps_chronic_low_back_pain"
    turns = data["turns"]
    assert turns[0]["heard"] == "" and turns[0]["interpretation"] == "nothing_heard"
    assert turns[0]["question_id"] == "open_wound_burn_fracture" and turns[0]["answer"] is None
    assert "Hello" in turns[0]["prompt"]
    assert turns[1]["answer"] == "no" and turns[1]["confidence"] == 0.8
    assert turns[-1]["heard"] is None and "guidance, not a diagnosis" in turns[-1]["prompt"]
    assert [x["index"] for x in turns] == list(range(len(turns)))
    assert len(seen) == len(turns)  # on_turn called once per turn, as it happened
    assert data["rules_sha256"] == q.sha256 and data["completed"] is True
    assert data["started_at"].startswith("2026-01-01T00:00:00")


def test_transcript_write_is_atomic_and_private(q, tmp_path):
    dm = DialogManager(q)
    feed(dm, ["stop"])
    path = dm.transcript.write(tmp_path / "sub" / "t.json")
    assert json.loads(path.read_text())["ended_by"] == "stop"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["t.json"]


# -- the rest of an answer (issue 32): amend reads it with the answer it belongs to ---------------

def test_the_rest_of_an_answer_is_read_with_it_never_as_the_next_answer(q):
    dm = DialogManager(q, confidence_threshold=0.6)
    dm.start()
    first = dm.listening_for
    dm.handle(Heard("no", 0.95))
    second = dm.listening_for
    out = dm.amend(Heard("i mean yes", 0.9))
    assert out[0].text == "Sorry, I spoke too soon."
    assert dm.answers == {first: "yes"} and second not in dm.answers
    dm = DialogManager(q, confidence_threshold=0.6)  # a doubtful rest makes the joined answer doubtful
    dm.start()
    dm.handle(Heard("no", 0.95))
    dm.amend(Heard("i mean yes", 0.3))
    assert dm.answers == {} and dm.confirming and dm.pending_answer == "yes"


def test_amend_keeps_both_turns_and_the_apology_in_order(q):
    dm = DialogManager(q, confidence_threshold=0.0)
    dm.start()
    first = dm.listening_for
    dm.handle(Heard("no", 0.9))
    second = dm.listening_for
    out = dm.amend(Heard("not really", 0.8))
    assert dm.answers == {first: "no"} and dm.listening_for == second
    assert [p.kind for p in out] == ["info", "question"] and out[1].question_id == second
    dm.handle(Heard("yes", 0.9))
    turns = dm.transcript.turns
    assert [(t.question_id, t.heard, t.answer) for t in turns] == [
        (first, "no", "no"), (first, "no not really", "no"), (second, "yes", "yes")]
    assert turns[2].prompt.startswith("Sorry, I spoke too soon. ")
    assert turns[1].confidence == 0.8  # the lower of the two parts


def test_an_unknown_part_makes_a_paused_answer_not_understood(q):
    """The speech model never mixes unknown speech with answers: "[unk]" + "i think so" may have
    been "i don't ... think so", so it is asked again, never read as yes."""
    for parts in (("[unk] [unk]", "i think so"), ("no", "[unk]")):
        dm = DialogManager(q, confidence_threshold=0.0)
        dm.start()
        first = dm.listening_for
        dm.handle(Heard(parts[0], 0.9))
        dm.amend(Heard(parts[1], 0.9))
        assert dm.answers == {} and dm.listening_for == first, parts
        assert dm.transcript.turns[-1].interpretation == "not_understood"


def test_amend_after_the_end_or_before_any_reply_is_an_ordinary_reply(q):
    dm = DialogManager(q)
    dm.start()
    first = dm.listening_for
    assert dm.amend(Heard("no", 0.9)) and dm.answers == {first: "no"}
    dm = DialogManager(q)
    feed(dm, ["stop"])
    assert dm.finished and dm.amend(Heard("no", 0.9)) == []
