"""How a speech model does on real human voices (the set `bench.human_speech` gathers).

Every clip is decoded by libvosk with the model's full graph, then interpreted by
the dialog's own interpreter, so the score is what the product would do with it:
an in-vocabulary clip counts as right when it yields its intent; an
out-of-vocabulary clip counts as rejected when it yields no intent at all.

With `--as-product`, each clip is instead one listening turn of the product on a question (the
answer-context graph, the listener's endpointing, the recogniser's confidence, the interpreter):
what a patient meets. The yes and no answers are then set against the figures Whisper tiny.en
(trained on real speech) reaches on the same clips through the same interpreter (WHISPER_TINY_EN).

Run:  python -m bench.human_speech --out /tmp/human-speech     (once)
      python -m bench.human_accuracy --speech /tmp/human-speech [--model DIR] [--as-product]
Prints a table (per phrase, per source, per intent, overall) and writes
bench/results/human_accuracy.json. Compare builds per intent (docs/model-findings.md,
finding 36): one speaker's word can move the total by ten answers, while what
matters most here is yes and no answers understood, other speech taken for "no",
and yes<->no swaps.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def decode(model, path: Path) -> str:
    """The clip as the product's listener feeds it: runs of digital silence (a file's padding, or
    a muted device) get its quiet-room noise, which the decoder would otherwise hear as words."""
    import vosk  # noqa: PLC0415

    from voice.listener import dither_digital_silence  # noqa: PLC0415

    with wave.open(str(path)) as w:
        rec = vosk.KaldiRecognizer(model, w.getframerate())
        rec.AcceptWaveform(dither_digital_silence(w.readframes(w.getnframes())))
    return json.loads(rec.FinalResult()).get("text", "")


NOT_TAKEN = ("not_understood", "nothing_heard")
# Whisper tiny.en on the same people's yes and no answers, read by the same interpreter (issue 31):
# the per-intent floor a model should reach; it also took 20 of 435 other clips for answers.
WHISPER_TINY_EN = {"yes": (76, 77), "no": (20, 30)}
# Speakers no build was tuned or trained on: `models.build --human-dev` tunes on Hedgewars' other
# speech, and one probe trained on Asterisk's Allison (`--human-train`).
TUNED_OR_TRAINED = ("hedgewars-", "asterisk")


def product_turns(model: Path, paths: list[Path], pad_seconds: float = 0.5) -> list[tuple[str, float | None]]:
    """Each clip as one listening turn on a question, as bench.accuracy's product turns are heard.
    A patient answers into a room that was quiet before and after: many clips (the cut-out words
    above all) start on the word itself, and the listener's first block would then be taken for
    the room's quiet, so each clip gets `pad_seconds` of quiet-room noise on each side. Each turn is
    (text, the recogniser's confidence): a safety answer below CONFIRM_BELOW is read back."""
    import numpy as np  # noqa: PLC0415

    from bench.accuracy import product_turns as turns  # noqa: PLC0415
    from models.build.tts import read_wav  # noqa: PLC0415
    rng = np.random.default_rng(5)
    pad = int(pad_seconds * 16000)

    def padded(x):
        return np.concatenate([rng.normal(0, 3.0, pad), x, rng.normal(0, 3.0, pad)]).astype(np.float32)

    return turns(model, [padded(read_wav(p)) for p in paths])


def speaker_group(speaker: str) -> str:
    """Where a speaker id comes from ("hedgewars-Pirate" -> "hedgewars"): a source's acted or
    processed voices miss together, and a total hides it (docs/model-findings.md, finding 43)."""
    return speaker.split("-", 1)[0] or "unknown"


def intent_table(heard_as: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per intent said: answers understood, clips, and answers taken for another intent (the
    errors that are not re-asked). yes and no first: they decide the screening."""
    order = sorted(heard_as, key=lambda i: ({"yes": 0, "no": 1}.get(i, 2), i))
    return {want: {"right": heard_as[want].get(want, 0), "total": sum(heard_as[want].values()),
                   "wrong_intent": sum(n for got, n in heard_as[want].items() if got != want and got not in NOT_TAKEN)}
            for want in order}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speech", type=Path, default=Path("/tmp/human-speech"),
                    help="folder written by `python -m bench.human_speech` (has manifest.json)")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "answer-model", help="Vosk model directory")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "human_accuracy.json")
    ap.add_argument("--as-product", action="store_true",
                    help="hear each clip as one product turn (answer-context graph, listener, confidence) "
                         "instead of one decode with the full graph")
    ap.add_argument("--exclude-speakers", nargs="*", default=[], metavar="PREFIX",
                    help="leave out speakers whose id starts with PREFIX (those a build tuned on: "
                         "`python -m models.build --human-dev` uses hedgewars-)")
    args = ap.parse_args(argv)

    manifest_path = args.speech / "manifest.json"
    if not manifest_path.exists():
        print(f"{manifest_path} not found: run `python -m bench.human_speech --out {args.speech}` first",
              file=sys.stderr)
        return 2
    import vosk  # noqa: PLC0415  (imported before anything that could load kaldifst)

    from bench.accuracy import CONFIRM_BELOW  # noqa: PLC0415
    from bench.human_speech import Vocabulary  # noqa: PLC0415
    from dialog import interpret  # noqa: PLC0415

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(args.model))
    from models.answer_model import trained_speakers  # noqa: PLC0415

    trained = trained_speakers(args.model)
    if trained:
        print(f"leaving out speakers the model was trained on: {', '.join(trained)}")
    clips = [c for c in json.loads(manifest_path.read_text())["clips"]
             if not str(c.get("speaker", "")).startswith(tuple(args.exclude_speakers))
             and c.get("speaker") not in trained]

    per_phrase: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    heard_as: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    oov = [0, 0]
    oov_taken_as: dict[str, int] = defaultdict(int)   # other speech accepted as an answer, by intent
    per_group: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[dict] = []     # every answer not understood, to listen to: which speakers, which words
    taken: list[dict] = []      # every clip of other speech taken for an answer
    swaps = 0
    started = time.perf_counter()
    vocab = Vocabulary.load()   # classify by today's spoken vocabulary, not the one at gathering time
    paths = [Path(c["path"]) if Path(c["path"]).is_absolute() else args.speech / c["path"] for c in clips]
    hears = (product_turns(args.model, paths) if args.as_product
             else ((decode(model, p), None) for p in paths))
    unconfirmed = 0    # other speech taken as yes/no sure enough to skip the read-back (product turns)
    fair: dict[str, list[int]] = defaultdict(lambda: [0, 0])    # yes/no right, total on untuned speakers
    for clip, (heard, confidence) in zip(clips, hears):
        got = interpret(heard).intent
        in_vocabulary, want, inside = vocab.classify(clip["transcript"])
        row = {"speaker": clip.get("speaker", ""), "said": clip["transcript"], "heard": heard, "got": got,
               "path": clip["path"]} | ({"confidence": confidence} if confidence is not None else {})
        if in_vocabulary:
            ok = got == want
            per_phrase[clip["transcript"]][0] += ok
            per_phrase[clip["transcript"]][1] += 1
            per_source[clip["source"]][0] += ok
            per_source[clip["source"]][1] += 1
            group = per_group[speaker_group(row["speaker"])]
            group[0] += ok
            group[1] += 1
            heard_as[want][got] += 1
            swaps += {want, got} == {"yes", "no"}
            if want in ("yes", "no") and not row["speaker"].startswith(TUNED_OR_TRAINED):
                fair[want][0] += ok
                fair[want][1] += 1
            if not ok:
                misses.append({**row, "want": want})
        elif not inside:
            rejected = got in NOT_TAKEN
            oov[0] += rejected
            oov[1] += 1
            if not rejected:
                oov_taken_as[got] += 1
                taken.append(row)
                unconfirmed += got in ("yes", "no") and confidence is not None and confidence >= CONFIRM_BELOW
    elapsed = time.perf_counter() - started

    inv_ok = sum(a for a, _ in per_phrase.values())
    inv_n = sum(b for _, b in per_phrase.values())
    print(f"model {args.model}  ({len(clips)} clips, {elapsed:.0f} s)")
    print(f"{'phrase':<22}{'right':>8}{'clips':>8}")
    for phrase, (a, b) in sorted(per_phrase.items()):
        print(f"{phrase:<22}{a:>8}{b:>8}")
    print(f"{'source':<40}{'right':>8}{'clips':>8}")
    for source, (a, b) in sorted(per_source.items()):
        print(f"{source:<40}{a:>8}{b:>8}")
    per_intent = intent_table(heard_as)
    print(f"{'intent':<12}{'right':>8}{'clips':>8}{'wrong intent':>14}")
    for intent, row in per_intent.items():
        print(f"{intent:<12}{row['right']:>8}{row['total']:>8}{row['wrong_intent']:>14}")
    print(f"in-vocabulary intent accuracy: {inv_ok}/{inv_n} = {inv_ok / max(inv_n, 1):.1%}")
    yes_no = {i: (per_intent.get(i, {}).get("right", 0), per_intent.get(i, {}).get("total", 0)) for i in ("yes", "no")}
    yn_ok, yn_n = sum(a for a, _ in yes_no.values()), sum(b for _, b in yes_no.values())
    fair_ok, fair_n = sum(a for a, _ in fair.values()), sum(b for _, b in fair.values())
    print(f"yes/no answers understood:     {yn_ok}/{yn_n} = {yn_ok / max(yn_n, 1):.1%} (goal 95%); "
          + ", ".join(f"{i} {a}/{b} (Whisper tiny.en {WHISPER_TINY_EN[i][0]}/{WHISPER_TINY_EN[i][1]})"
                      for i, (a, b) in yes_no.items())
          + f"; speakers no build tuned or trained on: {fair_ok}/{fair_n}")
    print(f"out-of-vocabulary rejection:   {oov[0]}/{oov[1]} = {oov[0] / max(oov[1], 1):.1%}")
    print(f"yes<->no swaps:                {swaps}")
    print("other speech taken as:         " + (", ".join(f"{k} {v}" for k, v in sorted(oov_taken_as.items()))
                                                 or "nothing"))
    if args.as_product:
        print(f"other speech taken as yes/no and not read back (confidence >= {CONFIRM_BELOW}): "
              f"{unconfirmed}/{oov[1]}")
    print("answers by speaker group:      " + ", ".join(f"{g} {a}/{b}" for g, (a, b) in sorted(per_group.items())))
    print(f"misses and other speech taken, clip by clip: \"misses\" and \"other_speech_taken\" in {args.out}")
    result = {
        "model": str(args.model), "clips": len(clips), "seconds": round(elapsed, 1),
        "mode": "product turns" if args.as_product else "full graph",
        "yes_no": {"right": yn_ok, "total": yn_n, "per_intent": {i: {"right": a, "total": b} for i, (a, b) in yes_no.items()},
                   "whisper_tiny_en": {i: {"right": a, "total": b} for i, (a, b) in WHISPER_TINY_EN.items()},
                   "untuned_speakers": {"right": fair_ok, "total": fair_n,
                                        "left_out": list(TUNED_OR_TRAINED)}},
        "excluded_speakers": sorted(set(args.exclude_speakers) | set(trained)),
        "in_vocabulary": {"right": inv_ok, "total": inv_n},
        "oov_rejection": {"rejected": oov[0], "total": oov[1]}, "yes_no_swaps": swaps,
        "per_phrase": {k: {"right": a, "total": b} for k, (a, b) in per_phrase.items()},
        "per_source": {k: {"right": a, "total": b} for k, (a, b) in per_source.items()},
        "heard_as": {k: dict(v) for k, v in heard_as.items()},
        "per_intent": per_intent,
        "oov_taken_as": dict(oov_taken_as),
        # as product turns: other speech a safety question would take as yes/no without reading it back
        "yes_no_taken_unconfirmed": unconfirmed if args.as_product else None,
        "per_speaker_group": {k: {"right": a, "total": b} for k, (a, b) in sorted(per_group.items())},
        "misses": misses,
        "other_speech_taken": taken,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
