"""python -m models.build.mine --model DIR: hard negatives, the unknown words a model takes for answers.

Random dictionary words teach a network mostly what it already rejects (recipe 8 rejected ~96%
of them). The words it accepts instead ("hope" -> "help", "backup" -> "back stop") are
the ones worth training as unknown speech. This tool speaks dictionary words with the build's own
training voices, clean and at 10 dB, decodes them through libvosk with the model's "all" graph, and
writes every word heard as a phrase at least once to `hard_negatives.yaml`, which the next build
draws its "hard" texts from (`DataPlan.kinds`).

Candidates are a seeded dictionary sample plus the vocabulary's near-rhymes (corpus.near_rhymes),
never a vocabulary word, a word that is one in some accent ("know", "nah": corpus.sounds_like_vocabulary)
or one of the benchmark's held-out unknown words. The file records which model mined it; mining
again with another model gives another list, so the file is an input of a build, like the
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


def load_hard_negatives(path: Path = HARD_NEGATIVES_YAML, vocab: Vocabulary | None = None) -> list[str]:
    """The mined words, checked: none may be a vocabulary word, sound like one, or be a benchmark word."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise HardNegativesError(f"{path}: cannot read ({e}); run `python -m models.build.mine` to write it") from e
    except yaml.YAMLError as e:
        raise HardNegativesError(f"{path}: not valid YAML ({e})") from e
    words = data.get("words") if isinstance(data, dict) else None
    if not isinstance(words, dict) or not words:
        raise HardNegativesError(f"{path}: no `words` mapping (word: [what the model heard])")
    vocab = vocab or load_vocabulary()
    never = never_negative(vocab)
    bad = sorted(str(w) for w in words if str(w) in never)
    if bad:
        raise HardNegativesError(f"{path}: {', '.join(bad[:5])} must not be unknown speech (a vocabulary word, "
                                 "one in some accent, or a benchmark word); remove them or mine again")
    return sorted(str(w) for w in words)


def main(argv: list[str] | None = None) -> int:
    from models.answer_model import model_path
    ap = argparse.ArgumentParser(prog="python -m models.build.mine", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=model_path(), help="model to mine with (default: the shipped one)")
    ap.add_argument("--random", type=int, default=8000, help="dictionary words to try besides the near-rhymes")
    ap.add_argument("--out", type=Path, default=HARD_NEGATIVES_YAML)
    args = ap.parse_args(argv)
    if not (args.model / "am" / "final.mdl").exists():
        raise SystemExit(f"{args.model}: not a model directory (no am/final.mdl)")
    manifest_file = args.model / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    vocab = load_vocabulary()
    words = candidates(vocab, args.random)
    t0 = time.time()
    found = mine(args.model, words, MINE_PLAN)
    header = ("# Hard negatives: words `python -m models.build.mine` heard as a vocabulary phrase at least once\n"
              "# (training voices, clean and at 10 dB). The build trains them as unknown speech (kind \"hard\").\n")
    body = {"mined_with": {"model": args.model.name, "recipe_version": manifest.get("recipe_version"),
                           "seed": MINE_SEED, "candidates": len(words), "decoded": len(words) * len(CONDITIONS),
                           "seconds": round(time.time() - t0)},
            "words": found}
    tmp = args.out.with_name(args.out.name + ".tmp")      # a failed write leaves the old list whole
    tmp.write_text(header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120))
    tmp.replace(args.out)
    print(f"{len(found)} of {len(words)} words heard as phrases -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
