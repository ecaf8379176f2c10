"""Other people talking: the bank of competing speech that training mixes under the answers
(augment.add_competing), so the network learns that a far-away talker is not the patient.

The bank's talkers are the training voices (data.training_voices), never a held-out one; they read
runs of the seed article and runs of unknown words with the vocabulary's answers among them, so a
far-away "yes" is heard in training as somebody else's speech, labelled as nothing the patient said.
The bank is a stage of the build: written once to OUT.work/competing.npz and loaded by a resumed build
whose bank would be the same (same key).
"""
from __future__ import annotations

import hashlib
import json
import random
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from models.build.corpus import Vocabulary, seed_article_words, sentences
from models.build.tts import Voice, synth_many

BANK_FILE = "competing.npz"


def bank_texts(vocab: Vocabulary, rng: random.Random, n: int, negatives: list[str],
               answer_share: float = 0.3) -> list[str]:
    """`n` things other people say: article runs of 5-14 words, and (`answer_share` of them) runs of
    unknown words with one or two of the vocabulary's phrases inside ("well yes i suppose the bus...")."""
    article = [w for w in seed_article_words() if w.replace("'", "").isalpha()]
    phrases = vocab.all_phrases()
    out = []
    for _ in range(n):
        if rng.random() < answer_share or not article:
            words = rng.sample(negatives, rng.randint(3, 8))
            for p in rng.sample(phrases, min(len(phrases), rng.randint(1, 2))):
                words.insert(rng.randrange(len(words) + 1), p)
        else:
            words = sentences(article, rng, 1, 5, 14)[0]
        out.append(" ".join(words))
    return out


def _synth(job: tuple[Voice, list[str]]) -> list[np.ndarray]:
    return synth_many(*job)


def bank_jobs(vocab: Vocabulary, seed: int, n: int, negatives: list[str], voice_of,
              per_job: int = 10) -> list[tuple[Voice, list[str]]]:
    """(voice, texts) synthesis jobs for `n` clips; `voice_of(rng)` draws a training voice."""
    rng = random.Random(f"{seed}:competing")
    texts = bank_texts(vocab, rng, n, negatives)
    return [(voice_of(rng), texts[i:i + per_job]) for i in range(0, n, per_job)]


def bank_key(jobs: list[tuple[Voice, list[str]]]) -> str:
    return hashlib.sha256(json.dumps([[repr(v), t] for v, t in jobs]).encode()).hexdigest()


def synthesise_bank(jobs: list[tuple[Voice, list[str]]], workers: int = 2) -> list[np.ndarray]:
    """Every job's clips, trimmed of leading and trailing near-silence, as float32 at 16 kHz."""
    from tqdm import tqdm
    out: list[np.ndarray] = []
    with get_context("fork").Pool(workers) as pool:
        for clips in tqdm(pool.imap(_synth, jobs, chunksize=1), total=len(jobs), desc="competing speech",
                          unit="job"):
            out += [trim(np.asarray(c, np.float32)) for c in clips]
    return [c for c in out if len(c) >= 1600]


def trim(x: np.ndarray, floor_db: float = 40.0) -> np.ndarray:
    from models.build.augment import speech_bounds
    a, b = speech_bounds(x, floor_db)
    return x[a:b]


def load_or_make(path: Path, jobs: list[tuple[Voice, list[str]]], workers: int = 2) -> list[np.ndarray]:
    """The bank in `path` when it was made from the same jobs, else synthesised and saved there."""
    key = bank_key(jobs)
    if path.exists():
        with np.load(path) as z:
            if str(z["key"]) == key:
                return np.split(z["audio"], z["offsets"][1:-1])
    bank = synthesise_bank(jobs, workers)
    offsets = np.cumsum([0] + [len(c) for c in bank])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, audio=np.concatenate(bank).astype(np.float32), offsets=offsets, key=np.array(key))
    tmp.replace(path)
    return bank
