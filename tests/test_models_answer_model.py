"""The committed answer model: intact (manifest hashes), loads in libvosk, hears yes/no, rejects
words outside its vocabulary, and its per-context graphs restrict what is accepted."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from models.answer_model import (ModelError, contexts, load_manifest, model_dir, model_path, recognize,
                                 verify_manifest)
from models.build.augment import eval_condition
from models.build.corpus import load_vocabulary
from models.build.tts import Voice, synth_many


@pytest.fixture(scope="module")
def vosk_model():
    import vosk
    vosk.SetLogLevel(-1)
    return vosk.Model(str(model_path()))


def _hear(model, voice: Voice, texts: list[str], snr_db: float | None = None) -> list[str]:
    out = []
    for i, x in enumerate(synth_many(voice, texts)):
        out.append(recognize(model, eval_condition(np.random.default_rng(100 + i), x, snr_db)))
    return out


def test_committed_model_matches_its_manifest() -> None:
    check = verify_manifest()
    assert check.ok, check.problems
    manifest = load_manifest()
    assert manifest["tiny"] is False
    assert manifest["vocabulary"]["words"] == load_vocabulary().words(), \
        "dialog/vocabulary.yaml changed since the model was built: run `python -m models.build`"
    assert {"all", "answer", "start"} <= set(contexts())


def test_committed_model_never_trained_on_a_benchmark_voice() -> None:
    """bench.accuracy's held-out figures mean something only if no held-out speaker was a training one."""
    from bench.accuracy import heldout_voices
    trained = set(load_manifest()["training_data"]["voices"])
    assert any(v.startswith("mbrola:") for v in trained)       # the manifest does name its speakers
    held_out = {f"{v.engine}:{v.name}" for s in ("standard", "accented") for v in heldout_voices(False, s)}
    assert {"mbrola:mb-us3", "rhvoice:lyubov", "flite:rms", "espeak:en-029", "kokoro:hm_psi"} <= held_out
    assert not held_out & trained


def test_a_changed_file_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_path(), copy)
    words = copy / "graph" / "words.txt"
    words.write_text(words.read_text() + "extra 999\n")
    (copy / "stray.txt").write_text("x")
    check = verify_manifest(copy)
    assert not check.ok
    assert any("words.txt" in p and "sha256" in p for p in check.problems)
    assert any("stray.txt" in p and "not listed" in p for p in check.problems)


def test_yes_and_no_are_heard(vosk_model) -> None:
    voice = Voice("espeak", "en-us")
    assert _hear(vosk_model, voice, ["yes", "no"]) == ["yes", "no"]
    assert _hear(vosk_model, voice, ["yes", "no"], snr_db=20.0) == ["yes", "no"]


def test_out_of_vocabulary_word_is_rejected(vosk_model) -> None:
    heard = _hear(vosk_model, Voice("espeak", "en-us"), ["elephant", "umbrella"])
    for h in heard:
        assert all(w == "[unk]" for w in h.split()), heard


def test_context_graph_restricts_what_is_accepted() -> None:
    import vosk
    vosk.SetLogLevel(-1)
    start = vosk.Model(str(model_dir("start")))
    heard = _hear(start, Voice("espeak", "en-us"), ["hello", "yes"])
    assert heard[0] == "hello"
    assert "yes" not in heard[1].split()
    with pytest.raises(ModelError, match="no graph for context"):
        model_dir("nonsense")


def test_context_directory_is_rebuilt_when_a_tmp_cleaner_broke_it(tmp_path, monkeypatch) -> None:
    import vosk
    vosk.SetLogLevel(-1)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = model_dir("start")
    (first / "graph").unlink()            # a tmp cleaner removed one link and left the rest
    again = model_dir("start")
    assert again == first
    assert (again / "graph" / "HCLG.fst").exists()
    assert [p.name for p in tmp_path.iterdir()] == [first.name]   # no half-made copy left behind
    assert _hear(vosk.Model(str(again)), Voice("espeak", "en-us"), ["hello"]) == ["hello"]
