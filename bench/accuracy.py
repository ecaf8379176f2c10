"""Accuracy of the built-in answer model on voices it never trained on.

    python -m bench.accuracy [--model DIR] [--quick] [--write-manifest] [--against DIR]

Held-out speakers: every flite voice (a synthesiser absent from training) and espeak-ng accents and
variants excluded from training. Each spoken phrase of dialog/vocabulary.yaml is synthesised by each
held-out voice and decoded through libvosk under every condition of the chosen sets (`--conditions`):
noise (clean, 20/10/5 dB SNR), babble (two other held-out voices talking 20/10/5 dB below the answer,
before, during and after it, reading bench/competing_speech.yaml), and room (a far microphone in a
reverberant room, RT60 1.0 s; the speaker at 0.7x and 1.3x tempo at the same pitch; 4 semitones lower
and higher at the same tempo). Out-of-vocabulary words (not vocabulary words, not sounding like one)
measure rejection, clean, at 10 dB noise and in 10 dB babble (whose sentences hold far-away "yes"es
and "no"s): a rejection is a result made only of `[unk]` (or nothing). Answers wrapped in a hesitation
or a courtesy ("um, yes", "no thank you": WRAPPED_ANSWERS) are scored by the intent the dialog reads,
clean and at 10 dB. Prints a table and writes bench/results/accuracy.json.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dialog import NOT_UNDERSTOOD, NOTHING_HEARD
from models.answer_model import MODEL_DIR, MANIFEST, load_manifest, trained_speakers
from models.registry import ModelError, check_model_dir
from models.build import kokoro
import yaml

from models.build.augment import RATE, eval_condition, pitch_shift, reverb, speech_bounds, tempo_stretch
from models.build.corpus import HELDOUT_RANDOM_OOV, heldout_oov_candidates, load_vocabulary
from models.build.decode import decode_many
from models.build.tts import (ESPEAK_VARIANTS_HELDOUT, ESPEAK_VOICES_HELDOUT, FLITE_VOICES, MBROLA_VOICES_HELDOUT,
                              RHVOICE_VOICES_HELDOUT, Voice, mbrola_voices, read_wav, rhvoice_voices, synth_many)

RESULTS = Path(__file__).resolve().parent / "results"
COMPETING_SPEECH_YAML = Path(__file__).resolve().parent / "competing_speech.yaml"
# issue 31's goals: phrases clean / in 10 dB noise / in 10 dB babble, other speech rejected, no swap accepted
GOALS = {"clean": 0.97, "10dB": 0.93, "babble10dB": 0.90, "oov_rejection": 0.95, "yes_no_confusion_max": 0.005,
         "swaps_accepted_max": 0}


def condition_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g}dB"


@dataclass(frozen=True)
class Condition:
    """One way the held-out speech is heard: noise `snr` dB below it, other people talking `snr` dB
    below it (`babble`), a far reverberant room, or the speaker slower/faster (`tempo`: factor) or
    higher/lower (`pitch`: semitones)."""
    name: str
    snr: float | None = None
    babble: bool = False
    room: str = ""                 # "", "far", "tempo" or "pitch"
    amount: float = 0.0


CONDITION_SETS: dict[str, list[Condition]] = {
    "noise": [Condition(condition_name(s), s) for s in (None, 20.0, 10.0, 5.0)],
    "babble": [Condition(f"babble{s:g}dB", s, babble=True) for s in (20.0, 10.0, 5.0)],
    "room": [Condition("far", room="far"), Condition("tempo0.7", room="tempo", amount=0.7),
             Condition("tempo1.3", room="tempo", amount=1.3), Condition("pitch-4", room="pitch", amount=-4.0),
             Condition("pitch+4", room="pitch", amount=4.0)],
}
OOV_CONDITIONS = ("clean", "10dB", "babble10dB")


def conditions(sets: tuple[str, ...] = tuple(CONDITION_SETS)) -> list[Condition]:
    unknown = sorted(set(sets) - set(CONDITION_SETS))
    if unknown:
        raise ValueError(f"unknown condition set(s) {unknown}; choose from {sorted(CONDITION_SETS)}")
    return [c for name in CONDITION_SETS if name in sets for c in CONDITION_SETS[name]]


def competing_bank(voices: list[Voice], per_voice: int = 8) -> dict[str, list[np.ndarray]]:
    """Each held-out voice reads `per_voice` sentences of bench/competing_speech.yaml (a different
    run of them per voice); a voice's competing talkers are everyone else's clips."""
    sentences = yaml.safe_load(COMPETING_SPEECH_YAML.read_text())["sentences"]
    clips: dict[str, list[np.ndarray]] = {}
    for i, v in enumerate(voices):
        texts = [sentences[(i * per_voice + k) % len(sentences)] for k in range(per_voice)]
        clips[v.label] = [x[slice(*speech_bounds(x, 40.0))] for x in synth_many(v, texts)]
    return {v: [c for other, cs in clips.items() if other != v for c in cs] for v in clips}


def hear(rng: np.random.Generator, x: np.ndarray, cond: Condition, others: list[np.ndarray]) -> np.ndarray:
    """`x` (clean speech) as heard under `cond`; `others`, the competing talkers' clips."""
    if cond.room == "tempo":
        x = tempo_stretch(x, cond.amount)
    elif cond.room == "pitch":
        x = pitch_shift(x, cond.amount)
    elif cond.room == "far":     # RT60 1.0 s, the direct path weak: across the room from the microphone
        x = reverb(rng, np.concatenate([x, np.zeros(RATE // 2, np.float32)]), (1.0, 1.0), (2.0, 3.0))
    return eval_condition(rng, x, cond.snr, others if cond.babble else None)


VOICE_SETS = ("standard", "accented")


def heldout_voices(quick: bool, voice_set: str = "standard") -> list[Voice]:
    """Voices no build trains on. "standard" (the goals' set): flite, espeak-ng accents/variants, and
    (full run, when installed by `sh install.sh --dev`) three MBROLA, two RHVoice and four Kokoro
    speakers. "accented": seven of Kokoro's non-English voices speaking English (Spanish, Hindi,
    Italian, Portuguese, Japanese, Mandarin), a population the standard set hardly has. `heldout_voices`
    in the JSON says which ran."""
    if voice_set == "accented":
        names = kokoro.voices(kokoro.VOICES_ACCENTED_HELDOUT)
        return [Voice("kokoro", v) for v in (names[::3] if quick else names)]
    if voice_set != "standard":
        raise ValueError(f"unknown voice set {voice_set!r}; choose one of {VOICE_SETS}")
    voices = [Voice("flite", v) for v in FLITE_VOICES]
    variants = ESPEAK_VARIANTS_HELDOUT[:2] if quick else ESPEAK_VARIANTS_HELDOUT
    for i, name in enumerate(ESPEAK_VOICES_HELDOUT):
        for j, var in enumerate(variants):
            if quick or (i + j) % 2 == 0:     # half the accent x variant grid keeps the run short
                voices.append(Voice("espeak", name, var))
    if not quick:
        voices += [Voice("mbrola", v) for v in mbrola_voices(MBROLA_VOICES_HELDOUT)]
        voices += [Voice("rhvoice", v) for v in rhvoice_voices(RHVOICE_VOICES_HELDOUT)]
        voices += [Voice("kokoro", v) for v in kokoro.voices(kokoro.VOICES_HELDOUT)]
    return voices


def oov_words(vocab_words: list[str], n_random: int) -> list[str]:
    """Unknown words to test rejection: everyday words a patient might say (corpus.HELDOUT_OOV_WORDS)
    and `n_random` dictionary words, none sounding like a vocabulary word; no build trains on them."""
    from models.build.lexicon import festival_lookup
    cand = sorted(heldout_oov_candidates(n_random) - set(vocab_words))
    prons = festival_lookup(cand + vocab_words)
    vocab_prons = {prons[w] for w in vocab_words if w in prons}
    return [w for w in cand if w in prons and prons[w] not in vocab_prons]


def intent_of(text: str, phrase_intent: dict[str, str]) -> str | None:
    return phrase_intent.get(text)


def dialog_interpreter():
    """The dialog's own interpreter (what the product does with the recogniser's text)."""
    from dialog.interpret import Interpreter
    from dialog.vocabulary import load_vocabulary as load_dialog_vocabulary
    return Interpreter(load_dialog_vocabulary())


CONFIRM_BELOW = 0.6   # voice.app's default confidence_threshold: a safety answer below it is read back

# Answers as people often give them: after a hesitation, or with a courtesy after (the dialog drops
# these fillers when it reads text). Spoken by the same held-out voices, clean and at 10 dB.
WRAPPED_ANSWERS: list[tuple[str, str]] = [
    ("um, yes", "yes"), ("uh, no", "no"), ("er, no", "no"), ("hmm, no", "no"), ("well, yes", "yes"),
    ("well, no", "no"), ("oh, yes", "yes"), ("oh, no", "no"), ("ah, no", "no"), ("okay, yes", "yes"),
    ("so, no", "no"), ("yes please", "yes"), ("no thanks", "no"), ("no thank you", "no"),
    ("yes thank you", "yes"), ("um, i don't know", "unsure"), ("well, not really", "no"),
    ("hmm, i'm not sure", "unsure"),
]
WRAPPED_CONDITIONS: list[float | None] = [None, 10.0]


def tally_turns(turns: list[tuple[str, str, str, float | None]], interpret) -> dict:
    """(said, intent wanted, text heard, confidence) of yes/no answers as product turns on a safety
    question: a swap heard with confidence below CONFIRM_BELOW is read back, not accepted."""
    out = {"answers": len(turns), "accepted_right": 0, "read_back": 0, "swaps_accepted": 0,
           "swaps_read_back": 0, "not_taken": 0, "swaps": []}
    for said, want, text, conf in turns:
        got = interpret(text).intent
        if got not in ("yes", "no"):      # re-asked, or taken as unsure/repeat/...: never as the other answer
            out["not_taken"] += 1
            continue
        low = conf is not None and conf < CONFIRM_BELOW
        if got == want:
            out["read_back" if low else "accepted_right"] += 1
        else:
            out["swaps_read_back" if low else "swaps_accepted"] += 1
            out["swaps"].append({"said": said, "heard": text, "confidence": conf})
    return out


def score_wrapped(items: list[tuple[str, str, str, str]], interpret) -> dict:
    """(condition, text, intent wanted, text heard) -> per condition: answers taken right,
    re-asked (no intent), taken as another intent, and yes<->no swaps among those."""
    out: dict = {"intent_accuracy": {}, "not_taken": {}, "wrong_intent": {}, "swaps": 0, "per_text": {},
                 "errors": []}
    by_cond: dict[str, list[str]] = defaultdict(list)
    per_text: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for cond, text, want, heard in items:
        got = interpret(heard).intent
        kind = "right" if got == want else "not_taken" if got in (NOT_UNDERSTOOD, NOTHING_HEARD) else "wrong"
        by_cond[cond].append(kind)
        per_text[text][cond].append(kind == "right")
        out["swaps"] += {want, got} == {"yes", "no"}
        if kind != "right":
            out["errors"].append({"condition": cond, "said": text, "heard": heard, "intent": got})
    for cond, kinds in by_cond.items():
        out["intent_accuracy"][cond] = kinds.count("right") / len(kinds)
        out["not_taken"][cond] = kinds.count("not_taken") / len(kinds)
        out["wrong_intent"][cond] = kinds.count("wrong") / len(kinds)
    out["per_text"] = {t: {c: float(np.mean(v)) for c, v in d.items()} for t, d in per_text.items()}
    return out


ROOM_HEARD_SECONDS = 0.3   # every condition pads the answer with at least this much of its room


def _turn_worker(args: tuple[str, list[np.ndarray]]) -> list[tuple[str, float | None]]:
    """Each utterance as one listening turn of the product: the answer-context graph, the listener's
    endpointing, and the recogniser's meaning-based confidence (share of the 5-best meaning the same).
    The listener's noise floor has heard the clip's first ROOM_HEARD_SECONDS (the room before the
    answer, as the kiosk's floor has heard it during the prompt's turn); the patient's level is not
    known (a first answer with no start phrase before it)."""
    import vosk
    vosk.SetLogLevel(-1)
    from dialog.vocabulary import load_vocabulary as load_dialog_vocabulary
    from voice.app import meaning_of
    from voice.audio import Clip
    from voice.listener import listen
    from voice.modelset import ContextGraphs
    from voice.recognizer import VoskRecognizer
    from voice.sources import WavFileSource
    vocab = load_dialog_vocabulary()
    rec = VoskRecognizer(ContextGraphs(Path(args[0])), meaning=meaning_of(vocab))
    phrases = load_vocabulary().all_phrases("answer")
    from voice.audio import BLOCK_SECONDS, rms_dbfs
    from voice.listener import NoiseFloor
    out = []
    block = int(BLOCK_SECONDS * 16000)
    for x in args[1]:
        pcm = _pcm(x)
        floor = NoiseFloor()      # the kiosk has heard the room before the question ended: its lead
        for i in range(0, min(len(pcm), int(ROOM_HEARD_SECONDS * 16000)) - block + 1, block):
            floor.update(rms_dbfs(pcm[i:i + block].tobytes()))
        hyp = listen(WavFileSource.from_clip(Clip(pcm, 16000)), rec, phrases, floor=floor).hypothesis
        out.append((hyp.text, hyp.confidence))
    return out


def product_turns(model: Path, audio: list[np.ndarray]) -> list[tuple[str, float | None]]:
    return decode_many(model, audio, worker=_turn_worker)


@dataclass
class HeldOutSpeech:
    """The held-out speech of one run, synthesised once so that several models hear the same audio."""
    voice_set: str
    voices: list[str]
    phrases: list[str]
    oov: list[str]
    items: list[tuple[str, str, str, np.ndarray]]     # voice, condition, ref ("[unk]" for OOV), audio
    spoken: list[str]                                 # what was said (the OOV word where ref is [unk])
    wrapped: list[tuple[str, str, str, np.ndarray]]   # condition, text, intent, audio


# Answers a patient may well say that the spoken vocabulary can leave out: minimal pairs told apart
# by one short word ("i do"/"i don't"), typed only where a built-in model was not trusted to hear the
# difference (dialog/vocabulary.yaml). The held-out voices say them under every condition whether the
# vocabulary speaks them or not, so models built with either vocabulary are judged on the same audio:
# one the model's vocabulary leaves out must be re-asked or understood, never swapped.
OUTSIDE_ANSWERS: dict[str, str] = {"i do": "yes", "i don't": "no", "i have": "yes", "i haven't": "no",
                                   "i think so": "yes", "i don't think so": "no"}


def heldout_answers(vocab) -> dict[str, str]:
    """Everything the held-out voices say as an answer or command, with its intent: the spoken
    phrases (phrase_intents) and OUTSIDE_ANSWERS."""
    spoken = phrase_intents(vocab)
    clash = {t for t, i in OUTSIDE_ANSWERS.items() if spoken.get(t, i) != i}
    assert not clash, f"OUTSIDE_ANSWERS gives {sorted(clash)} another intent than the vocabulary"
    return spoken | OUTSIDE_ANSWERS


def phrase_intents(vocab) -> dict[str, str]:
    """Each spoken phrase's intent; the spoken corrections ("no, i mean yes") as "correction"."""
    phrase_intent = {p: i for i, ps in vocab.phrases.items() for p in ps}
    for c in vocab.corrections:
        phrase_intent[c] = "correction"
    return phrase_intent


def synthesize(quick: bool, voice_set: str = "standard",
               condition_sets: tuple[str, ...] = tuple(CONDITION_SETS)) -> HeldOutSpeech:
    """Every phrase (and OUTSIDE_ANSWERS), OOV word and wrapped answer by every held-out voice, under
    every condition."""
    vocab = load_vocabulary()
    phrase_intent = heldout_answers(vocab)
    phrases = sorted(phrase_intent)
    voices = heldout_voices(quick, voice_set)
    if not voices:
        raise SystemExit(f"no {voice_set} held-out voices on this machine: install them with `sh install.sh --dev`")
    oov = oov_words(vocab.words(), 10 if quick else HELDOUT_RANDOM_OOV)
    items: list[tuple[str, str, str, np.ndarray]] = []   # voice, condition, ref, audio
    spoken: list[str] = []                                # what was said (the OOV word where ref is [unk])
    conds = conditions(condition_sets)
    oov_conds = [c for c in conds if c.name in OOV_CONDITIONS]
    bank = competing_bank(voices) if any(c.babble for c in conds) else {}
    rng = np.random.default_rng(7)
    for v in voices:
        waves = synth_many(v, phrases + oov)
        for ref, x in zip(phrases + oov, waves):
            for cond in conds if ref in phrase_intent else oov_conds:
                items.append((v.label, cond.name, ref if ref in phrase_intent else "[unk]",
                              hear(rng, x, cond, bank.get(v.label, []))))
                spoken.append(ref)
    wrapped: list[tuple[str, str, str, np.ndarray]] = []   # condition, text, intent, audio
    for v in voices:
        for (text, want), x in zip(WRAPPED_ANSWERS, synth_many(v, [t for t, _ in WRAPPED_ANSWERS])):
            for snr in WRAPPED_CONDITIONS:
                wrapped.append((condition_name(snr), text, want, eval_condition(rng, x, snr)))
    return HeldOutSpeech(voice_set, [v.label for v in voices], phrases, oov, items, spoken, wrapped)


# What the held-out speech is made from: a cached copy (`--speech-cache`) is used only when all of
# these files and the run's options are as they were when it was synthesised.
SPEECH_SOURCES = (Path(__file__), COMPETING_SPEECH_YAML) + tuple(
    Path(__file__).resolve().parents[1] / "models" / "build" / f for f in ("augment.py", "tts.py", "kokoro.py"))


def speech_key(quick: bool, voice_set: str, condition_sets: tuple[str, ...]) -> str:
    """A digest of everything `synthesize` depends on besides the installed voices themselves."""
    import hashlib
    h = hashlib.sha256(json.dumps([quick, voice_set, sorted(condition_sets),
                                   sorted(heldout_answers(load_vocabulary())), WRAPPED_ANSWERS]).encode())
    for f in SPEECH_SOURCES:
        h.update(f.read_bytes())
    return h.hexdigest()


def cached_speech(cache: Path, quick: bool, voice_set: str = "standard",
                  condition_sets: tuple[str, ...] = tuple(CONDITION_SETS)) -> HeldOutSpeech:
    """The held-out speech from `cache` when it was synthesised by the same code and options, else
    synthesised and written there: judging several candidates (each against the shipped model) then
    synthesises once. Audio is kept as the 16-bit samples the decoders are fed (clipped and truncated
    as they do it), so a cached run hears exactly what a fresh one would; stored as plain fields, so
    the file loads whether bench.accuracy ran as a script (`-m`) or was imported."""
    import pickle
    key = speech_key(quick, voice_set, condition_sets)
    if cache.exists():
        try:
            with cache.open("rb") as f:
                stored = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError) as e:
            print(f"{cache}: unreadable ({e}); synthesising again", file=sys.stderr)
        else:
            if stored.get("key") == key:
                print(f"held-out speech from {cache}")
                return _map_audio(HeldOutSpeech(**stored["speech"]), _float32)
            print(f"{cache} was synthesised by other code or options; synthesising again", file=sys.stderr)
    ts = synthesize(quick, voice_set, condition_sets)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".part")
    with tmp.open("wb") as f:
        pickle.dump({"key": key, "speech": vars(_map_audio(ts, _pcm))}, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(cache)
    return ts


def _pcm(x: np.ndarray) -> np.ndarray:
    """`x` as the 16-bit samples a decoder is fed: clipped, then truncated."""
    return np.clip(x, -32768, 32767).astype(np.int16)


def _float32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


def _map_audio(ts: HeldOutSpeech, f) -> HeldOutSpeech:
    """`ts` with `f` applied to every clip's audio."""
    return replace(ts, items=[(v, c, r, f(x)) for v, c, r, x in ts.items],
                   wrapped=[(c, t, i, f(x)) for c, t, i, x in ts.wrapped])


def run(model: Path, quick: bool, voice_set: str = "standard",
        condition_sets: tuple[str, ...] = tuple(CONDITION_SETS)) -> dict:
    return score(model, synthesize(quick, voice_set, condition_sets))


def score(model: Path, ts: HeldOutSpeech) -> dict:
    """What `model` makes of the test set: the JSON `bench.accuracy` writes."""
    interpret = dialog_interpreter()
    vocab = load_vocabulary()
    phrase_intent = phrase_intents(vocab)           # what the model's vocabulary speaks
    said_intent = heldout_answers(vocab)             # and what the voices said besides (OUTSIDE_ANSWERS)
    items, spoken, wrapped = ts.items, ts.spoken, ts.wrapped
    t0 = time.time()
    hyps = decode_many(model, [a for *_, a in items] + [a for *_, a in wrapped])
    hyps, wrapped_hyps = hyps[: len(items)], hyps[len(items):]
    t_decode = time.time() - t0
    audio_s = sum(len(a) for *_, a in items) / 16000
    per_cond: dict[str, list[bool]] = defaultdict(list)
    per_cond_intent: dict[str, list[bool]] = defaultdict(list)
    oov_accepted_as: dict[str, int] = defaultdict(int)
    per_phrase: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    per_voice: dict[str, list[bool]] = defaultdict(list)
    per_engine: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    rejections: dict[str, list[bool]] = defaultdict(list)
    yes_no = {"yes_as_no": 0, "no_as_yes": 0, "yes_total": 0, "no_total": 0}
    errors = []                 # every phrase not recognised exactly
    oov_accepted = []           # every out-of-vocabulary word taken as something the dialog acts on
    swaps: dict[tuple[str, str], int] = defaultdict(int)     # (said, heard) for every yes<->no confusion
    outside: list[tuple[str, str, str, str]] = []             # condition, said, intent, heard
    for (voice, cond, ref, _), said, hyp in zip(items, spoken, hyps):
        engine = voice.split(":")[0]
        if ref == "[unk]":
            rejected = all(w == "[unk]" for w in hyp.split())
            rejections[cond].append(rejected)
            per_engine[engine][f"oov_{cond}"].append(rejected)
            it = interpret(hyp).intent
            if it not in ("not_understood", "nothing_heard"):
                oov_accepted_as[it] += 1
                oov_accepted.append({"voice": voice, "condition": cond, "said": said, "hyp": hyp, "intent": it})
            continue
        if ref not in phrase_intent:        # an answer this vocabulary leaves out (OUTSIDE_ANSWERS)
            outside.append((cond, ref, said_intent[ref], hyp))
            continue
        ok = hyp == ref
        if phrase_intent[ref] != "correction":
            per_cond_intent[cond].append(interpret(hyp).intent == phrase_intent[ref])
        per_cond[cond].append(ok)
        per_phrase[ref][cond].append(ok)
        per_voice[voice].append(ok)
        per_engine[engine][cond].append(ok)
        if not ok:
            errors.append({"voice": voice, "condition": cond, "ref": ref, "hyp": hyp})
        ri, hi = phrase_intent[ref], intent_of(hyp, phrase_intent)
        if ri in ("yes", "no"):
            yes_no[f"{ri}_total"] += 1
            if hi in ("yes", "no") and hi != ri:
                yes_no[f"{ri}_as_{hi}"] += 1
                swaps[(ref, hyp)] += 1
    # The same yes/no answers as the product hears them on a safety question: a swap heard with
    # confidence below CONFIRM_BELOW is read back ("You said no, is that right?"), not accepted.
    yn_items = [(ref, phrase_intent[ref], a) for (_, _, ref, a) in items
                if phrase_intent.get(ref) in ("yes", "no")]
    yn_conds = [cond for (_, cond, ref, _) in items if phrase_intent.get(ref) in ("yes", "no")]
    yn_wrapped = [(t, w, a) for (_, t, w, a) in wrapped if w in ("yes", "no")]
    yn_outside = [(ref, said_intent[ref], a) for (_, _, ref, a) in items
                  if ref not in phrase_intent and said_intent.get(ref) in ("yes", "no")]
    turns = product_turns(model, [a for *_, a in yn_items + yn_wrapped + yn_outside])
    heard_turns = [(said, want, text, conf) for (said, want, _), (text, conf) in zip(yn_items, turns)]
    product = tally_turns(heard_turns, interpret)
    product["per_condition"] = {
        cond: {k: v for k, v in tally_turns([t for t, c in zip(heard_turns, yn_conds) if c == cond],
                                            interpret).items() if k != "swaps"}
        for cond in dict.fromkeys(yn_conds)}
    wrapped_score = score_wrapped([(c, t, w, h) for (c, t, w, _), h in zip(wrapped, wrapped_hyps)], interpret)
    wrapped_score["as_product_turns"] = tally_turns(
        [(said, want, text, conf) for (said, want, _), (text, conf) in zip(yn_wrapped, turns[len(yn_items):])],
        interpret)
    outside_score = score_wrapped(outside, interpret)
    outside_score["as_product_turns"] = tally_turns(
        [(said, want, text, conf) for (said, want, _), (text, conf)
         in zip(yn_outside, turns[len(yn_items) + len(yn_wrapped):])], interpret)
    mean = lambda xs: float(np.mean(xs)) if xs else float("nan")  # noqa: E731
    yn_total = yes_no["yes_total"] + yes_no["no_total"]
    summary = {
        "accuracy": {c: mean(v) for c, v in per_cond.items()},
        "intent_accuracy": {c: mean(v) for c, v in per_cond_intent.items()},
        "oov_rejection": {c: mean(v) for c, v in rejections.items()},
        "yes_no_confusion": (yes_no["yes_as_no"] + yes_no["no_as_yes"]) / max(1, yn_total),
        "yes_no_accepted_unconfirmed": product["swaps_accepted"] / max(1, product["answers"]),
        "wrapped_intent_accuracy": wrapped_score["intent_accuracy"],
    }
    return {
        "model": str(model),
        "model_recipe": load_manifest(model).get("recipe_version") if (model / MANIFEST).exists() else None,
        "voice_set": ts.voice_set,
        "heldout_voices": ts.voices,
        "phrases": sum(p in phrase_intent for p in ts.phrases), "oov_words": ts.oov,
        "utterances": len(items), "audio_seconds": round(audio_s, 1),
        "decode_seconds": round(t_decode, 1), "real_time_factor": round(t_decode * 2 / audio_s, 4),
        "summary": summary, "goals": GOALS,
        "yes_no": yes_no,
        "yes_no_as_product_turns": product,
        "oov_taken_as_intent": dict(oov_accepted_as),
        "yes_no_swaps": [{"said": r, "heard": h, "count": n}
                         for (r, h), n in sorted(swaps.items(), key=lambda kv: -kv[1])],
        "per_voice": {v: mean(x) for v, x in sorted(per_voice.items())},
        "per_engine": {e: {c: mean(x) for c, x in d.items()} for e, d in sorted(per_engine.items())},
        "per_phrase": {p: {c: mean(x) for c, x in d.items()} for p, d in sorted(per_phrase.items())},
        "errors": errors,
        "oov_accepted": oov_accepted,
        "wrapped_answers": wrapped_score,
        # OUTSIDE_ANSWERS this vocabulary does not speak: understood, re-asked, or another intent
        "outside_answers": outside_score,
    }


def run_human(model: Path, root: Path, max_oov: int = 400) -> dict:
    """Real human recordings gathered by `python -m bench.human_speech` (manifest.json in `root`):
    clips whose transcript is exactly a spoken phrase measure accuracy; clips holding no vocabulary
    phrase measure rejection."""
    m = json.loads((root / "manifest.json").read_text())
    vocab = load_vocabulary()
    phrases = set(vocab.all_phrases())
    trained = set(trained_speakers(model))          # held out means held out: never a training speaker
    clips = [c for c in m["clips"] if c.get("speaker") not in trained]
    inv = [c for c in clips if c["transcript"] in phrases]
    oov = [c for c in clips if not c.get("in_vocabulary") and not c.get("contains_phrases")]
    oov = random.Random(3).sample(oov, min(max_oov, len(oov)))
    rng = np.random.default_rng(11)

    def load(c: dict) -> np.ndarray:
        x = read_wav(root / c["path"])
        return x + rng.normal(0, 3.0, len(x)).astype(np.float32)

    hyps = decode_many(model, [load(c) for c in inv + oov])
    inv_h, oov_h = hyps[: len(inv)], hyps[len(inv):]
    interpret = dialog_interpreter()
    phrase_intent = {p: i for i, ps in vocab.phrases.items() for p in ps}
    by_source: dict[str, list[bool]] = defaultdict(list)
    for c, h in zip(inv, inv_h):
        by_source[c["speaker"]].append(h == c["transcript"])
    rejected = [all(w == "[unk]" for w in h.split()) for h in oov_h]
    return {
        "clips_in_vocabulary": len(inv), "clips_oov": len(oov), "excluded_speakers": sorted(trained),
        "accuracy": float(np.mean([h == c["transcript"] for c, h in zip(inv, inv_h)])) if inv else None,
        "oov_rejection": float(np.mean(rejected)) if oov else None,
        "intent_accuracy": float(np.mean([interpret(h).intent == phrase_intent.get(c["transcript"])
                                          for c, h in zip(inv, inv_h)])) if inv else None,
        "accuracy_by_speaker": {k: float(np.mean(v)) for k, v in sorted(by_source.items())},
        "errors": [{"ref": c["transcript"], "hyp": h, "speaker": c["speaker"]}
                   for c, h in zip(inv, inv_h) if h != c["transcript"]],
        "oov_accepted": [{"said": c["transcript"], "hyp": h, "speaker": c["speaker"]}
                         for c, h, r in zip(oov, oov_h, rejected) if not r],
    }


def print_table(r: dict) -> None:
    conds = list(r["summary"]["accuracy"])
    print(f"held-out voices: {', '.join(r['heldout_voices'])}")
    print(f"{'phrase':22s} " + " ".join(f"{c:>10s}" for c in conds))
    for p, d in r["per_phrase"].items():
        print(f"{p:22s} " + " ".join(f"{100 * d.get(c, float('nan')):9.1f}%" for c in conds))
    s = r["summary"]
    print(f"{'OVERALL':22s} " + " ".join(f"{100 * s['accuracy'].get(c, float('nan')):9.1f}%" for c in conds))
    print(f"{'INTENT (dialog)':22s} " + " ".join(f"{100 * s['intent_accuracy'].get(c, float('nan')):9.1f}%"
                                                 for c in conds))
    if r.get("per_engine"):
        oov_conds = list(s["oov_rejection"])
        print(f"{'by synthesiser':22s} " + " ".join(f"{c:>10s}" for c in conds) + "  OOV rej. " + " / ".join(oov_conds))
        for e, d in r["per_engine"].items():
            print(f"{e:22s} " + " ".join(f"{100 * d.get(c, float('nan')):9.1f}%" for c in conds) + "  "
                  + " / ".join(f"{100 * d.get('oov_' + c, float('nan')):.1f}%" for c in oov_conds))
    print("per voice (all conditions): " + ", ".join(f"{v} {100 * a:.1f}%" for v, a in r["per_voice"].items()))
    rej = ", ".join(f"{c} {100 * v:.1f}%" for c, v in s["oov_rejection"].items())
    print(f"OOV rejection ({len(r['oov_words'])} words): {rej}")
    print(f"yes<->no confusion: {100 * s['yes_no_confusion']:.2f}%  ({r['yes_no']})")
    p = r["yes_no_as_product_turns"]
    print(f"as product turns on a safety question (read back below confidence {CONFIRM_BELOW}): "
          f"{p['swaps_accepted']} of {p['answers']} swaps accepted ({100 * s['yes_no_accepted_unconfirmed']:.2f}%), "
          f"{p['swaps_read_back']} read back; right answers {p['accepted_right']} accepted, {p['read_back']} read back; "
          f"{p['not_taken']} re-asked or not taken as yes/no")
    if p.get("per_condition"):
        print("  accepted right per condition: " + ", ".join(
            f"{c} {t['accepted_right']}/{t['answers']}" + (f" ({t['swaps_accepted']} swaps)" if t["swaps_accepted"] else "")
            for c, t in p["per_condition"].items()))
    w = r.get("wrapped_answers")
    if w:
        print(f"answers with a hesitation or courtesy ({len(w['per_text'])} forms, e.g. \"um, yes\", \"no thank you\"): "
              + ", ".join(f"{c} {100 * a:.1f}% right ({100 * w['not_taken'][c]:.1f}% re-asked, "
                          f"{100 * w['wrong_intent'][c]:.1f}% another intent)" for c, a in w["intent_accuracy"].items())
              + f"; yes<->no swaps {w['swaps']}")
        t = w.get("as_product_turns")
        if t:
            print(f"  the yes/no ones as product turns: {t['accepted_right']} of {t['answers']} accepted right, "
                  f"{t['read_back']} read back, {t['not_taken']} re-asked; swaps {t['swaps_accepted']} accepted, "
                  f"{t['swaps_read_back']} read back")
    o = r.get("outside_answers")
    if o and o["per_text"]:
        t = o["as_product_turns"]
        print(f"answers the vocabulary leaves out ({', '.join(sorted(o['per_text']))}), all conditions: "
              + ", ".join(f"{c} {100 * a:.1f}% right ({100 * o['not_taken'][c]:.1f}% re-asked)"
                          for c, a in o["intent_accuracy"].items() if c in ("clean", "10dB", "babble10dB"))
              + f"; as product turns {t['accepted_right']} of {t['answers']} accepted right, {t['not_taken']} "
              f"re-asked; swaps {t['swaps_accepted']} accepted, {t['swaps_read_back']} read back")
    print(f"goals: clean >= {100 * GOALS['clean']:g}%, 10 dB noise >= {100 * GOALS['10dB']:g}%, 10 dB babble >= "
          f"{100 * GOALS['babble10dB']:g}%, OOV rejection >= {100 * GOALS['oov_rejection']:g}%, yes<->no <= "
          f"{100 * GOALS['yes_no_confusion_max']:g}%, swaps accepted as product turns {GOALS['swaps_accepted_max']}; "
          f"decode real-time factor {r['real_time_factor']}")
    h = r.get("human")
    if h:
        print(f"human recordings: accuracy {100 * h['accuracy']:.1f}% (intent {100 * h['intent_accuracy']:.1f}%) of "
              f"{h['clips_in_vocabulary']} in-vocabulary clips, OOV rejection {100 * h['oov_rejection']:.1f}% of "
              f"{h['clips_oov']} clips")


def headline(r: dict) -> dict[str, float]:
    """The figures two builds are compared on (percentages, or counts where named so)."""
    s, out = r["summary"], {}
    for c, v in s["accuracy"].items():
        out[f"phrases {c} %"] = 100 * v
    for c, v in s["intent_accuracy"].items():
        out[f"intent {c} %"] = 100 * v
    for c, v in s["oov_rejection"].items():
        out[f"OOV rejected {c} %"] = 100 * v
    out["OOV taken (count)"] = sum(r["oov_taken_as_intent"].values())
    out["OOV taken as yes (count)"] = r["oov_taken_as_intent"].get("yes", 0)
    out["yes<->no confusion %"] = 100 * s["yes_no_confusion"]
    p = r["yes_no_as_product_turns"]
    for k in ("accepted_right", "read_back", "not_taken", "swaps_accepted"):
        out[f"product turns {k} (count)"] = p[k]
    w = r.get("wrapped_answers")
    if w:
        for c, v in w["intent_accuracy"].items():
            out[f"wrapped {c} %"] = 100 * v
        t = w.get("as_product_turns") or {}
        for k in ("accepted_right", "read_back", "not_taken", "swaps_accepted"):
            if k in t:
                out[f"wrapped turns {k} (count)"] = t[k]
    h = r.get("human")
    if h:
        out["people's answers %"] = 100 * h["accuracy"]
        out["people's other speech rejected %"] = 100 * h["oov_rejection"]
    return out


def compare_table(base: dict, cand: dict, moved: int = 10) -> list[str]:
    """Lines of a table: each headline figure of `base` -> `cand`, then the phrases and wrapped
    answers whose clean + 10 dB accuracy moved most (both runs on the same audio)."""
    hb, hc = headline(base), headline(cand)
    lines = [f"{'figure':40s} {'base':>8s} {'candidate':>10s} {'change':>8s}"]
    for k in hb:
        if k in hc:
            lines.append(f"{k:40s} {hb[k]:8.1f} {hc[k]:10.1f} {hc[k] - hb[k]:+8.1f}")
    rows = []
    for label, b, c in (("phrase", base["per_phrase"], cand["per_phrase"]),
                        ("wrapped", base.get("wrapped_answers", {}).get("per_text", {}),
                         cand.get("wrapped_answers", {}).get("per_text", {}))):
        for text in b.keys() & c.keys():
            d = [100 * (c[text].get(k, 0) - b[text].get(k, 0)) for k in ("clean", "10dB")]
            if any(d):
                rows.append((abs(d[0]) + abs(d[1]), f"{label} {text!r}", d))
    if rows:
        lines.append("moved most (clean / 10 dB, points): " + "; ".join(
            f"{name} {d[0]:+.0f} / {d[1]:+.0f}" for _, name, d in sorted(rows, key=lambda x: -x[0])[:moved]))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    ap.add_argument("--quick", action="store_true", help="fewer voices and OOV words")
    ap.add_argument("--voices", choices=VOICE_SETS, default="standard",
                    help="held-out voice set: standard (the goals' 22 voices) or accented (Kokoro's non-English "
                         "voices speaking English; reported on its own)")
    ap.add_argument("--conditions", default=",".join(CONDITION_SETS), metavar="SETS",
                    help=f"comma-separated condition sets (default all: {','.join(CONDITION_SETS)})")
    ap.add_argument("--write-manifest", action="store_true",
                    help="store the summary as the model manifest's measured accuracy")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON file (default bench/results/accuracy.json, or accuracy-accented.json)")
    ap.add_argument("--human", type=Path, default=None,
                    help="also score real recordings gathered by `python -m bench.human_speech --out DIR`")
    ap.add_argument("--speech-cache", type=Path, default=None, metavar="FILE",
                    help="keep the synthesised held-out speech in FILE and use it again while the code and "
                         "options that made it are unchanged (several candidates judged on one synthesis)")
    ap.add_argument("--against", type=Path, default=None, metavar="DIR",
                    help="also score this model (say, the committed one) on the same audio, write its JSON "
                         "beside --out (*.against.json) and print a table of the two")
    args = ap.parse_args(argv)
    if args.write_manifest and args.voices != "standard":
        ap.error("--write-manifest stores the goals' figures: use it with --voices standard")
    sets = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    try:
        conditions(sets)
    except ValueError as e:
        ap.error(str(e))
    for m in [args.model] + ([args.against] if args.against else []):
        try:
            check_model_dir(m)
        except ModelError as e:
            ap.error(str(e))
    out = args.out or RESULTS / ("accuracy.json" if args.voices == "standard" else f"accuracy-{args.voices}.json")
    speech = (cached_speech(args.speech_cache, args.quick, args.voices, sets) if args.speech_cache
              else synthesize(args.quick, args.voices, sets))
    r = score(args.model, speech)
    if args.human:
        r["human"] = run_human(args.model, args.human)
    print_table(r)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2) + "\n")
    print(f"wrote {out}")
    if args.against:
        base = score(args.against, speech)
        if args.human:
            base["human"] = run_human(args.against, args.human)
        base_out = out.with_suffix(".against.json")
        base_out.write_text(json.dumps(base, indent=2) + "\n")
        print(f"\n{args.against} (base) -> {args.model} (candidate), the same {len(speech.items) + len(speech.wrapped)} "
              f"utterances; wrote {base_out}")
        print("\n".join(compare_table(base, r)))
    if args.write_manifest:
        path = args.model / MANIFEST
        m = json.loads(path.read_text())
        m["accuracy"] = {"heldout_voices": r["heldout_voices"], **r["summary"], "utterances": r["utterances"],
                         "human": {k: r["human"][k] for k in ("clips_in_vocabulary", "clips_oov", "accuracy",
                                                               "intent_accuracy", "oov_rejection")} if r.get("human") else None,
                         "measured_by": "python -m bench.accuracy" + (" --quick" if args.quick else "")}
        path.write_text(json.dumps(m, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
