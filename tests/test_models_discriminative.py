"""The graphs discriminative training scores utterances on (models.build.discriminative).

Their scores are checked against libvosk's own best paths in tests/test_models_build.py
(`test_training_scores_the_graphs_libvosk_decodes`); here, their structure, without torch.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from models.build import discriminative as D

PRONS = {"no": ("no#0", "no#1"), "go": ("go#0", "go#1"), "back": ("back#0", "back#1", "back#2"),
         "yes": ("yes#0", "yes#1", "yes#2")}
UNITS = ["sil", "no#0", "no#1", "go#0", "go#1", "back#0", "back#1", "back#2", "yes#0", "yes#1", "yes#2", "b", "k"]
PDF = {u: i for i, u in enumerate(UNITS)}
PHRASES = ["back", "go back", "no", "yes"]


def test_phrase_loop_charges_each_phrase_and_every_phrase_after_the_first() -> None:
    g = D.phrase_graph(PHRASES, PRONS, PDF, PDF["sil"], phrase_cost=1.5, next_phrase_cost=8.0)
    units = [UNITS[u] for u in g.units]
    first = {u: i for i, u in enumerate(units) if u.endswith("#0")}
    entries = [units[s] for s in np.flatnonzero(np.isfinite(g.start)) if s != 0]
    assert sorted(entries) == ["back#0", "go#0", "no#0", "yes#0"]       # one per phrase, each at the phrase cost
    assert all(c == 1.5 for c in g.start[1:][np.isfinite(g.start[1:])])
    lead = 0                                                      # leading silence: free, but never final
    assert units[lead] == "sil" and g.start[lead] == 0.0 and math.isinf(g.final[lead])
    no_last = units.index("no#1")
    assert g.final[no_last] == 0.0
    assert g.trans[no_last, first["yes#0"]] == 9.5               # "no yes": next phrase
    assert g.trans[lead, first["yes#0"]] == 1.5
    assert math.isinf(g.trans[first["yes#0"], first["no#0"]])     # no jumping out of a word
    assert np.all(np.diag(g.trans) == 0.0)
    # "go back": an optional pause between its words, at no cost
    go1, backs = units.index("go#1"), [i for i, u in enumerate(units) if u == "back#0"]
    inner = [b for b in backs if g.trans[go1, b] == 0.0]
    assert len(inner) == 1
    pause = [s for s in range(len(units)) if units[s] == "sil" and g.trans[go1, s] == 0.0 and s != go1]
    assert len(pause) == 1 and g.trans[pause[0], inner[0]] == 0.0


def test_garbage_loop_never_repeats_a_phone_and_pays_to_enter() -> None:
    g = D.garbage_graph([PDF["b"], PDF["k"]], PDF["sil"], unk_cost=0.5, unk_phone_cost=0.25)
    units = [UNITS[u] for u in g.units]
    b, k = units.index("b"), units.index("k")
    assert g.start[b] == 0.75 and g.trans[0, b] == 0.75
    assert g.trans[b, k] == 0.25 and g.trans[b, b] == 0.0        # "b" then "k"; staying is the self-loop
    pause = [s for s in range(1, len(units)) if units[s] == "sil"][0]
    assert g.trans[pause, b] == 0.75 and g.final[pause] == 0.0 and g.final[b] == 0.0
    assert math.isinf(g.final[0])


def test_reference_chain_may_skip_only_optional_silences() -> None:
    pdfs = [PDF["sil"], PDF["no#0"], PDF["no#1"], PDF["sil"], PDF["yes#0"], PDF["yes#1"], PDF["yes#2"], PDF["sil"]]
    opt = [True, False, False, True, False, False, False, True]
    g = D.chain_graph(pdfs, opt, cost=10.0)
    assert list(np.flatnonzero(np.isfinite(g.start))) == [0, 1] and g.start[1] == 10.0
    assert list(np.flatnonzero(np.isfinite(g.final))) == [6, 7]
    assert g.trans[2, 4] == 0.0 and g.trans[2, 3] == 0.0          # skip or take the pause
    assert math.isinf(g.trans[1, 3]) and math.isinf(g.trans[0, 2])  # never skip a word's unit


def test_references_name_each_utterance_answer_unknown_or_cross_entropy_only() -> None:
    cfg = D.MmiConfig(phrase_cost=1.0, next_phrase_cost=8.0)
    utts = [SimpleNamespace(words=["no", "no"], kind="inv"), SimpleNamespace(words=["yesterday"], kind="oov"),
            SimpleNamespace(words=["um", "yes"], kind="mix"), SimpleNamespace(words=["ok"], kind="hard"),
            SimpleNamespace(words=["the", "cat"], kind="sent"), SimpleNamespace(words=["go"], kind="inv")]
    seqs = [([PDF["sil"], PDF["no#0"], PDF["no#1"], PDF["sil"], PDF["no#0"], PDF["no#1"], PDF["sil"]],
             [True, False, False, True, False, False, True])] + [([0], [True])] * 5
    refs = D.references(utts, seqs, PHRASES, cfg)
    assert isinstance(refs[0], D.LoopGraph) and refs[0].start[1] == 1.0 + 1.0 + 8.0
    assert refs[1] is None and refs[3] is None and refs[4] is None
    assert refs[2] == D.SKIP and refs[5] == D.SKIP


def test_phrase_segments_read_the_words_as_the_fewest_phrases() -> None:
    assert D.phrase_segments(["go", "back"], PHRASES) == ["go back"]
    assert D.phrase_segments(["yes", "go", "back"], PHRASES) == ["yes", "go back"]
    assert D.phrase_segments(["no", "no"], PHRASES) == ["no", "no"]
    assert D.phrase_segments(["go"], PHRASES) is None                # "go" alone is no phrase
    assert D.phrase_segments(["yesterday"], PHRASES) is None


INTENT_OF = {"yes": "yes", "no": "no", "back": "back", "go back": "back"}


def test_answer_intents_name_only_answers_of_one_separated_intent() -> None:
    utts = [SimpleNamespace(words=["no", "no"], kind="inv"), SimpleNamespace(words=["yes"], kind="inv"),
            SimpleNamespace(words=["go", "back"], kind="inv"), SimpleNamespace(words=["yes", "no"], kind="inv"),
            SimpleNamespace(words=["no"], kind="oov"), SimpleNamespace(words=["um", "yes"], kind="mix")]
    got = D.answer_intents(utts, PHRASES, INTENT_OF, ("yes", "no"))
    # "back" is no separated intent, "yes no" is two of them (a correction-like answer), "oov"/"mix" no answers
    assert got == ["no", "yes", None, None, None, None]
    assert D.answer_intents(utts, PHRASES, INTENT_OF, ()) == [None] * 6


def test_each_separated_intent_competes_with_the_other_intents_phrases_only() -> None:
    intent_of = INTENT_OF | {"nope": "no", "maybe": "unsure"}
    phrases = PHRASES + ["nope", "maybe"]
    assert D.rival_phrases(phrases, intent_of, ("yes", "no")) == {"yes": ["no", "nope"], "no": ["yes"]}
    assert D.rival_phrases(phrases, intent_of, ("yes", "no", "unsure")) == {
        "yes": ["no", "nope", "maybe"], "no": ["yes", "maybe"], "unsure": ["no", "yes", "nope"]}
    assert D.rival_phrases(["yes", "back"], intent_of, ("yes", "no")) == {}     # a vocabulary with no rival
    assert D.rival_phrases(phrases, intent_of, ()) == {}


FILLER_PRONS = PRONS | {"um": ("b",), "thank": ("k",), "you": ("b", "k")}
FILLERS = (["um"], ["thank you"])


def path_cost(g: D.LoopGraph, units: list[str]) -> float:
    """The cheapest path of `g` that emits exactly `units` (one state per unit, as after collapsing
    self-loops), or inf when the graph has none."""
    want = [PDF[u] for u in units]
    cost = np.where(g.units == want[0], g.start, D.INF)
    for u in want[1:]:
        step = (cost[:, None] + g.trans + np.where(np.eye(len(g.units), dtype=bool), D.INF, 0.0)).min(0)
        cost = np.where(g.units == u, step, D.INF)
    return float((cost + g.final).min())


def test_phrase_loop_lets_one_filler_wrap_the_answers_as_the_graph_does() -> None:
    plain = D.phrase_graph(PHRASES, FILLER_PRONS, PDF, PDF["sil"], phrase_cost=1.0, next_phrase_cost=8.0)
    g = D.phrase_graph(PHRASES, FILLER_PRONS, PDF, PDF["sil"], phrase_cost=1.0, next_phrase_cost=8.0,
                       before=FILLERS[0], after=FILLERS[1], filler_cost=5.0)
    yes = ["yes#0", "yes#1", "yes#2"]
    assert path_cost(g, yes) == path_cost(plain, yes) == 1.0
    assert path_cost(g, ["b"] + yes) == 6.0                           # "um yes"
    assert path_cost(g, ["sil", "b", "sil"] + yes + ["sil"]) == 6.0   # pauses around it cost nothing
    assert path_cost(g, yes + ["k", "b", "k"]) == 6.0                 # "yes thank you"
    assert path_cost(g, yes + ["sil", "k", "sil", "b", "k"]) == 6.0   # a pause inside the courtesy too
    assert path_cost(g, ["b", "no#0", "no#1", "sil", "no#0", "no#1", "k", "b", "k"]) == 1 + 9 + 5 + 5
    assert math.isinf(path_cost(plain, ["b"] + yes))
    assert math.isinf(path_cost(g, ["b", "k", "b", "k"]))              # fillers alone are no answer
    assert math.isinf(path_cost(g, ["b", "b"] + yes))                  # at most one before
    assert math.isinf(path_cost(g, yes + ["b"]))                       # a hesitation never follows
    assert math.isinf(path_cost(g, ["k", "b", "k"] + yes))             # nor a courtesy precedes


def test_unwrap_reads_a_wrapped_answer_as_its_phrases_and_fillers() -> None:
    assert D.unwrap(["yes"], PHRASES, FILLERS) == (["yes"], 0)
    assert D.unwrap(["um", "yes"], PHRASES, FILLERS) == (["yes"], 1)
    assert D.unwrap(["um", "no", "no", "thank", "you"], PHRASES, FILLERS) == (["no", "no"], 2)
    assert D.unwrap(["go", "back", "thank", "you"], PHRASES, FILLERS) == (["go back"], 1)
    assert D.unwrap(["um", "thank", "you"], PHRASES, FILLERS) is None          # no phrase between them
    assert D.unwrap(["um", "um", "yes"], PHRASES, FILLERS) is None
    assert D.unwrap(["yes", "thank"], PHRASES, FILLERS) is None                # half a courtesy
    assert D.unwrap(["um", "yes"], PHRASES) is None                            # no fillers given


def test_wrapped_answers_are_references_only_where_the_loops_have_fillers() -> None:
    utts = [SimpleNamespace(words=["um", "yes"], kind="mix"), SimpleNamespace(words=["no", "thank", "you"], kind="mix"),
            SimpleNamespace(words=["yes", "the", "cat"], kind="mix"), SimpleNamespace(words=["no", "no"], kind="inv")]
    seqs = [([0], [True])] * 4
    on = D.MmiConfig(phrase_cost=1.0, next_phrase_cost=8.0, filler_cost=5.0)
    refs = D.references(utts, seqs, PHRASES, on, FILLERS)
    assert refs[0].start[0] == 1.0 + 5.0 and refs[1].start[0] == 1.0 + 5.0
    assert refs[2] == D.SKIP                                   # wrapped in unknown words: neither loop
    assert refs[3].start[0] == 1.0 + 8.0 + 1.0
    off = D.references(utts, seqs, PHRASES, D.MmiConfig(phrase_cost=1.0, next_phrase_cost=8.0), FILLERS)
    assert off[:3] == [D.SKIP] * 3 and off[3].start[0] == 10.0  # as before the option existed
    assert D.answer_intents(utts, PHRASES, INTENT_OF, ("yes", "no"), FILLERS) == ["yes", "no", None, "no"]
    assert D.answer_intents(utts, PHRASES, INTENT_OF, ("yes", "no")) == [None, None, None, "no"]


def test_the_rival_term_has_its_own_margin_and_weight() -> None:
    """`MmiConfig.rival_boost` / `rival_weight` scale only the yes<->no term: a "yes" scored against the
    "no" loop (a network that hears it more as "no" than as "yes", so the term acts)."""
    import torch
    cfg = D.MmiConfig(phrase_cost=1.0, next_phrase_cost=8.0, separate=("yes", "no"))
    intent_of = {"yes": "yes", "no": "no"}
    priors = np.full(len(UNITS), 1.0 / len(UNITS))
    comp = D.make_competition(["yes", "no"], PRONS, PDF, ["b", "k"], priors, cfg, intent_of)
    assert set(comp.rivals) == {"yes", "no"}
    torch.manual_seed(0)
    frames = 12
    logp = torch.log_softmax(torch.randn(1, frames, len(UNITS)), -1)
    ref = D.chain_graph([PDF["sil"], PDF["yes#0"], PDF["yes#1"], PDF["yes#2"], PDF["sil"]],
                        [True, False, False, False, True], cost=1.0)

    def loss(intents=("yes",), **kw) -> float:
        return float(D.mmi_loss(logp, [frames], [ref], comp, boost=3.0, viterbi=True,
                                intents=None if intents is None else list(intents), **kw))

    without = loss(rival_weight=0.0)
    one, three = loss(), loss(rival_weight=3.0)
    assert one > without                                     # the rival term acts on this utterance
    assert math.isclose(three - without, 3 * (one - without), rel_tol=1e-5)
    assert loss(rival_boost=3.0) == one                       # None: the rival margin is `boost`
    assert loss(rival_boost=12.0) > one                       # a wider margin costs more
    assert loss(intents=None, rival_weight=3.0) == loss(intents=None)   # no separated intent: no rival term


def test_mmi_fields_added_later_stay_out_of_the_repr_at_their_defaults() -> None:
    """Training keys hash the recipe's repr: the builds keyed before `rival_boost` / `rival_weight`
    existed keep their keys (tests/test_models_body_build.py pins two)."""
    plain = repr(D.MmiConfig(epochs=1, separate=("yes", "no")))
    assert "rival" not in plain and plain.startswith("MmiConfig(epochs=1, weight=1.0, boost=3.0,")
    assert plain.endswith("separate=('yes', 'no'), filler_cost=None)")
    assert repr(D.MmiConfig(rival_weight=3.0)).endswith("filler_cost=None, rival_weight=3.0)")
    assert "rival_boost=12.0" in repr(D.MmiConfig(rival_boost=12.0))
