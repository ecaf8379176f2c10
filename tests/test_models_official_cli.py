"""`massage-check models list|fetch|use|verify` end to end: the real CLI, a real HTTP server on
127.0.0.1, a real config file and real libvosk loading the fetched model."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from massage_check.cli import main
from models.verify import dialog_words
from official_model_server import ModelServer, zip_model_dir
from tiny_vosk_model import write_tiny_model

NAME = "vosk-model-small-en-us-0.15"


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, Path]:
    cfg = tmp_path / "config" / "config.yaml"
    data = tmp_path / "data"
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(cfg))
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(data))
    return {"config": cfg, "models": data / "models"}


@pytest.fixture
def server(tmp_path):
    """Serves a real (tiny, libvosk-loadable) lookahead model that knows every dialog word."""
    model = write_tiny_model(tmp_path / "src", dialog_words(), lookahead=True)
    with ModelServer() as srv:
        srv.serve(f"/{NAME}.zip", zip_model_dir(model, NAME))
        yield srv


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_from_configured_mirror_use_list_verify(env, server, capsys) -> None:
    env["config"].parent.mkdir(parents=True)
    env["config"].write_text(yaml.safe_dump({"model_base_url": server.base_url + "/"}))

    code, out, err = run(capsys, "models", "fetch", NAME)
    assert code == 0, err
    assert f"installed {NAME} in {env['models'] / NAME}" in out
    assert server.url(f"/{NAME}.zip") in out and "not pinned" in out
    assert re.search(r"100%|\d+(\.\d+)?k?/", err)  # the tqdm progress bar ran
    assert f"massage-check models use {NAME}" in out

    code, out, err = run(capsys, "models", "use", NAME)
    assert code == 0 and yaml.safe_load(env["config"].read_text())["model"] == NAME
    # The mirror setting written earlier is kept.
    assert yaml.safe_load(env["config"].read_text())["model_base_url"] == server.base_url + "/"

    code, out, err = run(capsys, "models", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if f"downloaded: {env['models'] / NAME}" in line)
    assert row.startswith("*") and "en-us" in row and "runtime" in row and "KB" in row
    other = next(line for line in out.splitlines() if "vosk-model-en-us-0.22-lgraph" in line)
    assert "not installed: massage-check models fetch vosk-model-en-us-0.22-lgraph" in other
    assert f"active model: {NAME}" in out and str(env["config"]) in out

    code, out, err = run(capsys, "models", "verify")  # the active model
    assert code == 0, err
    assert f"all {len(dialog_words())} dialog words present" in out
    assert "runtime phrase lists" in out


def test_fetch_with_url_and_use_flag(env, server, capsys) -> None:
    code, out, err = run(capsys, "models", "fetch", NAME, "--url", server.url(f"/{NAME}.zip"),
                         "--use", "--no-progress")
    assert code == 0, err
    assert err == ""  # --no-progress: no bar
    assert yaml.safe_load(env["config"].read_text())["model"] == NAME


def test_interrupted_cli_fetch_then_resume(env, server, capsys) -> None:
    served = server.files[f"/{NAME}.zip"]
    served.cut_after, served.cuts_left = len(served.body) // 3, 1
    code, out, err = run(capsys, "models", "fetch", NAME, "--url", server.base_url, "--no-progress")
    assert code == 2 and "interrupted" in err and "run the same command again to resume" in err
    assert not (env["models"] / NAME).exists()
    code, out, err = run(capsys, "models", "fetch", NAME, "--url", server.base_url, "--no-progress")
    assert code == 0, err
    assert f"resumed at byte {len(served.body) // 3}" in out
    assert server.requests[-1].headers["Range"] == f"bytes={len(served.body) // 3}-"


def test_fetch_of_a_model_libvosk_cannot_load_installs_nothing(env, tmp_path, capsys) -> None:
    model = write_tiny_model(tmp_path / "bad", ["yes"])
    (model / "am/final.mdl").write_text("not a kaldi model")
    with ModelServer() as srv:
        srv.serve(f"/{NAME}.zip", zip_model_dir(model, NAME))
        code, out, err = run(capsys, "models", "fetch", NAME, "--url", srv.base_url, "--no-progress")
    assert code == 2
    assert "does not load, nothing was installed" in err and "libvosk says" in err
    assert not env["models"].exists() or sorted(p.name for p in env["models"].iterdir()) == []


def test_verify_missing_words_is_an_error_listing_them(env, tmp_path, capsys) -> None:
    words = [w for w in dialog_words() if w not in ("goodbye", "pardon")]
    model = write_tiny_model(tmp_path / "partial", words)
    code, out, err = run(capsys, "models", "verify", str(model))
    assert code == 2
    assert "lacks 2 of the" in err and "goodbye, pardon" in err and str(model) in err
    assert "dialog/vocabulary.yaml" in err


def test_use_and_verify_unknown_model_are_clear(env, capsys) -> None:
    code, out, err = run(capsys, "models", "use", "vosk-nothing")
    assert code == 2 and "no speech model named 'vosk-nothing'" in err
    assert not env["config"].exists()
    code, out, err = run(capsys, "models", "verify", "/no/such/dir")
    assert code == 2 and "/no/such/dir" in err


def test_use_a_model_in_another_directory_stores_its_path(env, tmp_path, capsys) -> None:
    other = tmp_path / "usb-stick"
    write_tiny_model(other / "mymodel", ["yes"])
    code, out, err = run(capsys, "models", "use", "mymodel", "--dir", str(other))
    assert code == 0, err
    assert yaml.safe_load(env["config"].read_text())["model"] == str((other / "mymodel").resolve())
    code, out, err = run(capsys, "models", "list", "--dir", str(other))
    assert next(l for l in out.splitlines() if "mymodel" in l).startswith("*")


def test_unknown_model_name_lists_known_ones(env, capsys) -> None:
    code, out, err = run(capsys, "models", "fetch", "vosk-model-klingon")
    assert code == 2
    assert "unknown model 'vosk-model-klingon'" in err and NAME in err and "--url" in err
