"""Model directories against the real libvosk: structure checks, loading errors, vocabulary
lookup on static and lookahead graphs, runtime-grammar detection and grammar JSON."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from models.registry import (ModelError, check_model_dir, find_word, grammar_for, installed_models,
                             load_model, missing_words, resolve_model, supports_runtime_grammar,
                             _fst_has_output_symbols)
from models.verify import dialog_words, verify_model
from tiny_vosk_model import write_tiny_model

WORDS = ["yes", "no", "don't", "i'm", "not", "sure"]


@pytest.mark.parametrize("lookahead", [False, True])
@pytest.mark.parametrize("embed_words", [False, True])
def test_find_word_reads_the_model_vocabulary_on_both_graph_kinds(tmp_path, lookahead, embed_words) -> None:
    root = write_tiny_model(tmp_path / "m", WORDS, lookahead=lookahead, embed_words=embed_words)
    layout = check_model_dir(root)
    assert layout.grammar == ("runtime" if lookahead else "static")
    assert (layout.words_file is None) == embed_words
    assert supports_runtime_grammar(root) is lookahead
    model = load_model(root)
    assert [find_word(model, w) for w in WORDS] == [1, 2, 3, 4, 5, 6]
    assert find_word(model, "zebra") == -1
    assert missing_words(model, ["yes", "zebra", "no", "zebra", "okapi"]) == ["zebra", "okapi"]


def test_fst_header_tells_whether_words_are_embedded(tmp_path) -> None:
    plain = write_tiny_model(tmp_path / "a", WORDS)
    embedded = write_tiny_model(tmp_path / "b", WORDS, embed_words=True)
    assert not _fst_has_output_symbols(plain / "graph/HCLG.fst")
    assert _fst_has_output_symbols(embedded / "graph/HCLG.fst")
    assert not _fst_has_output_symbols(plain / "conf/model.conf")  # not an FST at all


@pytest.mark.parametrize("remove, expected", [
    ("am/final.mdl", "missing am/final.mdl"),
    ("conf/model.conf", "missing conf/model.conf"),
    ("conf/mfcc.conf", "missing conf/mfcc.conf (or conf/fbank.conf)"),
    ("graph/HCLG.fst", "missing a decoding graph"),
    ("graph/words.txt", "missing graph/words.txt (and graph/HCLG.fst carries no word list)"),
])
def test_incomplete_model_names_the_directory_and_the_missing_part(tmp_path, remove, expected) -> None:
    root = write_tiny_model(tmp_path / "m", WORDS)
    (root / remove).unlink()
    with pytest.raises(ModelError) as err:
        load_model(root)
    assert str(root) in str(err.value) and expected in str(err.value)


def test_half_a_lookahead_graph_is_named(tmp_path) -> None:
    root = write_tiny_model(tmp_path / "m", WORDS, lookahead=True)
    (root / "graph/Gr.fst").unlink()
    with pytest.raises(ModelError, match=r"missing graph/Gr\.fst"):
        check_model_dir(root)


def test_damaged_model_quotes_libvosk_instead_of_failed_to_create(tmp_path) -> None:
    root = write_tiny_model(tmp_path / "m", WORDS)
    (root / "am/final.mdl").write_text("<TransitionModel> garbage")
    with pytest.raises(ModelError) as err:
        load_model(root)
    message = str(err.value)
    assert str(root) in message and "libvosk says:" in message
    assert "Failed to create a model" not in message


def test_missing_directory_and_plain_file_are_clear(tmp_path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "model.zip").write_bytes(b"PK")
    with pytest.raises(ModelError, match="not a directory.*unpack"):
        load_model(tmp_path / "model.zip")


def test_grammar_for_adds_unk_dedupes_and_refuses_unknown_words(tmp_path) -> None:
    assert json.loads(grammar_for(["Yes", "no", "i'm  not sure", "yes", " "])) == \
        ["yes", "no", "i'm not sure", "[unk]"]
    model = load_model(write_tiny_model(tmp_path / "m", WORDS, lookahead=True))
    assert json.loads(grammar_for(["yes", "not sure"], model)) == ["yes", "not sure", "[unk]"]
    with pytest.raises(ModelError, match="lacks grammar words: maybe, pardon"):
        grammar_for(["yes", "maybe", "pardon"], model)


def test_verify_passes_when_every_dialog_word_is_known(tmp_path) -> None:
    words = dialog_words()
    assert {"yes", "no", "don't", "repeat", "stop"} <= set(words)
    report = verify_model(write_tiny_model(tmp_path / "m", words))
    assert report.ok and report.missing == () and len(report.words) == len(words)


def test_verify_lists_every_missing_word(tmp_path) -> None:
    words = [w for w in dialog_words() if w not in ("pardon", "that's")]
    report = verify_model(write_tiny_model(tmp_path / "m", words, lookahead=True))
    assert not report.ok and set(report.missing) == {"pardon", "that's"}
    assert report.grammar == "runtime"


def test_installed_models_skips_hidden_dirs_and_reports_broken_ones(tmp_path) -> None:
    models = tmp_path / "models"
    write_tiny_model(models / "good", WORDS)
    (models / "broken" / "am").mkdir(parents=True)
    (models / ".downloads").mkdir()
    (models / ".good.unpack-x").mkdir()
    found = {m.name: m for m in installed_models(models) if m.kind == "downloaded"}
    assert sorted(found) == ["broken", "good"]
    assert found["good"].problem is None and found["good"].grammar == "static"
    assert found["good"].size_bytes > 0
    assert "missing am/final.mdl" in found["broken"].problem and found["broken"].grammar is None


def test_resolve_model_by_name_or_path_and_clear_error(tmp_path) -> None:
    models = tmp_path / "models"
    good = write_tiny_model(models / "good", WORDS)
    assert resolve_model("good", models).path == good
    assert resolve_model(str(good), tmp_path / "elsewhere").kind == "path"
    with pytest.raises(ModelError, match=r"no speech model named 'vosk-x'.*models fetch vosk-x"):
        resolve_model("vosk-x", models)
    shutil.rmtree(good)
    with pytest.raises(ModelError, match="not a directory"):
        resolve_model(str(good), models)


def test_loading_after_kaldifst_is_a_clear_error_not_a_hang(tmp_path) -> None:
    """`import vosk` after `import kaldifst` hangs forever (both bundle OpenFst); the model-build
    tools use kaldifst, so load_model refuses that order with an explanation."""
    root = write_tiny_model(tmp_path / "m", WORDS)
    code = ("import kaldifst\n"
            "from models.registry import load_model, ModelError\n"
            f"try:\n    load_model({str(root)!r})\nexcept ModelError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "imported kaldifst before vosk" in out.stdout, out.stderr
