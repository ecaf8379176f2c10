"""The decoding graph's costs, read off the real HCLG (kaldifst): what each word sequence costs
before any acoustics, so the tuned costs mean what models/build/graph.py says they mean.

kaldifst runs in a subprocess (tests/graph_costs_probe.py): it must never share a process with
libvosk, which the rest of the suite loads."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from models.build.graph import UNK, GraphCosts

REPO = Path(__file__).resolve().parents[1]


def cheapest(costs: GraphCosts, *sequences: list[str], fillers: dict | None = None,
             groups: list[list[str]] | None = None) -> list[float]:
    """The lowest graph cost of any path whose output is exactly each word sequence (inf when none is);
    the graph holds the phrases yes, no, not sure and stop."""
    graph_args = {**(fillers or {}), **({"groups": groups} if groups else {})}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, str(REPO / "tests" / "graph_costs_probe.py")], capture_output=True, text=True,
                       input=json.dumps([[asdict(costs), words, graph_args] for words in sequences]), env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return [math.inf if v is None else v for v in json.loads(r.stdout)]


@pytest.mark.parametrize("next_cost", [0.0, 2.5, 8.0])
def test_every_phrase_after_the_first_costs_next_phrase_cost_more(next_cost: float) -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=next_cost)
    one, one_of_two_words, twice, three, unk = cheapest(costs, ["no"], ["not", "sure"], ["no", "no"],
                                                       ["yes", "no", "yes"], [UNK])
    assert one == pytest.approx(1.0)
    assert one_of_two_words == pytest.approx(1.0)          # one phrase of two words
    assert twice == pytest.approx(2.0 + next_cost)
    assert three == pytest.approx(3.0 + 2 * next_cost)
    assert unk == pytest.approx(3.0)


def test_an_utterance_is_phrases_or_unknown_never_both() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0)
    yes_unk, unk_no, unk_unk = cheapest(costs, ["yes", UNK], [UNK, "no"], [UNK, UNK])
    assert yes_unk == math.inf
    assert unk_no == math.inf
    assert unk_unk == pytest.approx(6.0)               # garbage, a pause, garbage


FILLERS = {"before": ["um"], "after": ["please", "thank you"]}


def test_one_filler_may_wrap_the_answers_at_its_own_cost() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0, filler_cost=2.0)
    before, after, both, two_answers, thank_you = cheapest(
        costs, ["um", "yes"], ["no", "please"], ["um", "not", "sure", "please"], ["um", "yes", "no", "please"],
        ["no", "thank", "you"], fillers=FILLERS)
    assert before == pytest.approx(3.0) and after == pytest.approx(3.0)
    assert both == pytest.approx(5.0)
    assert two_answers == pytest.approx(2.0 + 1.0 + 1.0 + 4.0 + 2.0)
    assert thank_you == pytest.approx(3.0)            # a two-word filler costs once


def test_a_filler_never_stands_alone_nor_in_the_wrong_place_nor_next_to_unknown_speech() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0, filler_cost=2.0)
    got = cheapest(costs, ["um"], ["please"], ["um", "um", "yes"], ["yes", "um"], ["please", "yes"],
                   ["um", UNK], [UNK, "please"], ["yes", "please", "no"], fillers=FILLERS)
    assert got == [math.inf] * 8


def test_without_fillers_the_graph_is_as_before() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0, filler_cost=2.0)
    assert cheapest(costs, ["um", "yes"], ["yes"]) == [math.inf, pytest.approx(1.0)]


GROUPS = [["yes", "no", "not sure"], ["stop"]]


def test_a_run_of_phrases_stays_in_the_group_of_its_first_phrase() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0, filler_cost=2.0, runs_in_groups=True)
    yes_no, yes_sure, stop_stop, yes_stop, stop_no, yes, stop, wrapped, unk = cheapest(
        costs, ["yes", "no"], ["yes", "not", "sure"], ["stop", "stop"], ["yes", "stop"], ["stop", "no"],
        ["yes"], ["stop"], ["um", "stop", "please"], [UNK], fillers=FILLERS, groups=GROUPS)
    assert yes_no == pytest.approx(6.0) and yes_sure == pytest.approx(6.0) and stop_stop == pytest.approx(6.0)
    assert yes_stop == math.inf and stop_no == math.inf
    assert yes == pytest.approx(1.0) and stop == pytest.approx(1.0)
    assert wrapped == pytest.approx(5.0)              # fillers wrap every group's runs
    assert unk == pytest.approx(3.0)


def test_without_groups_any_phrase_may_follow_any_other() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0)
    assert cheapest(costs, ["yes", "stop"], ["stop", "no"]) == [pytest.approx(6.0)] * 2


def test_groups_must_hold_every_phrase_once() -> None:
    from models.build.graph import build_hclg
    costs = GraphCosts(unk_with_phrases=False)
    prons = {"yes": ("y",), "no": ("n",)}
    with pytest.raises(ValueError, match="exactly once"):
        build_hclg(["yes", "no"], prons, {"sil": 1, "y": 2, "n": 3}, costs, groups=[["yes"]])
    with pytest.raises(ValueError, match="exactly once"):
        build_hclg(["yes", "no"], prons, {"sil": 1, "y": 2, "n": 3}, costs, groups=[["yes", "no"], ["no"]])


def test_the_vocabularys_groups_keep_answers_together_and_each_command_apart() -> None:
    from dialog.interpret import interpret
    from models.build.corpus import load_vocabulary
    vocab = load_vocabulary()
    groups = vocab.phrase_groups("answer")
    assert sorted(p for g in groups for p in g) == vocab.all_phrases("answer")
    intents = [{interpret(p).intent for p in g if p not in vocab.corrections} for g in groups]
    assert intents[0] == {"yes", "no", "unsure"} and set(vocab.corrections) <= set(groups[0])
    assert all(len(i) == 1 for i in intents[1:])      # one command each
    assert {i for s in intents[1:] for i in s} == {"repeat", "help", "back", "stop", "slower", "faster"}
    assert vocab.phrase_groups("start") == [vocab.all_phrases("start")]
    assert vocab.phrase_groups("garbage") == []
