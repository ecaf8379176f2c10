"""The decoding graph (HCLG.fst) written directly: a loop over the accepted phrases, optional
silence anywhere between words, and an `[unk]` garbage path (a free loop over speech phones) that
absorbs speech outside the vocabulary.

The HMM level is folded in (one emitting state per phone): entering a phone consumes its forward
transition id, staying consumes its self-loop id (Kaldi's "reordered" layout: forward arc first).
Costs are in the same units as the network's log-likelihoods (acoustic scale 1.0):
  phrase_cost   added once per phrase (an insertion penalty),
  unk_cost      added once per garbage segment,
  unk_phone_cost added per garbage phone,
  next_phrase_cost added for every phrase after an utterance's first.
A higher unk cost makes the model accept more (and reject less); the build tunes both on
development speech.

With `unk_with_phrases` false an utterance is either phrases or garbage, never both: "yesterday"
can no longer come out as "yes [unk]" (a vocabulary word found inside a longer unknown word), at
the price of rejecting a phrase wrapped in unknown words ("well yes I suppose").

Fillers (`before` / `after`, models/build/fillers.yaml) mend the price of that: one hesitation may
precede the phrases and one courtesy may follow them ("um, yes", "no thank you"), each at
`filler_cost`. They are words of their own, spelled in the generic phones the garbage loop uses,
so a few known short words can wrap an answer where `[unk]`, which matches anything, may not. A
filler never stands alone: an utterance of fillers only is not a path, it comes out `[unk]`.

`next_phrase_cost` makes a run of phrases dearer than one: unknown speech that the phrase loop can
cover (a sentence read as "no hello back", a single word as "yes again": most unknown speech that
was accepted, synthetic and human) must beat the garbage path by that much more, while an answer
said twice ("no no") can still be heard, or heard once, which means the same.

Groups (`runs_in_groups`, `Vocabulary.phrase_groups`) narrow the runs further: a run keeps to the
group of its first phrase, the answers and corrections together, each command apart. The dialog
ignores a command said with an answer, so "yes again" only ever meant yes, and it was the path by
which "yesterday" became one (docs/model-findings.md, finding 47).
"""
from __future__ import annotations

from dataclasses import dataclass

from models.build.kaldi_format import forward_tid, self_loop_tid

UNK = "[unk]"


@dataclass(frozen=True)
class GraphCosts:
    phrase_cost: float = 1.0
    unk_cost: float = 10.0
    unk_phone_cost: float = 1.0
    unk_with_phrases: bool = True   # may [unk] and phrases share an utterance?
    next_phrase_cost: float = 0.0   # per phrase after the first (only where phrases loop on their own)
    filler_cost: float = 0.0        # per filler before or after the phrases (when fillers are given)
    runs_in_groups: bool = False    # a run of phrases stays in its first phrase's group (Vocabulary.phrase_groups)


def word_symbols(phrases: list[str]) -> list[str]:
    words = sorted({w for p in phrases for w in p.split()})
    return ["<eps>", UNK] + words


def build_hclg(phrases: list[str], prons: dict[str, tuple[str, ...]], phone_ids: dict[str, int],
               costs: GraphCosts, unk: bool = True, garbage_phones: list[str] | None = None,
               before: list[str] = (), after: list[str] = (), groups: list[list[str]] | None = None):
    """HCLG over `phrases`; the [unk] loop runs over `garbage_phones` (default: every phone but sil).
    `before` / `after`: filler phrases allowed once before the first phrase / after the last one
    (only where phrases and garbage never mix, `unk_with_phrases` false).
    `groups`: where given, a run of phrases stays inside the group of its first phrase (each phrase
    in exactly one group), so "yes" can be followed by "sure" or "i mean no" but not by "again"."""
    if (before or after) and costs.unk_with_phrases:
        raise ValueError("fillers need unk_with_phrases=False: with garbage next to phrases they are redundant")
    if groups is not None:
        if costs.unk_with_phrases:
            raise ValueError("phrase groups need unk_with_phrases=False: garbage would join any phrases")
        grouped = [p for g in groups for p in g]
        if sorted(grouped) != sorted(phrases) or len(set(grouped)) != len(grouped):
            raise ValueError("phrase groups must hold every phrase exactly once")
    else:
        groups = [list(phrases)]
    import kaldifst   # after the checks: a bad call fails without loading OpenFst
    syms = word_symbols([*phrases, *before, *after])
    wid = {w: i for i, w in enumerate(syms)}
    sil = phone_ids["sil"]
    fst = kaldifst.StdVectorFst()
    hub = fst.add_state()
    fst.start = hub
    fst.set_final(hub, 0.0)

    def arc(a: int, ilabel: int, olabel: int, cost: float, b: int) -> None:
        fst.add_arc(a, kaldifst.StdArc(ilabel, olabel, cost, b))

    def phone(a: int, p: int, olabel: int = 0, cost: float = 0.0) -> int:
        b = fst.add_state()
        arc(a, forward_tid(p), olabel, cost, b)
        arc(b, self_loop_tid(p), 0, 0.0, b)
        return b

    def optional_silence(a: int) -> int:
        """a -> (silence)? -> returned junction state. No path has two silence segments in a row:
        equal-cost alternatives (one long silence vs two short ones) blow up lattice determinization."""
        j = fst.add_state()
        arc(a, 0, 0, 0.0, j)
        s = phone(a, sil)
        arc(s, 0, 0, 0.0, j)
        return j

    words_entry = optional_silence(hub)
    phrase_start = words_entry
    # one (start, end) pair per group; with unk_with_phrases the single group ends at the hub
    loops = [(words_entry, hub)]
    betweens: list[int] = []
    if not costs.unk_with_phrases:
        # each group's phrases loop among themselves (end -> optional silence -> start) and never
        # return to the hub, from which the garbage path leaves
        phrase_start = fst.add_state()
        arc(words_entry, 0, 0, 0.0, phrase_start)
        loops = []
        for _ in groups:
            start, end = (phrase_start, fst.add_state()) if len(groups) == 1 else (fst.add_state(), fst.add_state())
            if start != phrase_start:
                arc(phrase_start, 0, 0, 0.0, start)
            fst.set_final(end, 0.0)
            between = optional_silence(end)
            fst.set_final(between, 0.0)
            arc(between, 0, 0, costs.next_phrase_cost, start)
            loops.append((start, end))
            betweens.append(between)

    def spell(a: int, phrase: str, cost: float) -> int:
        """The phrase's words from state a (silence allowed between them); `cost` on its first phone."""
        cur = a
        for j, w in enumerate(phrase.split()):
            if j > 0:
                cur = optional_silence(cur)
            for k, p in enumerate(prons[w]):
                cur = phone(cur, phone_ids[p], wid[w] if k == 0 else 0, cost if (j == 0 and k == 0) else 0.0)
        return cur

    for group, (start, end) in zip(groups, loops):
        for phrase in group:
            arc(spell(start, phrase, costs.phrase_cost), 0, 0, 0.0, end)
    for filler in before:       # words_entry -> filler -> (silence) -> the phrases
        arc(optional_silence(spell(words_entry, filler, costs.filler_cost)), 0, 0, 0.0, phrase_start)
    if after:                   # the last phrase -> (silence) -> filler -> end
        filler_end = fst.add_state()
        fst.set_final(filler_end, 0.0)
        for between in betweens:
            for filler in after:
                arc(spell(between, filler, costs.filler_cost), 0, 0, 0.0, filler_end)
    fst.set_final(words_entry, 0.0)
    if unk:
        # Garbage: a loop over phones where a phone never follows itself (same reason as above).
        g0 = fst.add_state()
        arc(words_entry, 0, wid[UNK], costs.unk_cost, g0)
        names = garbage_phones if garbage_phones is not None else [n for n in phone_ids if n != "sil"]
        ids = [phone_ids[n] for n in sorted(names)]
        garbage_end = hub
        if not costs.unk_with_phrases:
            # garbage ends on its own state: final, or a pause and then more garbage, never a phrase
            garbage_end = fst.add_state()
            fst.set_final(garbage_end, 0.0)
            pause = phone(garbage_end, sil)
            fst.set_final(pause, 0.0)
            arc(pause, 0, wid[UNK], costs.unk_cost, g0)
        states = {}
        for p in ids:
            states[p] = fst.add_state()
            arc(states[p], self_loop_tid(p), 0, 0.0, states[p])
            arc(states[p], 0, 0, 0.0, garbage_end)
            arc(g0, forward_tid(p), 0, costs.unk_phone_cost, states[p])
        for p in ids:
            for q in ids:
                if q != p:
                    arc(states[p], forward_tid(q), 0, costs.unk_phone_cost, states[q])
    kaldifst.arcsort(fst, sort_type="ilabel")
    return fst, syms
