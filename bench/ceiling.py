"""python -m bench.ceiling [--model DIR] [--quick]: how much of a model's held-out accuracy gap is its
network and how much is the rejection of unknown speech.

The held-out speech of `bench.accuracy` is decoded twice: with the model's own graphs, and with a
copy of them that has no `[unk]` path (the same phrases, fillers, groups and costs), where every
utterance must come out as some phrase. The copy's accuracy is the ceiling: no tuning of the
`[unk]` costs and no rejection rule can hear more phrases right than the network does when nothing
can be rejected (the prior scale, baked into am/final.mdl, is kept). If a goal is above the
ceiling, only a better network reaches it (docs/model-findings.md, finding 54). Prints a table per
condition and per engine; JSON in bench/results/ceiling.json.
Needs the training extra (`kaldifst` writes the graphs): `sh install.sh --dev`. ~8 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from models.answer_model import MANIFEST, MODEL_DIR
from models.build.__main__ import make_graphs, write_graphs   # kaldifst is loaded only when a graph is built
from models.build.corpus import GARBAGE_CONTEXT, load_vocabulary
from models.build.graph import GraphCosts
from models.build.lexicon import Lexicon
from models.registry import ModelError, check_model_dir

RESULTS = Path(__file__).resolve().parent / "results"


def read_units_lexicon(path: Path) -> dict[str, tuple[str, ...]]:
    """graph/lexicon.txt of a built model: each graph word and its acoustic units."""
    prons = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) < 2:
            raise ModelError(f"{path}:{n}: expected a word and its units, got {line!r}")
        prons[parts[0]] = tuple(parts[1:])
    return prons


def forced_choice_copy(model: Path, out: Path) -> Path:
    """`model` copied to `out` with every phrase graph rebuilt without its `[unk]` path: the same
    phrases, fillers, phrase groups and costs (from the model's manifest and graph/lexicon.txt), so
    the network's best phrase is always the answer. The garbage-only graph is kept as it is."""
    if not (model / MANIFEST).is_file():
        raise ModelError(f"{model}: no {MANIFEST}; a forced-choice copy needs a model built by `python -m models.build`")
    manifest = json.loads((model / MANIFEST).read_text())
    vocab = load_vocabulary()
    if manifest["vocabulary"]["words"] != vocab.words() or any(
            phrases != vocab.all_phrases(ctx) for ctx, phrases in manifest["contexts"].items()):
        raise ModelError(f"{model}: its vocabulary differs from dialog/vocabulary.yaml; a forced-choice copy "
                         "needs the phrase groups of the vocabulary it was built with")
    lexicon = model / "graph" / "lexicon.txt"
    if not lexicon.is_file():
        raise ModelError(f"{lexicon}: missing; `python -m models.build` writes it with the graphs")
    prons = read_units_lexicon(lexicon)
    phones = manifest["phones"]
    costs = GraphCosts(**manifest["graph_costs"])
    fillers = manifest["vocabulary"].get("fillers") or {"before": [], "after": []}
    words = {w for ps in manifest["contexts"].values() for p in [*ps, *fillers["before"], *fillers["after"]]
             for w in p.split()}
    missing = sorted(words - prons.keys())
    if missing:
        raise ModelError(f"{lexicon}: no units for {', '.join(missing)}, which its graphs use; rebuild the model "
                         "(models built before recipe 13 do not list their fillers there)")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(model, out)
    phrase_contexts = [ctx for ctx in manifest["contexts"] if ctx != GARBAGE_CONTEXT]
    write_graphs(out, make_graphs(vocab, Lexicon(prons=prons), {p: i + 1 for i, p in enumerate(phones)}, costs,
                                  phrase_contexts, manifest["garbage_phones"],
                                  (fillers["before"], fillers["after"]), unk=False), phones)
    return out


def ceiling(model: Path, forced: Path, speech) -> dict:
    """Phrases right per condition and engine with the model's graphs and with its forced-choice copy."""
    from models.build.decode import decode_many
    items = [(voice, cond, ref, audio) for voice, cond, ref, audio in speech.items if ref != "[unk]"]
    audio = [a for *_, a in items]
    heard = {"model": decode_many(model, audio), "forced": decode_many(forced, audio)}
    right: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    rejected: dict[str, list[bool]] = defaultdict(list)
    for k, hyps in heard.items():
        for (voice, cond, ref, _), hyp in zip(items, hyps):
            right[k][cond].append(hyp == ref)
            right[k][f"{voice.split(':')[0]} {cond}"].append(hyp == ref)
            if k == "model":
                rejected[cond].append(all(w == "[unk]" for w in hyp.split()))
    rate = {k: {c: sum(v) / len(v) for c, v in per.items()} for k, per in right.items()}
    return {"model": str(model), "phrases": rate["model"], "phrases_forced_choice": rate["forced"],
            "phrases_rejected_by_model": {c: sum(v) / len(v) for c, v in rejected.items()},
            "utterances": len(items), "heldout_voices": speech.voices}


def print_table(r: dict) -> None:
    conds = list(r["phrases_rejected_by_model"])
    print(f"{r['model']}: {r['utterances']} held-out phrase utterances, {len(r['heldout_voices'])} voices")
    print(f"{'phrases right':<14} {'model':>7} {'no [unk]':>9} {'rejected':>9}")
    for c in conds:
        print(f"{c:<14} {r['phrases'][c]:7.1%} {r['phrases_forced_choice'][c]:9.1%} "
              f"{r['phrases_rejected_by_model'][c]:9.1%}")
    engines = sorted({k.split()[0] for k in r["phrases"] if " " in k})
    print(f"\n{'model / no [unk]':<17}" + "".join(f"{c:>15}" for c in conds))
    for e in engines:
        print(f"{e:<17}" + "".join(f"{r['phrases'][f'{e} {c}']:8.1%}/{r['phrases_forced_choice'][f'{e} {c}']:6.1%}"
                                   for c in conds))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    ap.add_argument("--quick", action="store_true", help="fewer voices (as bench.accuracy --quick)")
    ap.add_argument("--out", type=Path, default=RESULTS / "ceiling.json")
    args = ap.parse_args(argv)
    try:
        check_model_dir(args.model)
        with tempfile.TemporaryDirectory(prefix="ceiling-") as tmp:
            forced = forced_choice_copy(args.model, Path(tmp) / "forced")   # before minutes of synthesis
            from bench.accuracy import synthesize
            r = ceiling(args.model, forced, synthesize(args.quick))
    except ModelError as e:
        ap.error(str(e))
    print_table(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(r, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
