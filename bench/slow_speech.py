"""Slow speech and pauses inside answers (issue 32): `python -m bench.slow_speech [--quick]`.

Each yes / no / not sure phrase the built-in model knows, and answers with a 0.8 s pause inside
("no ... not really", "i don't ... know"), is said by the held-out voices of `bench.accuracy` (no
build trains on them) at their normal speed and slowed to 0.6x, clean and at 10 dB SNR, and heard
as the product hears the first answer of a session: the real listener (adaptive end of an answer,
voice.pace, nothing learned yet) over libvosk with the built-in model, read by the dialog's
interpreter. When the listener ends an answer before its speech is over, the rest is heard as the
next turn and, being the rest of it, re-read with it (DialogManager.amend), as in a session.

The same audio is also heard with the fixed 0.3 s end the listener had before: there the rest of a
cut answer would be taken as the answer to the next question. Prints a table and writes
bench/results/slow_speech-<time>.json (~4 minutes on 2 cores; --quick ~1).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.results_file import write_results

RATE = 16000
PAUSE = 0.8
RATES = (1.0, 0.6)
CONDITIONS: tuple[float | None, ...] = (None, 10.0)
ANSWERS = ("yes", "no", "unsure")
# Answers with a pause inside, and what they mean: all words the built-in model knows.
PAUSED: list[tuple[str, str]] = [
    ("no ... not really", "no"), ("yes ... i think so", "yes"), ("i don't ... know", "unsure"),
    ("not ... sure", "unsure"), ("i don't ... think so", "no"), ("no ... i mean yes", "yes"),
]


@dataclass(frozen=True)
class Case:
    voice: str
    said: str
    want: str
    rate: float
    snr: float | None
    audio: np.ndarray  # int16 at 16 kHz
    speech_end: float  # seconds: where the answer's speech really ends


@dataclass(frozen=True)
class Heard:
    intent: str
    text: str
    cut: bool  # the listener ended it before the speech was over
    rest_answered: bool  # (fixed end) the rest would have answered the next question
    wait: float | None  # audio seconds from the end of speech to the end of the answer (not cut)


def say(voices: list, texts: list[str], rate: float) -> dict[tuple[str, str], np.ndarray]:
    """(voice label, text) -> speech, each "..." part said on its own and joined by PAUSE seconds."""
    from dataclasses import replace

    from models.build.tts import synth_many
    from voice.patient import PAUSE_MARK, speech_end, speech_start

    parts = sorted({p.strip() for t in texts for p in t.split(PAUSE_MARK)})
    out = {}
    for voice in voices:
        v = replace(voice, rate=rate)
        said = dict(zip(parts, synth_many(v, parts)))
        for text in texts:
            pieces = [said[p.strip()].astype(np.float64) for p in text.split(PAUSE_MARK)]
            if len(pieces) > 1:
                trimmed = []
                for i, x in enumerate(pieces):
                    a = speech_start(x) if i else 0
                    b = int(round(speech_end(x) * RATE)) if i < len(pieces) - 1 else len(x)
                    trimmed += [x[a:b]] + ([np.zeros(int(PAUSE * RATE))] if i < len(pieces) - 1 else [])
                pieces = [np.concatenate(trimmed)]
            out[(voice.label, text)] = pieces[0]
    return out


def room(rng: np.random.Generator, x: np.ndarray, snr: float | None) -> tuple[np.ndarray, float]:
    """The answer at a fixed level with 0.4 s before and 2.5 s after, noise at `snr` dB, dither."""
    from models.build.augment import add_noise, set_level
    from voice.patient import speech_end

    lead = 0.4
    end = lead + speech_end(x)
    y = np.concatenate([np.zeros(int(lead * RATE)), set_level(x.astype(np.float32), 12000.0),
                        np.zeros(int(2.5 * RATE))]).astype(np.float32)
    if snr is not None:
        y = add_noise(rng, y, snr, str(rng.choice(["white", "pink", "babble"])))
    y = y + rng.normal(0, 3.0, len(y)).astype(np.float32)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16), end


def cases(quick: bool) -> list[Case]:
    from bench.accuracy import heldout_voices
    from dialog import load_vocabulary

    vocab = load_vocabulary()
    plain = [(p, i) for i in ANSWERS for p in vocab.spoken[i]]
    items = plain + PAUSED
    voices = heldout_voices(quick=True)
    voices = voices[::2] if quick else voices
    rng = np.random.default_rng(32)
    out = []
    for rate in RATES:
        speech = say(voices, [t for t, _ in items], rate)
        for voice in voices:
            for said, want in items:
                for snr in CONDITIONS:
                    audio, end = room(rng, speech[(voice.label, said)], snr)
                    out.append(Case(voice.label, said, want, rate, snr, audio, end))
    return out


class Ear:
    """The product's listener on one case at a time, adaptive or with the old fixed end."""

    def __init__(self, model: str | None):
        from dialog import Interpreter, load_vocabulary
        from voice.app import meaning_of
        from voice.loop import ANSWER_INTENTS, SPEECH_INTENTS, speech_phrases, whole_reply
        from voice.modelset import open_model
        from voice.recognizer import VoskRecognizer

        import vosk

        vosk.SetLogLevel(-2)  # not even warnings (word alignment of static graphs)
        vocab = load_vocabulary()
        self.models = open_model(model or "answer-model", Path("/nonexistent-models-dir"))
        self.rec = VoskRecognizer(self.models, meaning=meaning_of(vocab))
        replies = [i for i in SPEECH_INTENTS if i != "start"]
        self.phrases = speech_phrases(vocab, replies, False)
        self.whole = whole_reply(vocab)
        self.interpret = Interpreter(vocab)
        self.answers = set(ANSWER_INTENTS)
        from rules import load_questionnaire

        self.questionnaire = load_questionnaire()

    def amended(self, first: str, rest: str) -> str:
        """What the dialog makes of a cut answer and its rest (DialogManager.amend) on the first
        question: the answer it keeps, or "not_understood" when it asks again."""
        from dialog import NOT_UNDERSTOOD, DialogManager, Heard as Reply

        dm = DialogManager(self.questionnaire, confidence_threshold=0.0)
        dm.start()
        question = dm.listening_for
        dm.handle(Reply(first))
        dm.amend(Reply(rest))
        return dm.answers.get(question, NOT_UNDERSTOOD)

    def hear(self, case: Case, adaptive: bool) -> Heard:
        from voice.audio import Clip
        from voice.listener import ListenConfig, listen
        from voice.pace import Pace
        from voice.sources import WavFileSource

        src = WavFileSource.from_clip(Clip(case.audio, RATE))
        if adaptive:
            cfg, pace, whole = ListenConfig(no_input_seconds=4.0), Pace(), self.whole
        else:
            cfg, pace, whole = ListenConfig(no_input_seconds=4.0, patient_silence=0.3), None, None
        utt = listen(src, self.rec, self.phrases, cfg, whole=whole, patience=pace)
        text = utt.hypothesis.text
        intent = self.interpret(text).intent
        cut = utt.endpoint_audio is not None and utt.endpoint_audio < case.speech_end - 0.05
        rest_answered = False
        if cut:
            after = utt.trailing_quiet
            if pace is not None:
                pace.heard(utt)
            rest = listen(src, self.rec, self.phrases, cfg, whole=whole, patience=pace,
                          after_answer=after if adaptive else None)
            if adaptive and rest.continues and rest.heard:
                intent = self.amended(text, rest.hypothesis.text)
                text = f"{text} | {rest.hypothesis.text}"
            elif not adaptive:
                rest_answered = self.interpret(rest.hypothesis.text).intent in self.answers
        wait = None if cut or utt.endpoint_audio is None else utt.endpoint_audio - case.speech_end
        return Heard(intent, text, cut, rest_answered, wait)


def tally(pairs: list[tuple[Case, Heard]], answers: set[str]) -> dict:
    waits = [h.wait for _, h in pairs if h.wait is not None]
    n = len(pairs)
    return {
        "answers": n,
        "right": sum(h.intent == c.want for c, h in pairs),
        "wrong_answer": sum(h.intent in answers and h.intent != c.want for c, h in pairs),
        "reasked": sum(h.intent not in answers for _, h in pairs),
        "cut": sum(h.cut for _, h in pairs),
        "rest_answered_next": sum(h.rest_answered for _, h in pairs),
        "wait_median_s": statistics.median(waits) if waits else None,
        "wait_p95_s": float(np.percentile(waits, 95)) if waits else None,
    }


def group_key(c: Case) -> str:
    speed = "normal" if c.rate == 1.0 else f"{c.rate:g}x"
    kind = "paused" if "..." in c.said else "plain"
    cond = "clean" if c.snr is None else f"{c.snr:g}dB"
    return f"{speed} {kind} {cond}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.slow_speech", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="half the voices")
    ap.add_argument("--model", help="model name or path (default: the built-in answer-model)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    ear = Ear(args.model)  # libvosk first: models.build's synthesis modules come after it
    all_cases = cases(args.quick)
    results: dict = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
                     "model": ear.models.name, "pause_s": PAUSE, "rates": list(RATES),
                     "voices": sorted({c.voice for c in all_cases}), "groups": {}, "misheard": []}
    heard = {mode: [(c, ear.hear(c, mode == "adaptive")) for c in all_cases] for mode in ("adaptive", "fixed")}
    for mode, pairs in heard.items():
        groups: dict[str, list] = {}
        for c, h in pairs:
            groups.setdefault(group_key(c), []).append((c, h))
        results["groups"][mode] = {k: tally(v, ear.answers) for k, v in groups.items()}
        results["groups"][mode]["all"] = tally(pairs, ear.answers)
        results["misheard"] += [{"mode": mode, "voice": c.voice, "said": c.said, "rate": c.rate, "snr": c.snr,
                                 "heard": h.text, "intent": h.intent}
                                for c, h in pairs if h.intent != c.want and h.intent in ear.answers]
    results["wall_seconds"] = time.monotonic() - t0
    print(f"{'speech':24} {'end':9} {'n':>4} {'right':>7} {'wrong':>6} {'re-asked':>9} {'cut':>5} "
          f"{'rest->next':>10} {'wait med/p95':>13}")
    keys = [k for k in results["groups"]["adaptive"] if k != "all"] + ["all"]
    for key in keys:
        for mode in ("adaptive", "fixed"):
            r = results["groups"][mode][key]
            wait = (f"{1000 * r['wait_median_s']:.0f}/{1000 * r['wait_p95_s']:.0f} ms"
                    if r["wait_median_s"] is not None else "-")
            print(f"{key:24} {mode if mode == 'adaptive' else 'fixed 0.3':9} {r['answers']:4d} "
                  f"{100 * r['right'] / r['answers']:6.1f}% {r['wrong_answer']:6d} {r['reasked']:9d} "
                  f"{r['cut']:5d} {r['rest_answered_next']:10d} {wait:>13}")
    print(f"({len(all_cases)} answers x 2, {len(results['voices'])} voices, {results['wall_seconds']:.0f} s; "
          "cut: ended while the patient was still speaking; rest->next: its rest would answer the next question)")
    print(f"wrote {write_results('slow_speech', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
