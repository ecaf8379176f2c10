"""bench.ceiling's forced-choice copy of a model: the same network and phrases with no [unk] path,
so speech the model rejects still comes out as a phrase. Graphs are written in a process of their
own (kaldifst and libvosk each bundle OpenFst: tests/graph_costs_probe.py)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.ceiling import forced_choice_copy, read_units_lexicon
from models.answer_model import model_path, recognize
from models.build.augment import eval_condition
from models.build.tts import Voice, synth_many
from models.registry import ModelError

REPO = Path(__file__).resolve().parents[1]


def _copy(out: Path) -> subprocess.CompletedProcess:
    code = ("import sys; from pathlib import Path; from bench.ceiling import forced_choice_copy; "
            "forced_choice_copy(Path(sys.argv[1]), Path(sys.argv[2]))")
    return subprocess.run([sys.executable, "-c", code, str(model_path()), str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def forced(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ceiling") / "forced"
    r = _copy(out)
    assert r.returncode == 0, r.stderr
    return out


def test_forced_copy_hears_a_phrase_where_the_model_hears_unknown_speech(forced: Path) -> None:
    import vosk
    vosk.SetLogLevel(-1)
    model, copy = vosk.Model(str(model_path())), vosk.Model(str(forced))
    waves = [eval_condition(np.random.default_rng(i), x, None)
             for i, x in enumerate(synth_many(Voice("espeak", "en-us"), ["yes", "elephant", "umbrella"]))]
    assert recognize(model, waves[0]) == recognize(copy, waves[0]) == "yes"
    for x in waves[1:]:
        assert recognize(model, x) == "[unk]"
        heard = recognize(copy, x)
        assert heard and "[unk]" not in heard.split(), heard


def test_forced_copy_changes_only_the_phrase_graphs(forced: Path) -> None:
    original = model_path()
    for rel in ("am/final.mdl", "graphs/garbage/HCLG.fst", "graph/words.txt", "graphs/answer/words.txt"):
        assert (forced / rel).read_bytes() == (original / rel).read_bytes(), rel
    for rel in ("graph/HCLG.fst", "graphs/answer/HCLG.fst", "graphs/start/HCLG.fst"):
        assert (forced / rel).read_bytes() != (original / rel).read_bytes(), rel


def test_a_model_without_its_units_lexicon_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(model_path(), broken)
    (broken / "graph" / "lexicon.txt").unlink()
    with pytest.raises(ModelError, match=r"lexicon\.txt: missing; `python -m models.build` writes it"):
        forced_choice_copy(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_lexicon_without_a_graph_word_names_the_word(tmp_path: Path) -> None:
    broken = tmp_path / "m"
    shutil.copytree(model_path(), broken)
    lexicon = broken / "graph" / "lexicon.txt"
    lexicon.write_text("".join(line + "\n" for line in lexicon.read_text().splitlines()
                               if line.split()[0] not in ("um", "pardon")))
    with pytest.raises(ModelError, match=r"lexicon\.txt: no units for pardon, um, which its graphs use"):
        forced_choice_copy(broken, tmp_path / "out")


def test_a_model_this_project_did_not_build_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "m"
    shutil.copytree(model_path(), other)
    (other / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"no manifest\.json; a forced-choice copy needs a model built by"):
        forced_choice_copy(other, tmp_path / "out")


def test_a_malformed_lexicon_line_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.txt"
    path.write_text("yes yes#0 yes#1 yes#2\nno\n")
    with pytest.raises(ModelError, match=r"lexicon\.txt:2: expected a word and its units"):
        read_units_lexicon(path)


def test_the_command_refuses_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "bench.ceiling", "--model", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert str(tmp_path) in r.stderr and "am/final.mdl" in r.stderr


def test_the_command_refuses_a_model_without_a_manifest_before_synthesising(tmp_path: Path) -> None:
    other = tmp_path / "m"
    shutil.copytree(model_path(), other)
    (other / "manifest.json").unlink()
    r = subprocess.run([sys.executable, "-m", "bench.ceiling", "--model", str(other)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "no manifest.json" in r.stderr and "Traceback" not in r.stderr
