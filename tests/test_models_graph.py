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


def cheapest(costs: GraphCosts, *sequences: list[str], fillers: dict | None = None) -> list[float]:
    """The lowest graph cost of any path whose output is exactly each word sequence (inf when none is)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, str(REPO / "tests" / "graph_costs_probe.py")], capture_output=True, text=True,
                       input=json.dumps([[asdict(costs), words, fillers or {}] for words in sequences]), env=env,
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
