"""Decode audio through the real libvosk in fresh worker processes.

Fresh (spawned) processes because libvosk's and torch's thread pools in one process can deadlock.
"""
from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _decode_worker(args: tuple[str, list[np.ndarray]]) -> list[str]:
    import vosk
    from models.answer_model import recognize
    vosk.SetLogLevel(-1)
    model = vosk.Model(args[0])
    return [recognize(model, x) for x in args[1]]


def decoder_pool(workers: int = 2):
    """A pool of fresh processes for decode_many (reuse it: starting one costs seconds)."""
    return get_context("spawn").Pool(workers)


def decode_many(model_dir: Path, audio: list[np.ndarray], workers: int = 2, pool=None,
                worker: Callable[[tuple[str, list[np.ndarray]]], list[Any]] = _decode_worker) -> list[Any]:
    """What libvosk hears in each utterance, decoded in `workers` processes: texts by default, or
    whatever `worker` (a module-level function of (model_dir, utterances)) returns per utterance."""
    parts = [audio[i::workers] for i in range(workers)]
    if pool is None:
        with decoder_pool(workers) as own:
            res = own.map(worker, [(str(model_dir), p) for p in parts])
    else:
        res = pool.map(worker, [(str(model_dir), p) for p in parts])
    out: list[Any] = [None] * len(audio)
    for i, r in enumerate(res):
        out[i::workers] = r
    return out


def margin_worker(args: tuple[str, list[np.ndarray]]) -> list[tuple[str, float | None]]:
    """(text, margin over the garbage-only graph) of each utterance, heard by the product's own
    recogniser in the answer context (voice.recognizer)."""
    import vosk
    vosk.SetLogLevel(-1)
    from models.build.corpus import load_vocabulary
    from voice.modelset import ContextGraphs
    from voice.recognizer import VoskRecognizer
    rec = VoskRecognizer(ContextGraphs(Path(args[0])))
    phrases = load_vocabulary().all_phrases("answer")
    out = []
    for x in args[1]:
        rec.begin(phrases)
        rec.accept(np.clip(np.asarray(x), -32768, 32767).astype("<i2").tobytes())
        hyp = rec.result()
        out.append((hyp.text, hyp.margin))
    return out
