"""Training and development data: texts x synthetic voices x augmentation -> MFCC features.

Work is split into jobs (one voice setting, a few texts); each job's randomness comes from
(seed, job index) only, so the result does not depend on how jobs are spread over processes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np

from models.build import kokoro
from models.build.augment import AugmentConfig, augment
from models.build.corpus import (Vocabulary, cmu_words, heldout_oov_candidates, near_rhymes, seed_article_words,
                                 sentences)
from models.build.features import mfcc
from models.build.tts import (ESPEAK_VARIANTS_TRAIN, ESPEAK_VOICES_TRAIN, PICO_LANGS, SynthesisError, Voice,
                              available_engines, festival_voices, mbrola_voices, piper_voices, read_wav,
                              require_engines, rhvoice_voices, synth_many)


@dataclass
class Utt:
    words: list[str]
    feats: np.ndarray            # (frames, ceps) float16
    bounds: tuple[int, int]      # speech start/end, in 10 ms frames
    voice: str
    kind: str                    # inv | oov | near | hard | mix | sent


@dataclass
class Job:
    index: int
    seed: int
    voice: Voice
    texts: list[list[str]]
    kinds: list[str]
    copies: int = 1
    augment_cfg: AugmentConfig = field(default_factory=AugmentConfig)
    wavs: list[str] | None = None   # recorded speech (one file per text) instead of synthesis


@dataclass(frozen=True)
class Recording:
    """A real person's recording with its words (from a `bench.human_speech` folder)."""

    path: str
    words: tuple[str, ...]
    speaker: str
    kind: str                    # inv | mix | sent


@dataclass(frozen=True)
class DataPlan:
    """How much to synthesise. `utterances` counts texts; each is augmented `copies` times."""

    utterances: int = 9000
    copies: int = 2
    texts_per_job: int = 24
    festival_share: float = 0.35
    piper_share: float = 0.0      # neural voice(s): the most human-like training speakers we have
    mbrola_share: float = 0.0     # MBROLA diphones of recorded people (native and accented English)
    pico_share: float = 0.0       # SVOX Pico's two English voices
    rhvoice_share: float = 0.0    # RHVoice's four freely licensed English voices
    kokoro_share: float = 0.0     # Kokoro-82M: 24 neural voices, half the time a blend of two
    kokoro_accented: float = 0.0  # of those Kokoro texts, the share spoken by its non-English voices (accented English)
    recorded_copies: int = 8      # augmented copies of each real recording given with --human-train
    near_per_word: int = 30       # near-rhymes drawn per vocabulary word for "near" texts (corpus.near_rhymes)
    # text kinds: phrases, phrase + filler, unknown words, near-rhymes of vocabulary words, words an
    # earlier model took for phrases (models/build/hard_negatives.yaml), article runs
    kinds: tuple[tuple[str, float], ...] = (("inv", 0.5), ("mix", 0.1), ("oov", 0.2), ("sent", 0.2))
    # texts beyond `utterances`, drawn from random streams of their own so that every job of the plan
    # without them keeps its texts and voices (--reuse-data synthesises only the new jobs):
    wrapped: int = 0              # phrases said fluently with fillers.yaml's hesitation and/or courtesy ("no thank you")
    wrapped_yes_no: float = 0.0   # share of those whose phrase is a yes or no answer's (finding 50: 55 of 1,200 were "no")
    interjections: int = 0        # INTERJECTIONS as unknown speech ("ouch"), alone or next to an unknown word
    augment: AugmentConfig = AugmentConfig()   # every job's room (tempo, pitch, reverberation, other talkers)
    competing_clips: int = 0      # clips in the bank of other people's speech (competing.py) that augment mixes in

    def wants(self, kind: str) -> bool:
        return any(k == kind and w > 0 for k, w in self.kinds)


# Cries and exclamations a patient may make that no phrase means: people's other speech heard as a
# phrase included Hedgewars' "ouch" taken for "sure" (docs/model-findings.md, finding 48). "oh" is a
# hesitation of fillers.yaml, and festival spells "ow" as "oh", so neither is here.
INTERJECTIONS = ("ouch", "oops", "whoa", "wow", "hey", "huh", "aha", "yikes", "phew", "ugh", "argh", "ahem",
                 "shh", "hmph", "ooh")


def phrase_weights(phrases: list[str]) -> list[float]:
    """How often each phrase is drawn: "yes" and "no", the answers every question takes, three times as often."""
    return [3.0 if p in ("yes", "no") else 1.0 for p in phrases]


def wrapped_texts(vocab: Vocabulary, rng: random.Random, n: int,
                  fillers: tuple[list[str], list[str]], yes_no: float = 0.0) -> list[tuple[list[str], str]]:
    """Phrases with a hesitation before, a courtesy after, or both ("um, no", "yes please", "well, no
    thank you"), as kind "mix": the phrase in its word units, the fillers in generic phones, as the
    decoding graph spells them. A `yes_no` share of them wrap a phrase of the yes or no intent, the
    answers people wrap most; at 0 the texts are the same as before the option existed."""
    before, after = fillers
    if not (before and after):
        raise ValueError("wrapped texts need fillers before and after (models/build/fillers.yaml)")
    phrases = vocab.all_phrases()
    weights = phrase_weights(phrases)
    answers = [p for intent in ("yes", "no") for p in vocab.phrases.get(intent, [])]
    if yes_no and not answers:
        raise ValueError("wrapped_yes_no needs the yes and no intents in dialog/vocabulary.yaml")
    out = []
    for _ in range(n):
        if yes_no and rng.random() < yes_no:
            words = rng.choice(answers).split()
        else:
            words = rng.choices(phrases, weights)[0].split()
        shape = rng.choices(("before", "after", "both"), (0.35, 0.45, 0.2))[0]
        if shape != "after":
            words = rng.choice(before).split() + words
        if shape != "before":
            words = words + rng.choice(after).split()
        out.append((words, "mix"))
    return out


def interjection_texts(rng: random.Random, n: int, negatives: list[str]) -> list[tuple[list[str], str]]:
    """An interjection alone (most often) or next to an unknown word, as unknown speech."""
    out = []
    for _ in range(n):
        words = [rng.choice(INTERJECTIONS)] + rng.sample(negatives, rng.choice([0, 0, 0, 1]))
        rng.shuffle(words)
        out.append((words, "oov"))
    return out


def negative_pool(vocab: Vocabulary, rng: random.Random, n_cmu: int = 3000) -> list[str]:
    """Out-of-vocabulary words for negatives and phone coverage (not vocabulary words)."""
    inv = set(vocab.words()) | heldout_oov_candidates()
    pool = set(seed_article_words()) | {w for p in vocab.unspoken for w in p.split()} | set(cmu_words(rng, n_cmu))
    return sorted(w for w in pool if w not in inv and w.replace("'", "").isalpha())


def near_rhyme_pool(vocab: Vocabulary, seed: int, plan: DataPlan) -> list[str]:
    """Near-rhymes of the vocabulary for "near" texts (none unless the plan has that kind); the
    benchmark's unknown words are never among them."""
    if not plan.wants("near"):
        return []
    return near_rhymes(vocab.words(), random.Random(seed + 6151), plan.near_per_word,
                       exclude=heldout_oov_candidates())


def make_texts(vocab: Vocabulary, rng: random.Random, n: int, plan: DataPlan,
               negatives: list[str], near: list[str] = (), hard: list[str] = ()) -> list[tuple[list[str], str]]:
    phrases = vocab.all_phrases()
    weights = phrase_weights(phrases)
    article = seed_article_words()
    fillers = [w for p in vocab.unspoken for w in p.split() if w.isalpha()] or ["um"]
    kinds, kw = zip(*plan.kinds)
    out: list[tuple[list[str], str]] = []
    for _ in range(n):
        kind = rng.choices(kinds, kw)[0]
        if kind == "inv":
            k = rng.choices([1, 2, 3], [0.75, 0.2, 0.05])[0]
            words = [w for p in rng.choices(phrases, weights, k=k) for w in p.split()]
        elif kind == "mix":
            p = rng.choices(phrases, weights)[0].split()
            f = [rng.choice(fillers)]
            words = f + p if rng.random() < 0.5 else p + f
        elif (kind == "near" and near) or (kind == "hard" and hard):
            # one near-rhyme or mined word, alone or next to another unknown word
            words = [rng.choice(near if kind == "near" else hard)] + rng.sample(negatives, rng.choice([0, 0, 1]))
            rng.shuffle(words)
        elif kind in ("oov", "near", "hard") or not article:
            words = rng.sample(negatives, rng.choice([1, 1, 2, 3]))
            kind = "oov"
        else:
            words = [w for w in sentences(article, rng, 1)[0] if w.replace("'", "").isalpha()] or ["massage"]
        out.append((words, kind))
    return out


def training_voices(rng: random.Random, plan: DataPlan, accent_rng: random.Random | None = None) -> Voice:
    """One job's speaker. Piper, MBROLA, Pico, RHVoice and Kokoro shares are fractions of all texts
    (one draw picks among them); festival takes `festival_share` of the rest and espeak-ng the rest.
    Whether a Kokoro job is spoken by an accented voice (`plan.kokoro_accented`), and by which, is
    drawn from `accent_rng` (make_jobs keeps one apart; default `rng`): so a plan with accents keeps
    every job's texts, rates and augmentation of the same plan without them, and their speech differs
    only in the accented jobs' voices (--reuse-data re-synthesises only those)."""
    engines = available_engines()
    piper = piper_voices() if plan.piper_share > 0 and "piper" in engines else []
    mbrola = mbrola_voices() if plan.mbrola_share > 0 else []
    pico = PICO_LANGS if plan.pico_share > 0 and "pico" in engines else []
    rhvoice = rhvoice_voices() if plan.rhvoice_share > 0 else []
    koko = kokoro.voices() if plan.kokoro_share > 0 else []
    if piper or mbrola or pico or rhvoice or koko:
        u = rng.random()
        if piper and u < plan.piper_share:
            return Voice("piper", rng.choice(piper), rate=rng.uniform(0.75, 1.3), seed=rng.randrange(1 << 30))
        u -= plan.piper_share
        if mbrola and 0 <= u < plan.mbrola_share:
            return Voice("mbrola", rng.choice(mbrola), rate=rng.uniform(0.75, 1.3), pitch=rng.randint(25, 75))
        u -= plan.mbrola_share
        if pico and 0 <= u < plan.pico_share:
            return Voice("pico", rng.choice(pico), rate=rng.uniform(0.75, 1.3), pitch=rng.randint(25, 75))
        u -= plan.pico_share
        if rhvoice and 0 <= u < plan.rhvoice_share:
            return Voice("rhvoice", rng.choice(rhvoice), rate=rng.uniform(0.75, 1.3), pitch=rng.randint(25, 75))
        u -= plan.rhvoice_share
        if koko and 0 <= u < plan.kokoro_share:
            # a blend of two voices is a speaker neither of them is: breadth from 24 style tables
            a, b = rng.sample(koko, 2)
            blended = rng.random() < 0.5
            rate, weight = rng.uniform(0.8, 1.25), round(rng.uniform(0.25, 0.75), 2)
            if plan.kokoro_accented > 0:
                # English from a Spanish/French/Hindi/Italian/Japanese/Portuguese/Mandarin voice, blended
                # (when this job blends) with another voice of either kind; same text, rate and weight
                arng = rng if accent_rng is None else accent_rng
                if arng.random() < plan.kokoro_accented:
                    accented = kokoro.voices(kokoro.VOICES_ACCENTED_TRAIN)
                    a = arng.choice(accented)
                    b = arng.choice([v for v in accented + koko if v != a])
            return Voice("kokoro", a, b if blended else "", rate=rate, blend=weight)
    fest = festival_voices() if "festival" in engines else []
    if fest and rng.random() < plan.festival_share:
        return Voice("festival", rng.choice(fest), rate=rng.uniform(0.8, 1.25))
    return Voice("espeak", rng.choice(ESPEAK_VOICES_TRAIN), rng.choice(ESPEAK_VARIANTS_TRAIN),
                 rate=rng.uniform(0.75, 1.35), pitch=rng.randint(20, 80))


def make_jobs(vocab: Vocabulary, seed: int, plan: DataPlan, negatives: list[str],
              near: list[str] = (), hard: list[str] = (),
              fillers: tuple[list[str], list[str]] = ([], [])) -> list[Job]:
    require_engines({"piper": plan.piper_share, "mbrola": plan.mbrola_share, "pico": plan.pico_share,
                     "rhvoice": plan.rhvoice_share, "kokoro": plan.kokoro_share,
                     "festival": plan.festival_share})
    if plan.kokoro_share > 0 and plan.kokoro_accented > 0:
        missing = sorted(set(kokoro.VOICES_ACCENTED_TRAIN) - set(kokoro.voices(kokoro.VOICES_ACCENTED_TRAIN)))
        if missing:
            raise SynthesisError(f"the recipe trains on Kokoro's accented voices, but {', '.join(missing)} "
                                 f"are not installed in {kokoro.voices_dir()}: {kokoro.INSTALL_HINT}")
    jobs: list[Job] = []

    def add_jobs(texts: list[tuple[list[str], str]], rng: random.Random, accent_rng: random.Random) -> None:
        for j in range(0, len(texts), plan.texts_per_job):
            chunk = texts[j:j + plan.texts_per_job]
            jobs.append(Job(index=len(jobs), seed=seed, voice=training_voices(rng, plan, accent_rng),
                            texts=[t for t, _ in chunk], kinds=[k for _, k in chunk], copies=plan.copies,
                            augment_cfg=plan.augment))

    rng = random.Random(seed)
    add_jobs(make_texts(vocab, rng, plan.utterances, plan, negatives, near, hard), rng,
             random.Random(f"{seed}:accented"))
    if plan.wrapped or plan.interjections:
        # after the plan's own jobs, from streams of their own: adding them changes no earlier job
        rng = random.Random(f"{seed}:wrapped")
        extra = wrapped_texts(vocab, rng, plan.wrapped, fillers, plan.wrapped_yes_no) if plan.wrapped else []
        extra += interjection_texts(rng, plan.interjections, negatives)
        rng.shuffle(extra)
        add_jobs(extra, rng, random.Random(f"{seed}:wrapped:accented"))
    return jobs


def recorded_jobs(recordings: list[Recording], seed: int, copies: int, first_index: int,
                  per_job: int = 24) -> list[Job]:
    """Jobs that augment recordings instead of synthesising: `copies` conditions of each clip."""
    jobs = []
    for k in range(0, len(recordings), per_job):
        chunk = recordings[k:k + per_job]
        jobs.append(Job(index=first_index + len(jobs), seed=seed, voice=Voice("recorded", chunk[0].speaker),
                        texts=[list(r.words) for r in chunk], kinds=[r.kind for r in chunk], copies=copies,
                        wavs=[r.path for r in chunk]))
    return jobs


# Other people's speech that augment() mixes under the answers (competing.py); set by the build
# before the synthesis workers fork, so each of them reads the same bank without copying it.
_COMPETING: list[np.ndarray] = []
_COMPETING_KEY = ""


def set_competing_bank(bank: list[np.ndarray], key: str) -> None:
    global _COMPETING, _COMPETING_KEY
    _COMPETING, _COMPETING_KEY = bank, key


def competing_bank_key() -> str:
    """What the current bank was made from ("" without one): part of every job's key that uses it."""
    return _COMPETING_KEY


def run_job(job: Job) -> list[Utt]:
    if job.wavs is not None:
        waves = [read_wav(Path(p)) for p in job.wavs]
    else:
        waves = synth_many(job.voice, [" ".join(t) for t in job.texts])
    out = []
    for i, (x, words, kind) in enumerate(zip(waves, job.texts, job.kinds)):
        for c in range(job.copies):
            rng = np.random.default_rng([job.seed, job.index, i, c])
            y, (s0, s1) = augment(rng, x, job.augment_cfg, _COMPETING)
            f = mfcc(y)
            if len(f) < 10:
                continue
            out.append(Utt(words=list(words), feats=f.astype(np.float16), bounds=(s0 // 160, s1 // 160),
                           voice=job.voice.label, kind=kind))
    return out


def run_jobs_grouped(jobs: list[Job], workers: int = 2, desc: str = "synthesise",
                     on_done: Callable[[int, list[Utt]], None] | None = None) -> list[list[Utt]]:
    """Each job's utterances, in the jobs' order (a text whose audio is under 0.1 s is dropped).
    `on_done(i, utts)` sees each job's result as it arrives, in order, so a caller can keep what
    is finished if a later job fails or the process is stopped."""
    from tqdm import tqdm
    out: list[list[Utt]] = []
    bar = tqdm(total=sum(len(j.texts) for j in jobs), desc=desc, unit="utt")

    def done(j: Job, res: list[Utt]) -> None:
        out.append(res)
        bar.update(len(j.texts))
        if on_done is not None:
            on_done(len(out) - 1, res)

    if workers <= 1:
        for j in jobs:
            done(j, run_job(j))
    else:
        with get_context("fork").Pool(workers) as pool:
            for j, res in zip(jobs, pool.imap(run_job, jobs, chunksize=1)):
                done(j, res)
    bar.close()
    return out
