"""How long would `python -m models.build` take on this machine? Measure each stage on a sample, project.

The issue asks for a recipe that rebuilds the model from nothing in under an hour on 2 cores, and
that holds or fails by the CPU: on a 2-core EPYC with AVX512-BF16 recipe 9 took ~60 minutes, on
one without AVX-512 the same synthesis ran 2.6x slower and a training batch 2.5x slower
(docs/model-findings.md, finding 31). This benchmark tells in a few minutes, before an hour is spent:

* synthesis + augmentation + features: the first jobs of each engine in the recipe's own plan
  (its real texts and voices), timed one at a time, scaled by that engine's share of the plan and
  divided by the build's 2 workers;
* cross-entropy training: real batches of that speech through the recipe's network, with the
  recipe's per-batch perturbation (`nnet.train_epochs`), scaled by the batches of every epoch;
* realignment (forward pass and Viterbi alignment of all speech, once per stage after the first);
* the discriminative stage (`discriminative.py`): per batch, with forward sums, best paths, and best
  paths with the answers separated from each other (`MmiConfig.separate`), whichever runs.

Tuning is not projected (it decodes the development set through libvosk once per grid point: 273
s for recipe 9's 84 points on the AVX-512 machine); nor is the human-clip loading.

    python -m bench.build_time [--tiny] [--jobs-per-engine 2]   # table + bench/results/build_time.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BUDGET_MINUTES = 60.0
WORKERS = 2            # models.build synthesises with a pool of 2


def cpu_flags() -> dict:
    """The CPU features training speed depends on (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    return {"model": model, "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "avx512_bf16": "avx512_bf16" in flags, "avx512_vnni": "avx512_vnni" in flags,
            "amx_bf16": "amx_bf16" in flags}


def time_synthesis(jobs, per_engine: int) -> tuple[dict, list]:
    """Seconds per text by engine (synthesis, 'copies' augmentations, features), and the speech made."""
    from models.build.data import run_job
    by_engine = defaultdict(list)
    for j in jobs:
        by_engine[j.voice.engine].append(j)
    rows, utts = {}, []
    for engine, js in sorted(by_engine.items()):
        per_text = []
        for j in js[:per_engine]:
            t0 = time.perf_counter()
            utts += run_job(j)
            per_text.append((time.perf_counter() - t0) / len(j.texts))
        texts = sum(len(j.texts) for j in js)
        s = statistics.median(per_text)
        rows[engine] = {"texts": texts, "seconds_per_text": round(s, 4), "jobs_timed": len(per_text),
                        "minutes": round(texts * s / WORKERS / 60, 2)}
    return rows, utts


def time_training(recipe, prep, utts, mmi_variants: list[tuple[str, object]]) -> dict:
    """Per-batch seconds of cross-entropy and of each MMI variant, realignment seconds per utterance,
    and the number of batches an epoch of the full plan holds."""
    from models.build.__main__ import discriminative_loss, floored_priors, new_network, realign, training_set
    from models.build.nnet import batches, bf16_native, num_outputs, train_epochs
    ts = training_set(recipe, utts, prep.lex, prep.pdf)
    model = new_network(recipe, len(prep.phones), ts, seed=0)
    n_batches = len(batches([len(f) for f in ts.feats], recipe.train.batch_frames, np.random.default_rng(0)))

    def per_batch(extra=None) -> float:
        t0 = time.perf_counter()
        train_epochs(model, ts.inputs, ts.labels, 1, recipe.train, np.random.default_rng(1), (1e-4, 1e-5),
                     desc="timing", transform=ts.transform, extra_loss=extra)
        return (time.perf_counter() - t0) / n_batches

    per_batch()                                    # warm-up: allocations, thread pools
    out = {"bf16": bool(recipe.train.bf16 and bf16_native()), "sample_batches": n_batches,
           "ce_seconds_per_batch": round(per_batch(), 3)}
    t0 = time.perf_counter()
    realign(model, ts, ts.labels)
    out["realign_seconds_per_utt"] = round((time.perf_counter() - t0) / len(ts.feats), 5)
    # an epoch of the full plan: every text `copies` times, lengths drawn from the sample
    total = sum(len(j.texts) for j in prep.jobs) * recipe.plan.copies
    lengths = np.random.default_rng(2).choice([len(f) for f in ts.feats], total)
    out["batches_per_epoch"] = len(batches(list(lengths), recipe.train.batch_frames, np.random.default_rng(0)))
    out["utterances"] = int(total)
    out["output_frames_per_utt"] = round(float(np.mean([num_outputs(len(f)) for f in ts.feats])), 1)
    raw_priors = floored_priors(np.bincount(np.concatenate(ts.labels), minlength=len(prep.phones)).astype(np.float64))
    phrases = prep.vocab.all_phrases("all")
    mmi = {name: round(per_batch(discriminative_loss(m, ts, phrases, prep.vocab.intent_of(), prep.lex, prep.pdf,
                                                     prep.garbage, raw_priors)), 3)
           for name, m in mmi_variants}
    out["mmi_seconds_per_batch"] = mmi
    return out


def project(recipe, synth: dict, train: dict) -> dict:
    """Minutes per stage of the whole recipe on this machine."""
    epochs = sum(recipe.epochs)
    out = {"synthesis": round(sum(r["minutes"] for r in synth.values()), 1),
           "cross_entropy": round(epochs * train["batches_per_epoch"] * train["ce_seconds_per_batch"] / 60, 1),
           "realignment": round((len(recipe.epochs) - 1) * train["utterances"] * train["realign_seconds_per_utt"] / 60, 1)}
    if recipe.mmi is not None:
        per = train["mmi_seconds_per_batch"][RECIPE_MMI]
        out["discriminative"] = round(recipe.mmi.epochs * train["batches_per_epoch"] * per / 60, 1)
    out["total_without_tuning"] = round(sum(out.values()), 1)
    return out


RECIPE_MMI = "the recipe's"


def mmi_variants(recipe) -> list[tuple[str, object]]:
    """The recipe's own discriminative stage (if it has one) and the three scorings to compare."""
    from models.build.discriminative import MmiConfig
    base = recipe.mmi or MmiConfig()
    sep = base.separate or ("yes", "no", "unsure")
    own = [(RECIPE_MMI, recipe.mmi)] if recipe.mmi is not None else []
    return own + [("forward sums", replace(base, viterbi=False, separate=())),
            ("best paths", replace(base, viterbi=True, separate=())),
            ("best paths + separate", replace(base, viterbi=True, separate=sep))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.build_time", description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="the tiny recipe (what CI builds)")
    ap.add_argument("--jobs-per-engine", type=int, default=2, help="jobs timed per synthesis engine (24 texts each)")
    ap.add_argument("--out", type=Path, default=RESULTS / "build_time.json")
    args = ap.parse_args(argv)
    if args.jobs_per_engine < 1:
        ap.error("--jobs-per-engine must be at least 1")
    from models.build.__main__ import FULL, TINY, prepare
    recipe = TINY if args.tiny else FULL
    prep = prepare(recipe, seed=1, tiny=args.tiny)
    synth, utts = time_synthesis(prep.jobs, args.jobs_per_engine)
    train = time_training(recipe, prep, utts, mmi_variants(recipe))
    proj = project(recipe, synth, train)
    result = {"recipe": "tiny" if args.tiny else "full", "machine": {"cpu": cpu_flags(), "cores": _cores(),
              "python": platform.python_version()}, "synthesis": synth, "training": train,
              "projected_minutes": proj, "budget_minutes": BUDGET_MINUTES,
              "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"written: {args.out}")
    return 0


def _cores() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def table(r: dict) -> str:
    cpu = r["machine"]["cpu"]
    feats = ", ".join(k for k in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if cpu.get(k)) or "none"
    lines = [f"models.build ({r['recipe']} recipe) on {cpu.get('model', '?')}, {r['machine']['cores']} cores "
             f"(CPU features: {feats})", "",
             f"{'synthesis engine':<18}{'texts':>8}{'s/text':>9}{'minutes (2 workers)':>21}"]
    for e, row in r["synthesis"].items():
        lines.append(f"{e:<18}{row['texts']:>8}{row['seconds_per_text']:>9.3f}{row['minutes']:>21.1f}")
    t = r["training"]
    lines += ["", f"cross-entropy: {t['ce_seconds_per_batch']:.2f} s per batch"
              f"{' (bfloat16)' if t['bf16'] else ' (float32)'}, {t['batches_per_epoch']} batches per epoch "
              f"({t['utterances']} utterances, {t['output_frames_per_utt']} output frames each)",
              "discriminative stage, s per batch: " + ", ".join(f"{k} {v:.2f}" for k, v in t["mmi_seconds_per_batch"].items()),
              "", f"{'stage':<24}{'projected minutes':>18}"]
    for k, v in r["projected_minutes"].items():
        lines.append(f"{k:<24}{v:>18.1f}")
    total = r["projected_minutes"]["total_without_tuning"]
    verdict = "within" if total < r["budget_minutes"] else "OVER"
    lines.append(f"{verdict} the {r['budget_minutes']:.0f}-minute budget before tuning (~5 min on an AVX-512 machine)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
