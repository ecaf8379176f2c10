"""The official-model path with the real built-in answer model (models/answer-model/):
served as an archive, fetched, loaded by libvosk, its vocabulary checked."""
from __future__ import annotations

import shutil

import pytest

from massage_check.cli import main
from models.registry import BUILTIN_DIR, BUILTIN_NAME, check_model_dir
from models.verify import dialog_words, verify_model
from official_model_server import ModelServer, zip_model_dir

NAME = "vosk-model-small-en-us-0.15"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "models"


def test_builtin_model_is_listed_active_by_default_and_verifies(env, capsys) -> None:
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if f"built-in: {BUILTIN_DIR}" in line)
    assert row.startswith("*") and BUILTIN_NAME in row and "static" in row

    assert main(["models", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"all {len(dialog_words())} dialog words present" in out and "static graph" in out
    assert "files: match the manifest" in out


def test_builtin_model_with_a_changed_file_fails_verify(env, capsys, monkeypatch, tmp_path) -> None:
    copy = tmp_path / "answer-model"
    shutil.copytree(BUILTIN_DIR, copy)
    (copy / "conf/model.conf").write_text((copy / "conf/model.conf").read_text() + "--beam=99\n")
    import models.registry as registry

    monkeypatch.setattr(registry, "BUILTIN_DIR", copy)
    assert main(["models", "verify"]) == 2
    err = capsys.readouterr().err
    assert "do not match its manifest" in err and "conf/model.conf: sha256 differs" in err


def test_builtin_model_served_fetched_and_loaded_by_libvosk(env, capsys) -> None:
    # The official archive layout (<name>/am, conf, graph) made from the real model's files.
    body = zip_model_dir(BUILTIN_DIR, NAME, skip=("graphs/",))
    with ModelServer() as srv:
        srv.serve(f"/{NAME}.zip", body)
        code = main(["models", "fetch", NAME, "--url", srv.base_url, "--use", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert check_model_dir(env / NAME).grammar == "static"
    assert main(["models", "verify"]) == 0  # now the active model is the fetched copy
    assert f"model {NAME}: loaded by libvosk" in capsys.readouterr().out


def test_builtin_copy_without_a_dialog_word_fails_verify(tmp_path, capsys) -> None:
    copy = tmp_path / "answer-copy"
    shutil.copytree(BUILTIN_DIR, copy, ignore=shutil.ignore_patterns("graphs"))
    layout = check_model_dir(copy)
    assert layout.words_file is not None  # libvosk reads this model's words from graph/words.txt
    lines = layout.words_file.read_text().splitlines()
    layout.words_file.write_text("\n".join(l for l in lines if l.split()[0] not in ("stop", "pardon")) + "\n")
    report = verify_model(copy)
    assert set(report.missing) == {"stop", "pardon"}
    assert main(["models", "verify", str(copy)]) == 2
    assert "lacks 2 of the" in capsys.readouterr().err
