"""Each class of mistake in a rules file is refused with file, line and a fix."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rules import DEFAULT_RULES, RulesError, load_questionnaire

GOOD = DEFAULT_RULES.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in text")


def expect_error(tmp_path: Path, text: str, pattern: str, line: int | None = None) -> RulesError:
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_questionnaire(path)
    err = info.value
    assert err.path == str(path)
    assert re.search(pattern, err.problem), err.problem
    if line is not None:
        assert err.line == line, str(err)
    assert str(path) in str(err)
    return err


def test_packaged_rules_load():
    q = load_questionnaire()
    ids = [x.id for x in q.questions]
    for qid in ["open_wound_burn_fracture", "blood_clot", "osteoporosis_fracture", "infection_fever",
                "uncontrolled_blood_pressure", "chronic_low_back_pain", "neck_shoulder_pain",
                "tension_headaches", "sciatica", "post_surgery", "repetitive_strain", "nerve_pain",
                "osteoarthritis", "sports_injury", "cancer_treatment", "fibromyalgia"]:
        assert qid in ids
    # safety questions come first
    first_non_safety = next(i for i, x in enumerate(q.questions) if not x.safety)
    assert all(x.safety for x in q.questions[:first_non_safety])
    assert not any(x.safety for x in q.questions[first_non_safety:])
    assert len(q.sha256) == 64


def test_every_rule_and_question_cites_a_source():
    q = load_questionnaire()
    for item in list(q.questions) + list(q.rules) + list(q.guidance.values()):
        assert item.source.startswith(("seed:", "NICE", "product rule")) or "seed:" in item.source, item


def test_unknown_key(tmp_path):
    text = GOOD.replace("    safety: true\n", "    safety: true\n    severity: high\n", 1)
    err = expect_error(tmp_path, text, r"unknown key 'severity' in a question", line_of(text, "severity: high"))
    assert "remove it" in err.fix


def test_missing_field(tmp_path):
    text = GOOD.replace('    short: "An open wound, a burn, or a recently broken bone?"\n', "", 1)
    expect_error(tmp_path, text, r"missing required key 'short'")


def test_duplicate_question_id(tmp_path):
    text = GOOD.replace("  - id: blood_clot\n", "  - id: open_wound_burn_fracture\n", 1)
    expect_error(tmp_path, text, r"duplicate question id 'open_wound_burn_fracture' \(first on line \d+\)")


def test_duplicate_question_id_points_at_second(tmp_path):
    text = GOOD.replace("  - id: blood_clot\n", "  - id: open_wound_burn_fracture\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(RulesError) as info:
        load_questionnaire(path)
    second = [n for n, l in enumerate(text.splitlines(), 1) if "- id: open_wound_burn_fracture" in l][1]
    assert info.value.line == second


def test_duplicate_rule_id(tmp_path):
    text = GOOD.replace("  - id: contra_blood_clot\n", "  - id: contra_open_wound_burn_fracture\n", 1)
    expect_error(tmp_path, text, r"duplicate rule id 'contra_open_wound_burn_fracture'")


def test_duplicate_yaml_key(tmp_path):
    text = GOOD.replace("    safety: true\n", "    safety: true\n    safety: false\n", 1)
    expect_error(tmp_path, text, r"duplicate key 'safety'", line_of(text, "safety: false"))


def test_reference_to_unknown_question_in_rule(tmp_path):
    text = GOOD.replace("when: {q: blood_clot, is: \"yes\"}", "when: {q: blood_clots, is: \"yes\"}", 1)
    err = expect_error(tmp_path, text, r"refers to unknown question 'blood_clots'", line_of(text, "blood_clots"))
    assert "spelling" in err.fix


def test_reference_to_unknown_question_in_skip_logic(tmp_path):
    text = GOOD.replace("ask_if: {q: has_pain, is: [\"yes\", \"unsure\"]}",
                        "ask_if: {q: has_pains, is: [\"yes\", \"unsure\"]}", 1)
    expect_error(tmp_path, text, r"ask_if of 'chronic_low_back_pain' refers to unknown question 'has_pains'")


def test_unknown_answer_value(tmp_path):
    text = GOOD.replace("when: {q: blood_clot, is: \"yes\"}", "when: {q: blood_clot, is: \"yess\"}", 1)
    expect_error(tmp_path, text, r"unknown answer 'yess'")


def test_cycle_in_skip_logic(tmp_path):
    # has_pain depends on chronic_low_back_pain, which depends on has_pain.
    text = GOOD.replace(
        "    prompt: \"Do you have pain, stiffness, or an injury that bothers you on most days?\"",
        "    prompt: \"Do you have pain, stiffness, or an injury that bothers you on most days?\"\n"
        "    ask_if: {q: chronic_low_back_pain, is: \"no\"}", 1)
    # has_pain already has an ask_if: drop the original one so the file stays otherwise valid
    start = text.index("  - id: has_pain")
    block_end = text.index("  - id: chronic_low_back_pain")
    block = text[start:block_end]
    first_ask = block.index("    ask_if: {not:")
    first_ask_end = block.index("    prompt:")
    block = block[:first_ask] + block[first_ask_end:]
    text = text[:start] + block + text[block_end:]
    err = expect_error(tmp_path, text, r"skip logic has a cycle: (has_pain -> chronic_low_back_pain -> has_pain|"
                                       r"chronic_low_back_pain -> has_pain -> chronic_low_back_pain)")
    assert "before it" in err.fix


def test_forward_reference_in_skip_logic(tmp_path):
    start = GOOD.index("  - id: post_surgery")
    end = GOOD.index("  - id: cancer_treatment")
    block = GOOD[start:end]
    ask = block[block.index("    ask_if:"):block.index("    prompt:")]
    block = block.replace(ask, "    ask_if: {q: cancer_treatment, is: \"no\"}\n")
    text = GOOD[:start] + block + GOOD[end:]
    expect_error(tmp_path, text, r"ask_if of 'post_surgery' depends on 'cancer_treatment', which is asked later")


def test_unreachable_question(tmp_path):
    # sciatica is asked only when back pain is no/unsure; asking it only when back pain is yes
    # AND the gateway is no can never happen (back pain is skipped when the gateway is no).
    text = GOOD.replace(
        "ask_if: {all: [{q: has_pain, is: [\"yes\", \"unsure\"]}, {q: chronic_low_back_pain, is: [\"no\", \"unsure\"]}]}",
        "ask_if: {all: [{q: has_pain, is: \"no\"}, {q: chronic_low_back_pain, is: \"yes\"}]}", 1)
    expect_error(tmp_path, text, r"question 'sciatica' can never be asked")


def test_priority_inversion(tmp_path):
    text = GOOD.replace("    priority: 10\n", "    priority: 1000\n", 1)
    expect_error(tmp_path, text, r"does not outrank rule 'nothing_indicated'")


def test_prompt_too_long(tmp_path):
    long_prompt = "Do you " + "really " * 40 + "have a fever?"
    text = GOOD.replace("Do you have a fever, or an infection that has not cleared up yet?", long_prompt, 1)
    expect_error(tmp_path, text, r"too long to say in one breath")


def test_yaml_syntax_error_has_line(tmp_path):
    text = GOOD.replace("    safety: true\n", "    safety: [true\n", 1)
    err = expect_error(tmp_path, text, r"YAML syntax error")
    assert err.line is not None


def test_missing_file(tmp_path):
    with pytest.raises(RulesError, match="file not found"):
        load_questionnaire(tmp_path / "nope.yaml")


def test_empty_file(tmp_path):
    expect_error(tmp_path, "", r"the file is empty")


def test_unknown_outcome(tmp_path):
    text = GOOD.replace("outcome: likely_to_help\n", "outcome: probably_fine\n", 1)
    expect_error(tmp_path, text, r"unknown outcome 'probably_fine'")


def test_missing_default_rule(tmp_path):
    text = GOOD.replace("when: {always: true}", "when: {q: has_pain, is: \"no\"}", 1)
    expect_error(tmp_path, text, r"no rule applies when nothing else does")
