"""bench.human_accuracy: a people set (here spoken by espeak-ng, written as `bench.human_speech`
writes one) decoded by the committed model and scored per intent, with other speech counted by
the intent it was taken for."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.human_accuracy import intent_table, main, speaker_group
from models.build.tts import Voice, synth_many
from voice.audio import Clip, write_wav


def test_intent_table_counts_wrong_intents_but_not_re_asks() -> None:
    heard = {"repeat": {"repeat": 3, "yes": 1, "not_understood": 4},
             "no": {"no": 2, "unsure": 1, "nothing_heard": 1},
             "yes": {"yes": 5}}
    table = intent_table(heard)
    assert list(table) == ["yes", "no", "repeat"]       # the screening's answers first
    assert table["no"] == {"right": 2, "total": 4, "wrong_intent": 1}
    assert table["repeat"] == {"right": 3, "total": 8, "wrong_intent": 1}


def test_speaker_group_is_the_source_part_of_the_id() -> None:
    assert speaker_group("hedgewars-Default_uk") == "hedgewars"
    assert speaker_group("megaglest-norsemen-daemon") == "megaglest"
    assert speaker_group("pingus") == "pingus" and speaker_group("") == "unknown"


def write_people_set(root: Path) -> None:
    said = [("yes", True, "yes"), ("no", True, "no"), ("yes", True, "yes"),
            ("elephant", False, None), ("umbrella", False, None), ("nope is right", False, None)]
    audio = synth_many(Voice("espeak", "en-us"), [t for t, _, _ in said])
    # a clip labelled "no" that holds only a quiet room: an answer the model cannot understand
    said.append(("no", True, "no"))
    audio.append(np.random.default_rng(3).normal(0, 30, 16000).astype(np.float32))
    clips = []
    for i, ((text, inv, intent), x) in enumerate(zip(said, audio)):
        write_wav(root / f"{i}.wav", Clip(np.clip(x, -32768, 32767).astype(np.int16), 16000))
        clips.append({"path": f"{i}.wav", "transcript": text, "in_vocabulary": inv, "intent": intent,
                      "contains_phrases": [], "source": "espeak-ng test", "licence": "GPL-3+",
                      "speaker": "mary" if i % 2 else "ann"})
    (root / "manifest.json").write_text(json.dumps({"summary": {}, "clips": clips}))


def test_people_set_is_scored_per_intent_and_by_what_other_speech_became(tmp_path: Path) -> None:
    write_people_set(tmp_path)
    out = tmp_path / "result.json"
    assert main(["--speech", str(tmp_path), "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["per_intent"]["yes"]["total"] == 2 and r["per_intent"]["no"]["total"] == 2
    assert r["per_intent"]["yes"]["right"] == 2             # a trained voice's plain "yes"
    assert sum(row["right"] for row in r["per_intent"].values()) == r["in_vocabulary"]["right"]
    # every answer not understood is listed, clip by clip, and the silent one among them
    assert len(r["misses"]) == r["in_vocabulary"]["total"] - r["in_vocabulary"]["right"]
    assert {"path": "6.wav", "speaker": "ann", "said": "no", "want": "no"}.items() <= r["misses"][-1].items()
    assert r["misses"][-1]["got"] in ("not_understood", "nothing_heard")
    assert r["per_speaker_group"]["ann"]["total"] == 3 and r["per_speaker_group"]["mary"]["total"] == 1
    assert len(r["other_speech_taken"]) == sum(r["oov_taken_as"].values())
    # "nope is right" holds vocabulary phrases: neither an answer nor unknown speech to reject
    assert r["oov_rejection"]["total"] == 2
    assert sum(r["oov_taken_as"].values()) == r["oov_rejection"]["total"] - r["oov_rejection"]["rejected"]
    assert r["yes_no_swaps"] == 0
    assert r["yes_no_taken_unconfirmed"] is None              # one full-graph decode has no confidence

    assert main(["--speech", str(tmp_path), "--out", str(out), "--exclude-speakers", "ann"]) == 0
    r = json.loads(out.read_text())
    assert r["clips"] == 3 and list(r["per_intent"]) == ["no"] and r["oov_rejection"]["total"] == 1
    assert all(m["speaker"] != "ann" for m in r["misses"])


def test_people_heard_as_product_turns_are_set_against_whisper(tmp_path: Path) -> None:
    """--as-product hears each clip through the listener and the answer-context graph: the quiet
    "no" is nothing heard (the listener never opens), not an answer the full graph failed on."""
    write_people_set(tmp_path)
    out = tmp_path / "turns.json"
    assert main(["--speech", str(tmp_path), "--out", str(out), "--as-product"]) == 0
    r = json.loads(out.read_text())
    assert r["mode"] == "product turns"
    assert r["per_intent"]["yes"]["right"] == 2
    assert r["misses"][-1]["got"] == "nothing_heard" and r["misses"][-1]["heard"] == ""
    yn = r["yes_no"]
    assert yn["total"] == 4 and yn["right"] == r["per_intent"]["yes"]["right"] + r["per_intent"]["no"]["right"]
    assert yn["whisper_tiny_en"]["yes"] == {"right": 76, "total": 77}
    assert yn["untuned_speakers"]["total"] == 4              # ann and mary: no build tuned on them
    # other speech a safety question would take as yes/no without a read-back, from each turn's confidence
    assert all("confidence" in row for row in r["other_speech_taken"])
    assert r["yes_no_taken_unconfirmed"] == sum(row["got"] in ("yes", "no") and row["confidence"] >= 0.6
                                                for row in r["other_speech_taken"])
    assert all("confidence" in row for row in r["misses"] if row["heard"])
