"""How loud a room must be before a safety answer is read back: answers taken at once against
yes<->no swaps accepted, over the held-out voices' yes/no answers heard as product turns.

    python -m bench.read_back --speech-cache /work/judge/heldout-v2.pkl [--model DIR] [--out FILE]

Each answer (the spoken yes/no phrases, OUTSIDE_ANSWERS, and the wrapped answers) is heard once as
a product turn with the read-back rule off (`ListenConfig.read_back_below_db` 0), keeping the
recogniser's confidence and how far the answer stood above the room's noise floor
(`Utterance.above_floor`). The table then applies each threshold X: a turn below CONFIRM_BELOW
confidence, or less than X dB above the floor, is read back; the rest are taken as heard. The
held-out speech is `bench.accuracy`'s (same cache, same key), so one synthesis serves both.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.0, 10.0, 12.0, 15.0, 18.0, 20.0)
GROUPS = {"noise": ("clean", "20dB", "10dB", "5dB"), "babble": ("babble20dB", "babble10dB", "babble5dB"),
          "room": ("far", "tempo0.7", "tempo1.3", "pitch-4", "pitch+4")}


@dataclass(frozen=True)
class Turn:
    condition: str          # bench.accuracy's condition name; wrapped answers "wrapped <condition>"
    said: str
    want: str               # "yes" or "no"
    got: str                # the dialog's intent for what was heard
    confidence: float | None
    above_floor: float | None

    def taken(self, below_db: float, confirm_below: float) -> bool:
        """Taken at once on a safety question (not read back) under threshold `below_db`."""
        if self.got not in ("yes", "no"):
            return False
        sure = self.confidence is None or self.confidence >= confirm_below
        return sure and not (self.above_floor is not None and self.above_floor < below_db)


def tally(turns: list[Turn], below_db: float, confirm_below: float) -> dict:
    """Per threshold: answers taken right at once, read back right, swaps accepted and read back."""
    out = Counter()
    per_group: dict[str, Counter] = {g: Counter() for g in GROUPS}
    for t in turns:
        if t.got not in ("yes", "no"):
            continue
        right = t.got == t.want
        key = ("taken_right" if right else "swaps_accepted") if t.taken(below_db, confirm_below) else (
            "read_back_right" if right else "swaps_read_back")
        out[key] += 1
        for g, conds in GROUPS.items():
            if t.condition in conds:
                per_group[g][key] += 1
    keys = ("taken_right", "read_back_right", "swaps_accepted", "swaps_read_back")
    return {**{k: out[k] for k in keys}, "answers": len(turns),
            "per_group": {g: {k: c[k] for k in keys} for g, c in per_group.items()}}


def _worker(args: tuple[str, list[np.ndarray]]) -> list[tuple[str, float | None, float | None]]:
    """bench.accuracy's product turn with the read-back rule off: (text, confidence, above_floor)."""
    import vosk
    vosk.SetLogLevel(-1)
    from bench.accuracy import ROOM_HEARD_SECONDS, _pcm
    from dialog.vocabulary import load_vocabulary as load_dialog_vocabulary
    from models.build.corpus import load_vocabulary
    from voice.app import meaning_of
    from voice.audio import BLOCK_SECONDS, Clip, rms_dbfs
    from voice.listener import ListenConfig, NoiseFloor, listen
    from voice.modelset import ContextGraphs
    from voice.recognizer import VoskRecognizer
    from voice.sources import WavFileSource
    rec = VoskRecognizer(ContextGraphs(Path(args[0])), meaning=meaning_of(load_dialog_vocabulary()))
    phrases = load_vocabulary().all_phrases("answer")
    cfg = ListenConfig(read_back_below_db=0.0)
    block = int(BLOCK_SECONDS * 16000)
    out = []
    for x in args[1]:
        pcm = _pcm(np.asarray(x))
        floor = NoiseFloor()
        for i in range(0, min(len(pcm), int(ROOM_HEARD_SECONDS * 16000)) - block + 1, block):
            floor.update(rms_dbfs(pcm[i:i + block].tobytes()))
        u = listen(WavFileSource.from_clip(Clip(pcm, 16000)), rec, phrases, cfg, floor=floor)
        out.append((u.hypothesis.text, u.hypothesis.confidence, u.above_floor))
    return out


def hear_turns(model: Path, items: list[tuple[str, str, str, np.ndarray]]) -> list[Turn]:
    """(condition, said, wanted intent, audio) heard as product turns by `model`."""
    from bench.accuracy import dialog_interpreter
    from models.build.decode import decode_many
    interpret = dialog_interpreter()
    heard = decode_many(model, [a for *_, a in items], worker=_worker)
    return [Turn(cond, said, want, interpret(text).intent, conf, above)
            for (cond, said, want, _), (text, conf, above) in zip(items, heard)]


def yes_no_items(ts) -> list[tuple[str, str, str, np.ndarray]]:
    """The held-out set's yes/no answers: spoken phrases and OUTSIDE_ANSWERS, then wrapped answers."""
    from bench.accuracy import heldout_answers
    from models.build.corpus import load_vocabulary
    said = heldout_answers(load_vocabulary())
    items = [(cond, ref, said[ref], a) for (_, cond, ref, a) in ts.items if said.get(ref) in ("yes", "no")]
    return items + [(f"wrapped {cond}", text, want, a) for (cond, text, want, a) in ts.wrapped
                    if want in ("yes", "no")]


def main(argv: list[str] | None = None) -> int:
    from bench.accuracy import CONFIRM_BELOW, cached_speech
    from models.answer_model import MODEL_DIR
    from models.registry import ModelError, check_model_dir
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    ap.add_argument("--speech-cache", type=Path, required=True,
                    help="bench.accuracy's held-out speech (synthesised there when missing or stale)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "read_back.json")
    args = ap.parse_args(argv)
    try:
        check_model_dir(args.model)
    except ModelError as e:
        ap.error(str(e))
    turns = hear_turns(args.model, yes_no_items(cached_speech(args.speech_cache, quick=False)))
    rows = {x: tally(turns, x, CONFIRM_BELOW) for x in args.thresholds}
    print(f"model {args.model}: {len(turns)} yes/no answers as product turns (read back below confidence "
          f"{CONFIRM_BELOW} or less than X dB above the room)")
    print(f"{'X dB':>6} {'taken right':>12} {'read back':>10} {'swaps taken':>12} {'swaps read back':>16}   "
          + "   ".join(f"{g} taken/swaps" for g in GROUPS))
    for x, r in rows.items():
        print(f"{x:>6.0f} {r['taken_right']:>12} {r['read_back_right']:>10} {r['swaps_accepted']:>12} "
              f"{r['swaps_read_back']:>16}   " + "   ".join(
                  f"{r['per_group'][g]['taken_right']:>6}/{r['per_group'][g]['swaps_accepted']:<6}" for g in GROUPS))
    swaps = [t for t in turns if t.got in ("yes", "no") and t.got != t.want]
    print("every swap (condition, said -> intent, confidence, dB above the room):")
    for t in swaps:
        print(f"  {t.condition:<18} {t.said!r} -> {t.got}  {t.confidence if t.confidence is None else round(t.confidence, 3)}"
              f"  {t.above_floor if t.above_floor is None else round(t.above_floor, 1)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": str(args.model), "confirm_below": CONFIRM_BELOW,
                                    "thresholds": {str(x): r for x, r in rows.items()},
                                    "swaps": [vars(t) for t in swaps]}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
