"""python -m models.build.mine --model DIR: hard negatives, the unknown words a model takes for answers.

Random dictionary words teach a network mostly what it already rejects (recipe 8 rejected ~96%
of them). The words it accepts instead ("hope" -> "help", "backup" -> "back stop") are
the ones worth training as unknown speech. This tool speaks dictionary words with the build's own
training voices, clean and at 10 dB, decodes them through libvosk with the model's "all" graph, and
writes every word heard as a phrase at least once to `hard_negatives.yaml`, which the next build
draws its "hard" texts from (`DataPlan.kinds`).

Candidates are a seeded dictionary sample plus the vocabulary's near-rhymes (corpus.near_rhymes),
never a vocabulary word, a word that is one in some accent ("know", "nah": corpus.sounds_like_vocabulary)
or one of the benchmark's held-out unknown words. The file is a list of mining runs, each saying
which model mined it; mining again with the next model appends a run (`--replace` starts over), and
a word that several models took for a phrase is drawn once per run that heard it, so the words one
round of training did not cure get more texts in the next. It is an input of a build, like the
vocabulary, and is committed.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import yaml

from models.build.corpus import (Vocabulary, cmu_words, heldout_oov_candidates, load_vocabulary, near_rhymes,
                                 sounds_like_vocabulary)
from models.build.data import DataPlan, training_voices
from models.build.tts import Voice, synth_many

HARD_NEGATIVES_YAML = Path(__file__).with_name("hard_negatives.yaml")
MINE_SEED = 7207
CONDITIONS = (None, 10.0)        # clean, and white/pink/babble noise at 10 dB SNR (bench's conditions)
# The voices words are mined with: recipe 8's training plan (same engines and shares), fixed here so
# that mining again with the same model gives the same list whatever the next recipe's plan is.
MINE_PLAN = DataPlan(festival_share=0.35, piper_share=0.15, mbrola_share=0.15, pico_share=0.06,
                     rhvoice_share=0.08, kokoro_share=0.10)


class HardNegativesError(ValueError):
    """hard_negatives.yaml is missing or malformed."""


def never_negative(vocab: Vocabulary) -> frozenset[str]:
    """Words never to mine or train as unknown speech: vocabulary words, words that are one in
    some accent, and the benchmark's held-out unknown words."""
    words = vocab.words()
    return frozenset(words) | sounds_like_vocabulary(words) | heldout_oov_candidates()


def candidates(vocab: Vocabulary, n_random: int, seed: int = MINE_SEED) -> list[str]:
    """Words to try: `n_random` dictionary words and the near-rhymes, minus what must never be a negative."""
    words = vocab.words()
    never = never_negative(vocab)
    pool = set(cmu_words(random.Random(seed), n_random)) | set(
        near_rhymes(words, random.Random(seed + 1), per_word=60, exclude=never))
    return sorted(w for w in pool if w not in never)


_MODEL = None


def _load(model_dir: str) -> None:
    global _MODEL
    import vosk
    vosk.SetLogLevel(-1)
    _MODEL = vosk.Model(model_dir)


def _heard(job: tuple[int, Voice, list[str]]) -> list[tuple[str, str, str]]:
    """(word, condition, what libvosk heard) for each word of one voice, clean and at 10 dB."""
    from models.answer_model import recognize
    from models.build.augment import eval_condition
    index, voice, words = job
    out = []
    for i, (word, x) in enumerate(zip(words, synth_many(voice, words))):
        for snr in CONDITIONS:
            rng = np.random.default_rng([MINE_SEED, index, i, 0 if snr is None else int(snr)])
            out.append((word, "clean" if snr is None else f"{snr:g}dB", recognize(_MODEL, eval_condition(rng, x, snr))))
    return out


def mine(model_dir: Path, words: list[str], plan: DataPlan = MINE_PLAN, seed: int = MINE_SEED, per_job: int = 24,
         workers: int = 2) -> dict[str, list[str]]:
    """word -> what the model heard it as (distinct, at most 3), for every word heard as a phrase."""
    from tqdm import tqdm
    rng = random.Random(seed)
    jobs = [(k, training_voices(rng, plan), words[j:j + per_job]) for k, j in enumerate(range(0, len(words), per_job))]
    found: dict[str, list[str]] = {}
    bar = tqdm(total=len(words), desc="mine", unit="word")
    with get_context("spawn").Pool(workers, initializer=_load, initargs=(str(model_dir),)) as pool:
        for job, res in zip(jobs, pool.imap(_heard, jobs, chunksize=1)):
            for word, _, hyp in res:
                if hyp and any(w != "[unk]" for w in hyp.split()):
                    seen = found.setdefault(word, [])
                    if hyp not in seen and len(seen) < 3:
                        seen.append(hyp)
            bar.update(len(job[2]))
    bar.close()
    return dict(sorted(found.items()))


def read_runs(path: Path) -> list[dict]:
    """The mining runs in `path`, each {"mined_with": {...}, "words": {word: [heard, ...]}}."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise HardNegativesError(f"{path}: cannot read ({e}); run `python -m models.build.mine` to write it") from e
    except yaml.YAMLError as e:
        raise HardNegativesError(f"{path}: not valid YAML ({e})") from e
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not runs:
        raise HardNegativesError(f"{path}: no `runs` list (each run: mined_with, and words: {{word: [what the "
                                 "model heard]}); run `python -m models.build.mine --replace` to write a new file")
    for i, run in enumerate(runs, 1):
        words = run.get("words") if isinstance(run, dict) else None
        if not isinstance(words, dict) or not words:
            raise HardNegativesError(f"{path}: run {i} has no `words` mapping (word: [what the model heard])")
    return runs


def load_hard_negatives(path: Path = HARD_NEGATIVES_YAML, vocab: Vocabulary | None = None) -> list[str]:
    """The mined words, checked (none may be a vocabulary word, sound like one, or be a benchmark
    word), each listed once per run that heard it: drawing from the list weights the words that
    survived an earlier round of training."""
    runs = read_runs(path)
    vocab = vocab or load_vocabulary()
    never = never_negative(vocab)
    bad = sorted({str(w) for run in runs for w in run["words"] if str(w) in never})
    if bad:
        raise HardNegativesError(f"{path}: {', '.join(bad[:5])} must not be unknown speech (a vocabulary word, "
                                 "one in some accent, or a benchmark word); remove them or mine again")
    return sorted(str(w) for run in runs for w in run["words"])


def main(argv: list[str] | None = None) -> int:
    from models.answer_model import model_path
    ap = argparse.ArgumentParser(prog="python -m models.build.mine", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=model_path(), help="model to mine with (default: the shipped one)")
    ap.add_argument("--random", type=int, default=8000, help="dictionary words to try besides the near-rhymes")
    ap.add_argument("--out", type=Path, default=HARD_NEGATIVES_YAML)
    ap.add_argument("--replace", action="store_true", help="start a new list instead of appending a run")
    args = ap.parse_args(argv)
    if not (args.model / "am" / "final.mdl").exists():
        raise SystemExit(f"{args.model}: not a model directory (no am/final.mdl)")
    network = network_id(args.model)
    try:
        runs = [] if args.replace or not args.out.exists() else read_runs(args.out)
        check_new_network(runs, network, args.out)
    except HardNegativesError as e:
        raise SystemExit(f"models.build.mine: {e}") from None
    manifest_file = args.model / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    vocab = load_vocabulary()
    words = candidates(vocab, args.random)
    t0 = time.time()
    found = mine(args.model, words, MINE_PLAN)
    runs.append({"mined_with": {"model": args.model.name, "recipe_version": manifest.get("recipe_version"),
                                "network_sha256": network,
                                "seed": MINE_SEED, "candidates": len(words), "decoded": len(words) * len(CONDITIONS),
                                "seconds": round(time.time() - t0)},
                 "words": found})
    write_runs(args.out, runs)
    print(f"{len(found)} of {len(words)} words heard as phrases; run {len(runs)} of {args.out}")
    return 0


def network_id(model_dir: Path) -> str:
    """sha256 of the model's network (am/final.mdl): what a mining run is a run *of*."""
    from models.answer_model import sha256_file
    return sha256_file(model_dir / "am" / "final.mdl")


def check_new_network(runs: list[dict], network: str, path: Path) -> None:
    """A second run with the same network would only double its words' weight: refuse it."""
    for i, run in enumerate(runs, 1):
        if (run.get("mined_with") or {}).get("network_sha256") == network:
            raise HardNegativesError(f"{path}: run {i} was already mined with this network (am/final.mdl "
                                     f"sha256 {network[:12]}...); mine with a newer model, or pass --replace")


def write_runs(path: Path, runs: list[dict]) -> None:
    header = ("# Hard negatives: words `python -m models.build.mine` heard as a vocabulary phrase at least once\n"
              "# (training voices, clean and at 10 dB), one run per mining model. The build trains them as\n"
              "# unknown speech (kind \"hard\"), each word once per run that heard it.\n")
    tmp = path.with_name(path.name + ".tmp")      # a failed write leaves the old list whole
    tmp.write_text(header + yaml.safe_dump({"runs": runs}, sort_keys=False, allow_unicode=True, width=120))
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
