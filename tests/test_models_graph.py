"""The decoding graph's costs, read off the real HCLG (kaldifst): what each word sequence costs
before any acoustics, so the tuned costs mean what models/build/graph.py says they mean."""
from __future__ import annotations

import math

import pytest
import vosk  # noqa: F401  (first: `import vosk` hangs once kaldifst is loaded, docs/architecture.md)
import kaldifst  # noqa: E402,I001

from models.build.graph import UNK, GraphCosts, build_hclg

PRONS = {"yes": ("y", "eh", "s"), "no": ("n", "ow"), "not": ("n", "aa", "t"), "sure": ("sh", "uh", "r")}
PHONES = ["sil", "y", "eh", "s", "n", "ow", "aa", "t", "sh", "uh", "r"]


def cheapest(costs: GraphCosts, words: list[str]) -> float:
    """The lowest graph cost of any path whose output is exactly `words` (inf when none is)."""
    fst, syms = build_hclg(["yes", "no", "not sure"], PRONS, {p: i + 1 for i, p in enumerate(PHONES)}, costs)
    wid = {w: i for i, w in enumerate(syms)}
    words_only = kaldifst.StdVectorFst()
    s = words_only.add_state()
    words_only.start = s
    for w in words:
        t = words_only.add_state()
        words_only.add_arc(s, kaldifst.StdArc(wid[w], wid[w], 0.0, t))
        s = t
    words_only.set_final(s, 0.0)
    kaldifst.arcsort(fst, sort_type="olabel")
    best = kaldifst.shortest_path(kaldifst.compose(fst, words_only))
    if best.num_states == 0:
        return math.inf
    total = 0.0
    for state in range(best.num_states):
        total += sum(arc.weight.value for arc in kaldifst.ArcIterator(best, state))
        final = best.final(state).value
        total += final if math.isfinite(final) else 0.0
    return total


@pytest.mark.parametrize("next_cost", [0.0, 2.5, 8.0])
def test_every_phrase_after_the_first_costs_next_phrase_cost_more(next_cost: float) -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=next_cost)
    assert cheapest(costs, ["no"]) == pytest.approx(1.0)
    assert cheapest(costs, ["not", "sure"]) == pytest.approx(1.0)          # one phrase of two words
    assert cheapest(costs, ["no", "no"]) == pytest.approx(2.0 + next_cost)
    assert cheapest(costs, ["yes", "no", "yes"]) == pytest.approx(3.0 + 2 * next_cost)
    assert cheapest(costs, [UNK]) == pytest.approx(3.0)


def test_an_utterance_is_phrases_or_unknown_never_both() -> None:
    costs = GraphCosts(phrase_cost=1.0, unk_cost=3.0, unk_phone_cost=0.0, unk_with_phrases=False,
                       next_phrase_cost=4.0)
    assert cheapest(costs, ["yes", UNK]) == math.inf
    assert cheapest(costs, [UNK, "no"]) == math.inf
    assert cheapest(costs, [UNK, UNK]) == pytest.approx(6.0)               # garbage, a pause, garbage
