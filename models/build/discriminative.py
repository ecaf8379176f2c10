"""Discriminative training against the decoding graph's own competition (MMI on the answer graph).

Frame cross-entropy teaches each 30 ms frame its unit, but the product decides per utterance: the
best path through the phrase loop against the best path through the `[unk]` garbage loop
(`graph.build_hclg` with `unk_with_phrases` false). Finding 26 (docs/model-findings.md) showed that this
decision, not the choice of phrase, is where recipe 9 loses answers: a phrases-only decode is right
97% of the time, the full graph 89.5%. This module scores whole utterances on the same two loops
that libvosk searches, as differentiable forward sums over the network's pseudo-log-likelihoods
(log-posterior minus log scaled prior, as libvosk computes them), so that training can raise the
reference path against both:

    answer:  loss = logsumexp(S_phrases, S_garbage + boost) - S_reference
    unknown: loss = logsumexp(S_garbage, S_phrases + boost) - S_garbage

and, for an answer of one of the `MmiConfig.separate` intents (yes, no, unsure: a swap between them
is the product's worst error), also against the loop of the *other* separated intents' phrases:

    answer of intent I:  loss += logsumexp(S_reference, S_rivals(I) + boost) - S_reference

The first term alone pushes answers away from garbage but not from each other (finding 29: yes<->no
swaps doubled), because the phrase loop holds the reference itself and every wrong phrase unboosted.

S_reference is the forward score of the reference phrase sequence alone (optional silences around
and between words, its phrase and next-phrase costs), S_phrases and S_garbage the forward scores of
the two loops. It is maximum mutual information (Bahl et al. 1986; Povey's lattice-free MMI uses a
phone loop as the denominator in the same way) with the decoding graph itself as the denominator
and a boost (margin) between the two decisions, as in boosted MMI (Povey et al., ICASSP 2008).

With `MmiConfig.filler_cost`, the phrase loops also hold the graph's fillers (one hesitation before
the phrases, one courtesy after: "um, yes", "no thank you"), and a training text wrapped in them is
an answer through those paths; without it, such a text is neither loop's and gets cross-entropy only.

The loops are small (a few hundred emitting states), so each is held as a dense state-to-state
matrix of arc weights and a frame is one matrix product in the scaled probability domain. The
graph has no HMM transition probabilities (libvosk adds none): only the costs in `GraphCosts`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

INF = float("inf")


@dataclass(frozen=True)
class LoopGraph:
    """A decoding (sub)graph as emitting states: a path enters at one state on the first frame, each
    frame stays (cost 0) or moves along an arc, and ends in a final state. Costs are -log weights
    (inf: no such arc)."""

    units: np.ndarray     # (S,) network output (pdf) of each state
    start: np.ndarray     # (S,) cost of being in the state on the first frame
    trans: np.ndarray     # (S, S) cost of moving from state i to j between frames (diagonal: 0, the self-loop)
    final: np.ndarray     # (S,) cost of ending in the state


class _Builder:
    def __init__(self) -> None:
        self.units: list[int] = []
        self.arcs: list[tuple[int, int, float]] = []
        self.start: dict[int, float] = {}
        self.final: dict[int, float] = {}

    def state(self, unit: int) -> int:
        self.units.append(unit)
        return len(self.units) - 1

    def arc(self, a: int, b: int, cost: float) -> None:
        self.arcs.append((a, b, cost))

    def graph(self) -> LoopGraph:
        n = len(self.units)
        trans = np.full((n, n), INF)
        for a, b, c in self.arcs:
            trans[a, b] = min(trans[a, b], c)
        np.fill_diagonal(trans, 0.0)
        start, final = np.full(n, INF), np.full(n, INF)
        for s, c in self.start.items():
            start[s] = c
        for s, c in self.final.items():
            final[s] = c
        return LoopGraph(np.asarray(self.units, np.int64), start, trans, final)


def _spell(g: _Builder, phrase: str, prons: dict[str, tuple[str, ...]], pdf: dict[str, int],
           sil: int) -> tuple[int, int]:
    """A phrase's units as a chain of states, an optional pause between its words: (first, last)."""
    prev_word_last: int | None = None
    first = -1
    for w in phrase.split():
        states = [g.state(pdf[p]) for p in prons[w]]
        for a, b in zip(states, states[1:]):
            g.arc(a, b, 0.0)
        if prev_word_last is None:
            first = states[0]
        else:
            pause = g.state(sil)
            g.arc(prev_word_last, states[0], 0.0)
            g.arc(prev_word_last, pause, 0.0)
            g.arc(pause, states[0], 0.0)
        prev_word_last = states[-1]
    return first, prev_word_last


def phrase_graph(phrases: list[str], prons: dict[str, tuple[str, ...]], pdf: dict[str, int], sil: int,
                 phrase_cost: float, next_phrase_cost: float, before: list[str] = (), after: list[str] = (),
                 filler_cost: float = 0.0) -> LoopGraph:
    """The phrase loop of `build_hclg` (unk_with_phrases false): optional silence, a phrase, then any
    number of (optional silence, next-phrase cost, phrase); optional silence between a phrase's words.
    A path must hold at least one phrase (an all-silence utterance is neither answer nor unknown).
    `before` / `after`: the graph's fillers, one allowed before the first phrase and one after the
    last (optional silence between), each at `filler_cost`, as `build_hclg` spells them."""
    g = _Builder()
    lead = g.state(sil)
    g.start[lead] = 0.0
    between = g.state(sil)
    g.final[between] = 0.0
    spans = [_spell(g, phrase, prons, pdf, sil) for phrase in phrases]
    firsts, lasts = [f for f, _ in spans], [last for _, last in spans]
    entries = [lead]                      # states from which a first phrase may start
    if before:
        gap = g.state(sil)                # the optional pause after a hesitation
        entries.append(gap)
        for filler in before:
            f, last = _spell(g, filler, prons, pdf, sil)
            g.start[f] = filler_cost
            g.arc(lead, f, filler_cost)
            g.arc(last, gap, 0.0)
            for first in firsts:
                g.arc(last, first, phrase_cost)
    for f in firsts:
        g.start[f] = phrase_cost
        for e in entries:
            g.arc(e, f, phrase_cost)
        g.arc(between, f, next_phrase_cost + phrase_cost)
        for last in lasts:
            g.arc(last, f, next_phrase_cost + phrase_cost)
    for last in lasts:
        g.final[last] = 0.0
        g.arc(last, between, 0.0)
    for filler in after:
        f, end = _spell(g, filler, prons, pdf, sil)
        g.final[end] = 0.0
        g.arc(between, f, filler_cost)
        for last in lasts:
            g.arc(last, f, filler_cost)
    return g.graph()


def garbage_graph(garbage: list[int], sil: int, unk_cost: float, unk_phone_cost: float) -> LoopGraph:
    """The `[unk]` loop of `build_hclg`: optional silence, then generic phones (never one after itself),
    each costing `unk_phone_cost`, entered at `unk_cost`; a pause and a new segment cost `unk_cost` again."""
    g = _Builder()
    lead = g.state(sil)
    g.start[lead] = 0.0
    phones = [g.state(p) for p in garbage]
    pause = g.state(sil)
    g.final[pause] = 0.0
    for s in phones:
        g.start[s] = unk_cost + unk_phone_cost
        g.arc(lead, s, unk_cost + unk_phone_cost)
        g.arc(pause, s, unk_cost + unk_phone_cost)
        g.arc(s, pause, 0.0)
        g.final[s] = 0.0
        for q in phones:
            if q != s:
                g.arc(s, q, unk_phone_cost)
    return g.graph()


def chain_graph(pdfs: list[int], optional: list[bool], cost: float) -> LoopGraph:
    """The reference: `models.build.__main__.align_sequence`'s units in order, optional ones skippable;
    `cost` (its phrase and next-phrase costs) is paid on entry."""
    g = _Builder()
    states = [g.state(p) for p in pdfs]
    n = len(states)
    for i in range(n):
        # may enter at i if every state before it is optional; may leave from i if every state after is
        if all(optional[:i]):
            g.start[states[i]] = cost
        if all(optional[i + 1:]):
            g.final[states[i]] = 0.0
        for j in range(i + 1, n):
            g.arc(states[i], states[j], 0.0)
            if not optional[j]:
                break
    return g.graph()


def phrase_segments(words: list[str], phrases: list[str]) -> list[str] | None:
    """The phrases of the fewest-phrase reading of `words` (the one the cheapest graph path pays for), or None."""
    toks = [p.split() for p in phrases]
    best: list[list[str] | None] = [[]] + [None] * len(words)
    for i in range(1, len(words) + 1):
        for p, t in zip(phrases, toks):
            j = i - len(t)
            prev = best[j] if j >= 0 else None
            if prev is not None and words[j:i] == t and (best[i] is None or len(prev) + 1 < len(best[i])):
                best[i] = prev + [p]
    return best[len(words)]


class TorchGraph:
    """A LoopGraph as torch tensors: arc weights exp(-cost) for the forward recursion, and each
    state's predecessors (padded to the largest in-degree) for the Viterbi recursion."""

    def __init__(self, g: LoopGraph) -> None:
        import torch
        self.units = torch.from_numpy(g.units)
        self.start = torch.from_numpy(-g.start).float()
        self.weights = torch.from_numpy(np.exp(-g.trans)).float()
        self.final = torch.from_numpy(-g.final).float()
        finite = np.isfinite(g.trans)
        k = int(finite.sum(0).max())
        pred = np.zeros((len(g.units), k), np.int64)
        pred_w = np.full((len(g.units), k), -INF, np.float32)
        for j in range(len(g.units)):
            src = np.flatnonzero(finite[:, j])
            pred[j, : len(src)] = src
            pred_w[j, : len(src)] = -g.trans[src, j]
        self.pred = torch.from_numpy(pred)
        self.pred_w = torch.from_numpy(pred_w)


def forward_scores(loglik, lengths, graphs, viterbi: bool = False):
    """log sum (or max, `viterbi`) over the paths of a graph of each utterance's frame scores plus arc
    weights. loglik: (B, T, units) tensor; lengths: frames per utterance; graphs: one TorchGraph for
    every utterance, or a list of one per utterance (padded with unreachable states so that a frame
    is one batched matrix product)."""
    import torch
    B, T, _ = loglik.shape
    if isinstance(graphs, TorchGraph):
        units, start, final, W = graphs.units, graphs.start, graphs.final, graphs.weights
        pred, pred_w = graphs.pred, graphs.pred_w
        emit = loglik[:, :, units]                                              # (B, T, S)
        start, final = start.expand(B, -1), final.expand(B, -1)
    else:
        S = max(len(g.units) for g in graphs)
        units = torch.zeros(B, S, dtype=torch.long)
        start = torch.full((B, S), -INF)
        final = torch.full((B, S), -INF)
        W = torch.zeros(B, S, S)
        for b, g in enumerate(graphs):
            n = len(g.units)
            units[b, :n], start[b, :n], final[b, :n], W[b, :n, :n] = g.units, g.start, g.final, g.weights
        emit = torch.gather(loglik, 2, units.unsqueeze(1).expand(B, T, S))
    shared = W.dim() == 2
    lengths = torch.as_tensor(lengths)
    logW = torch.log(W) if viterbi and not shared else None
    alpha = start + emit[:, 0]
    for t in range(1, T):
        if viterbi and shared:
            new = (alpha[:, pred] + pred_w).amax(2) + emit[:, t]
        elif viterbi:
            new = (alpha.unsqueeze(2) + logW).amax(1) + emit[:, t]
        else:
            m = alpha.amax(1, keepdim=True).detach().clamp_min(-1e30)
            e = torch.exp(alpha - m)
            p = e @ W if shared else torch.bmm(e.unsqueeze(1), W).squeeze(1)
            new = torch.log(p.clamp_min(1e-37)) + m + emit[:, t]
            new = torch.where(p > 0, new, torch.full_like(new, -INF))
        alpha = torch.where((t < lengths).unsqueeze(1), new, alpha)
    end = alpha + final
    return end.amax(1) if viterbi else torch.logsumexp(end, 1)


@dataclass
class Competition:
    """The two loops an answer is decided between, for one context, prior and set of costs."""

    phrases: TorchGraph
    garbage: TorchGraph
    log_prior: object          # (units,) tensor: log of libvosk's scaled priors
    rivals: dict = field(default_factory=dict)   # intent -> TorchGraph: loop of the other separated intents' phrases


def mmi_loss(logp, lengths, refs: list[LoopGraph | None], comp: Competition, boost: float, viterbi: bool = False,
             intents: list[str | None] | None = None, rival_boost: float | None = None, rival_weight: float = 1.0):
    """Boosted MMI of each utterance against the phrase and garbage loops (module docstring), summed.
    refs[b]: the reference chain of an answer, or None for unknown speech; intents[b]: the answer's
    separated intent (a key of comp.rivals), whose rival loop it must beat too, or None. With
    `viterbi`, every score is its best path's, as the decoder decides (the forward sum over the
    garbage loop also counts its many segmentations of the same speech, which the decoder never adds up).
    The rival term has its own margin (`rival_boost`, default `boost`) and weight (`rival_weight`):
    a yes<->no swap costs the patient more than an answer asked again."""
    import torch
    loglik = logp.float() - comp.log_prior
    s_phr = forward_scores(loglik, lengths, comp.phrases, viterbi)
    s_gar = forward_scores(loglik, lengths, comp.garbage, viterbi)
    answer = [b for b, r in enumerate(refs) if r is not None]
    total = loglik.new_zeros(())
    if answer:
        idx = torch.tensor(answer)
        s_ref = forward_scores(loglik[idx], [lengths[b] for b in answer], [TorchGraph(refs[b]) for b in answer],
                               viterbi)
        total = total + (torch.logaddexp(s_phr[idx], s_gar[idx] + boost) - s_ref).sum()
        for intent, rival in comp.rivals.items():
            pos = [k for k, b in enumerate(answer) if intents is not None and intents[b] == intent]
            if pos:
                sel = torch.tensor(pos)
                s_riv = forward_scores(loglik[idx[sel]], [lengths[answer[k]] for k in pos], rival, viterbi)
                margin = boost if rival_boost is None else rival_boost
                total = total + rival_weight * (torch.logaddexp(s_ref[sel], s_riv + margin) - s_ref[sel]).sum()
    unknown = [b for b, r in enumerate(refs) if r is None]
    if unknown:
        idx = torch.tensor(unknown)
        total = total + (torch.logaddexp(s_gar[idx], s_phr[idx] + boost) - s_gar[idx]).sum()
    return total


@dataclass(frozen=True, repr=False)
class MmiConfig:
    """The discriminative stage that follows cross-entropy training (`Recipe.mmi`).

    The competition is scored at one fixed tuning point (prior scale and costs near what the tuner
    chooses); the tuner then chooses again for the new network."""

    epochs: int = 2
    weight: float = 1.0          # MMI loss per output frame, added to the cross-entropy
    boost: float = 3.0           # margin (log-likelihood) the reference must win by
    lr: float = 3e-4             # decays to a tenth over the stage
    prior_scale: float = 0.8
    unk_cost: float = 0.5
    next_phrase_cost: float = 8.0
    phrase_cost: float = 1.0
    viterbi: bool = False        # best-path scores (as the decoder decides) instead of forward sums
    separate: tuple[str, ...] = ()   # intents whose answers must also beat each other's phrases by `boost`
    filler_cost: float | None = None  # None: the loops have no fillers and wrapped answers are skipped;
    #                                   else the graph's fillers wrap phrases at this cost (Recipe.filler_cost)
    rival_boost: float | None = None  # margin an answer must beat the other separated intents by (None: `boost`)
    rival_weight: float = 1.0        # weight of that term against the phrase/garbage one

    # Fields added after builds were keyed by this repr: left out of it at their defaults, so the
    # training keys of recipes made before them (and the checkpoints of running builds) stay the same.
    LATER_FIELDS = {"rival_boost": None, "rival_weight": 1.0}

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if not (f.name in self.LATER_FIELDS and getattr(self, f.name) == self.LATER_FIELDS[f.name])]
        return f"{type(self).__name__}({', '.join(shown)})"


SKIP = "skip"
UNKNOWN_KINDS = frozenset({"oov", "near", "hard", "sent"})


def unwrap(words: list[str], phrases: list[str], fillers: tuple[list[str], list[str]] = ((), ())
           ) -> tuple[list[str], int] | None:
    """A wrapped answer's phrases and how many fillers wrap them (at most one `before`, one `after`,
    as the graph allows): the reading with the fewest phrases, then the fewest fillers; None when no
    reading is phrases with fillers around them."""
    befores = [[]] + [f.split() for f in fillers[0]]
    afters = [[]] + [f.split() for f in fillers[1]]
    best: tuple[list[str], int] | None = None
    for b in befores:
        for a in afters:
            if len(b) + len(a) >= len(words) or words[:len(b)] != b or (a and words[len(words) - len(a):] != a):
                continue
            seg = phrase_segments(words[len(b):len(words) - len(a)], phrases)
            n = bool(b) + bool(a)
            if seg is not None and (best is None or (len(seg), n) < (len(best[0]), best[1])):
                best = (seg, n)
    return best


def answer_reading(u, phrases: list[str], fillers: tuple[list[str], list[str]]) -> tuple[list[str], int] | None:
    """`unwrap` of a training text that may be an answer: an `inv` text as phrases alone, a `mix` text
    as phrases wrapped in `fillers`; None for every other kind."""
    if u.kind not in ("inv", "mix"):
        return None
    return unwrap(u.words, phrases, fillers if u.kind == "mix" else ((), ()))


def references(utts, seqs, phrases: list[str], cfg: MmiConfig,
               fillers: tuple[list[str], list[str]] = ((), ())) -> list:
    """Each training utterance's reference for `mmi_loss`: the chain of its phrases for an answer,
    None for unknown speech, SKIP for the rest (recorded clips and texts no phrase sequence covers).
    With `cfg.filler_cost`, an answer wrapped in `fillers` ("um, no", "no thank you") is an answer
    through the phrase loop's filler paths; without, it is skipped (neither path of a graph without
    fillers)."""
    out: list = []
    wrap = fillers if cfg.filler_cost is not None else ((), ())
    for u, (pdfs, opt) in zip(utts, seqs):
        if u.kind in UNKNOWN_KINDS:
            out.append(None)
            continue
        read = answer_reading(u, phrases, wrap)
        if read is None:
            out.append(SKIP)
            continue
        n, k = len(read[0]), read[1]
        out.append(chain_graph(pdfs, opt, n * cfg.phrase_cost + (n - 1) * cfg.next_phrase_cost
                               + k * (cfg.filler_cost or 0.0)))
    return out


def answer_intents(utts, phrases: list[str], intent_of: dict[str, str], separate: tuple[str, ...],
                   fillers: tuple[list[str], list[str]] = ((), ())) -> list[str | None]:
    """Each utterance's separated intent for `mmi_loss`: the one intent of `separate` that every phrase
    of an answer (wrapped in `fillers` or not) belongs to, else None (unknown speech, other intents,
    corrections, mixed answers)."""
    out: list[str | None] = []
    for u in utts:
        read = answer_reading(u, phrases, fillers)
        found = {intent_of.get(p) for p in read[0]} if read else set()
        out.append(found.pop() if len(found) == 1 and found <= set(separate) else None)
    return out


def rival_phrases(phrases: list[str], intent_of: dict[str, str], separate: tuple[str, ...]) -> dict[str, list[str]]:
    """For each separated intent with phrases, the phrases of the other separated intents (none: no rival)."""
    present = {intent_of[p] for p in phrases if intent_of.get(p) in separate}
    out = {i: [p for p in phrases if intent_of.get(p) in present - {i}] for i in separate if i in present}
    return {i: ps for i, ps in out.items() if ps}


def make_competition(phrases: list[str], prons, pdf: dict[str, int], garbage: list[str], priors: np.ndarray,
                     cfg: MmiConfig, intent_of: dict[str, str] | None = None,
                     fillers: tuple[list[str], list[str]] = ((), ())) -> Competition:
    """The loops at `cfg`'s costs; `priors` are libvosk's, already scaled (`scaled_priors` at
    `cfg.prior_scale`). The garbage loop's per-phone cost is 0, as every tuning grid has it. With
    `intent_of` (phrase -> intent), each intent of `cfg.separate` gets the loop of the other
    separated intents' phrases as its rival. With `cfg.filler_cost`, the phrase loops (rivals too: a
    wrapped "no" competes with a wrapped "yes") let `fillers` wrap the phrases, as the graph does."""
    import torch
    sil = pdf["sil"]
    wrap = {} if cfg.filler_cost is None else {"before": list(fillers[0]), "after": list(fillers[1]),
                                               "filler_cost": cfg.filler_cost}

    def loop(ps: list[str]) -> TorchGraph:
        return TorchGraph(phrase_graph(ps, prons, pdf, sil, cfg.phrase_cost, cfg.next_phrase_cost, **wrap))
    rivals = {intent: loop(others)
              for intent, others in rival_phrases(phrases, intent_of or {}, cfg.separate).items()}
    return Competition(
        phrases=loop(phrases),
        garbage=TorchGraph(garbage_graph([pdf[g] for g in garbage], sil, cfg.unk_cost, 0.0)),
        log_prior=torch.log(torch.from_numpy(priors)).float(), rivals=rivals)


def extra_loss(refs: list, comp: Competition, cfg: MmiConfig, intents: list[str | None] | None = None):
    """`nnet.train_epochs`' extra loss: the batch's MMI, per output frame, times `cfg.weight`."""
    import torch

    def loss(logp, batch: list[int], frames: list[int]):
        sel = [k for k, i in enumerate(batch) if not isinstance(refs[i], str)]
        if not sel:
            return logp.new_zeros(())
        total = mmi_loss(logp[torch.tensor(sel)], [frames[k] for k in sel], [refs[batch[k]] for k in sel],
                         comp, cfg.boost, cfg.viterbi,
                         None if intents is None else [intents[batch[k]] for k in sel],
                         cfg.rival_boost, cfg.rival_weight)
        return cfg.weight * total / sum(frames)
    return loss
