"""The user config file: merged over default_config.yaml, validated, written atomically."""
from __future__ import annotations

from pathlib import Path

import pytest

from massage_check import config


def test_defaults_without_a_user_file(tmp_path) -> None:
    cfg = config.load_config(tmp_path / "none.yaml")
    assert cfg["model"] == "answer-model"
    assert cfg["model_base_url"] == "https://alphacephei.com/vosk/models"
    assert cfg.user_keys == frozenset()


def test_user_file_overrides_and_set_value_keeps_other_keys(tmp_path) -> None:
    path = tmp_path / "c" / "config.yaml"
    path.parent.mkdir()
    path.write_text("model_base_url: http://mirror.clinic.lan/vosk\n")
    config.set_value("model", "vosk-model-small-en-us-0.15", path)
    cfg = config.load_config(path)
    assert cfg["model"] == "vosk-model-small-en-us-0.15"
    assert cfg["model_base_url"] == "http://mirror.clinic.lan/vosk"
    assert cfg.user_keys == {"model", "model_base_url"}
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left


@pytest.mark.parametrize("text, message", [
    ("modle: x\n", r"unknown setting 'modle'. Known settings: .*model"),
    ("model: 3\n", r"setting 'model' must be a string, got 3"),
    ("data_dir: [a]\n", r"setting 'data_dir' must be a string or null"),
    ("- a\n- b\n", r"must be a mapping"),
    ("model: [\n", r"not valid YAML"),
])
def test_bad_user_file_is_a_clear_error_naming_the_file(tmp_path, text, message) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message) as err:
        config.load_config(path)
    assert str(path) in str(err.value)


def test_set_value_refuses_unknown_key_and_leaves_file_alone(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    with pytest.raises(config.ConfigError, match="unknown setting 'colour'"):
        config.set_value("colour", "blue", path)
    assert not path.exists()


def test_data_dir_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MASSAGE_CHECK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    cfg = config.load_config(tmp_path / "none.yaml")
    assert config.models_dir(cfg) == tmp_path / "xdg" / "massage-check" / "models"
    (tmp_path / "c.yaml").write_text(f"data_dir: {tmp_path / 'configured'}\n")
    assert config.data_dir(config.load_config(tmp_path / "c.yaml")) == tmp_path / "configured"
    monkeypatch.setenv("MASSAGE_CHECK_DATA_DIR", str(tmp_path / "env"))
    assert config.models_dir(config.load_config(tmp_path / "c.yaml")) == tmp_path / "env" / "models"


def test_config_path_follows_env_and_xdg(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MASSAGE_CHECK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_path() == tmp_path / "massage-check" / "config.yaml"
    monkeypatch.setenv("MASSAGE_CHECK_CONFIG", str(tmp_path / "x.yaml"))
    assert config.config_path() == Path(tmp_path / "x.yaml")
