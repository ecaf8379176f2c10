"""The cheapest graph cost of word sequences, read off a real HCLG (kaldifst); run as a script.

It runs in a process of its own because kaldifst and libvosk each bundle OpenFst: loaded into one
process (every test session loads vosk) they corrupt each other's heap, which crashed the suite at
random, during collection or at exit (`PYTHONMALLOC=debug python -c "import vosk, kaldifst"`
segfaults every time). stdin: JSON [[GraphCosts fields, words, graph_args], ...] (graph_args optional:
build_hclg's `before`, `after`, `groups`); stdout: JSON costs, null where no path outputs exactly those words.
"""
from __future__ import annotations

import json
import math
import sys

import kaldifst

from models.build.graph import GraphCosts, build_hclg

PRONS = {"yes": ("y", "eh", "s"), "no": ("n", "ow"), "not": ("n", "aa", "t"), "sure": ("sh", "uh", "r"),
         "um": ("ah", "m"), "please": ("p", "l", "iy", "z"), "thank": ("th", "ae", "ng", "k"), "you": ("y", "uw"),
         "stop": ("s", "t", "aa", "p")}
PHONES = ["sil", "y", "eh", "s", "n", "ow", "aa", "t", "sh", "uh", "r", "ah", "m", "p", "l", "iy", "z", "th", "ae",
          "ng", "k", "uw"]


def cheapest(costs: GraphCosts, words: list[str], graph_args: dict | None = None) -> float:
    """The lowest graph cost of any path whose output is exactly `words` (inf when none is)."""
    fst, syms = build_hclg(["yes", "no", "not sure", "stop"], PRONS, {p: i + 1 for i, p in enumerate(PHONES)}, costs,
                           **(graph_args or {}))
    wid = {w: i for i, w in enumerate(syms)}
    if any(w not in wid for w in words):
        return math.inf
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


if __name__ == "__main__":
    out = [cheapest(GraphCosts(**costs), words, *rest) for costs, words, *rest in json.load(sys.stdin)]
    json.dump([v if math.isfinite(v) else None for v in out], sys.stdout)
