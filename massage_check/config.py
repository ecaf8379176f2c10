"""User configuration: a small YAML file merged over `default_config.yaml`.

Why a plain dict over a schema file: every part of the product adds its keys to
`default_config.yaml` (with a default that also fixes the key's type), and this
module validates a user's file against that, so a typo or a wrong type is a
clear error naming the file and the key instead of a silently ignored setting.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from massage_check.cli import UserError

DEFAULTS_FILE = Path(__file__).with_name("default_config.yaml")
APP_NAME = "massage-check"
# Settings whose value outside a range is a mistake, not a preference: (lowest, highest).
RANGES: dict[str, tuple[float, float]] = {
    "voice_tts_wpm": (120, 200),  # slower drags for everyone, faster is hard to follow for older patients
}


class ConfigError(UserError):
    """The config file is unreadable or holds an unknown key or a wrong type."""


@dataclass(frozen=True)
class Config:
    """Merged settings (defaults + user file). Read with `cfg["key"]`."""

    values: Mapping[str, Any]
    path: Path  # the user config file (it may not exist yet)
    user_keys: frozenset[str] = field(default_factory=frozenset)  # keys set in that file

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def config_path() -> Path:
    """The user config file: $MASSAGE_CHECK_CONFIG, else the XDG config dir."""
    explicit = os.environ.get("MASSAGE_CHECK_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / APP_NAME / "config.yaml"


def load_defaults() -> dict[str, Any]:
    """The shipped defaults (also the list of valid keys and their types)."""
    data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{DEFAULTS_FILE}: must be a mapping of key: value")
    return data


def _type_ok(default: Any, value: Any) -> bool:
    if default is None:
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _type_name(default: Any) -> str:
    if default is None:
        return "a string or null"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(default), type(default).__name__)


def validate(values: Mapping[str, Any], defaults: Mapping[str, Any], source: Path | str) -> None:
    """Raise ConfigError for an unknown key or a value of the wrong type."""
    for key, value in values.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise ConfigError(f"{source}: unknown setting '{key}'. Known settings: {known}")
        if not _type_ok(defaults[key], value):
            raise ConfigError(
                f"{source}: setting '{key}' must be {_type_name(defaults[key])}, got {value!r}"
            )
        if key in RANGES and not RANGES[key][0] <= value <= RANGES[key][1]:
            low, high = RANGES[key]
            raise ConfigError(f"{source}: setting '{key}' must be between {low:g} and {high:g}, got {value!r}")


def _read_user_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}). Fix or delete the file.") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of 'key: value' lines, got {type(data).__name__}")
    return data


def load_config(path: Path | None = None) -> Config:
    """Defaults merged with the user's file (which need not exist)."""
    path = path or config_path()
    defaults = load_defaults()
    user = _read_user_file(path)
    validate(user, defaults, path)
    return Config(values={**defaults, **user}, path=path, user_keys=frozenset(user))


def set_value(key: str, value: Any, path: Path | None = None) -> Path:
    """Write one key into the user's config file (other keys kept), atomically."""
    path = path or config_path()
    defaults = load_defaults()
    user = _read_user_file(path)
    validate({key: value}, defaults, path)
    user[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.safe_dump(user, fh, sort_keys=True, allow_unicode=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def data_dir(cfg: Config | None = None) -> Path:
    """$MASSAGE_CHECK_DATA_DIR, else config `data_dir`, else the XDG data dir."""
    explicit = os.environ.get("MASSAGE_CHECK_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    configured = cfg.get("data_dir") if cfg is not None else None
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / APP_NAME


def models_dir(cfg: Config | None = None) -> Path:
    """Where downloaded speech models are installed: <data dir>/models."""
    return data_dir(cfg) / "models"
