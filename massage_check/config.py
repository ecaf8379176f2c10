"""User configuration: a small YAML file merged over `default_config.yaml`.

Why a plain dict over a schema file: every part of the product adds its keys to
`default_config.yaml` (with a default that also fixes the key's type), and this
module validates a user's file against that, so a typo or a wrong type is a
clear error naming the file and the key instead of a silently ignored setting.
"""
from __future__ import annotations

import difflib
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
    "confidence_threshold": (0.0, 1.0),
    "voice_read_back_below_db": (0.0, 40.0),   # above 40 dB every answer in any real room is read back
    "voice_tts_volume": (0.0, 1.0),
    "review_port": (1, 65535),
    "retention_days": (0, 36500),
}
# Settings with a fixed set of values.
CHOICES: dict[str, tuple[str, ...]] = {
    "review_scheme": ("auto", "https", "http"),
    "voice_tts_engine": ("espeak-ng", "pyttsx3"),
}
# Exit status of a command stopped by a bad config file (sysexits.h EX_CONFIG). The kiosk's systemd
# unit lists it in RestartPreventExitStatus=: restarting cannot fix a config file.
EXIT_CONFIG = 78


class ConfigError(UserError):
    """The config file is unreadable or holds an unknown key or a wrong type."""

    exit_code = EXIT_CONFIG


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


def problems(values: Mapping[str, Any], defaults: Mapping[str, Any], source: Path | str,
             lines: Mapping[str, int] | None = None) -> list[str]:
    """Every unknown key, wrong type or out-of-range value, each as 'FILE:LINE: what. Fix: how'."""
    return [message for _, message in key_problems(values, defaults, source, lines)]


def key_problems(values: Mapping[str, Any], defaults: Mapping[str, Any], source: Path | str,
                 lines: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
    """(key, message) for every unknown key, wrong type or out-of-range value."""
    out: list[tuple[str, str]] = []
    lines = lines or {}
    for key, value in values.items():
        where = f"{source}:{lines[key]}" if key in lines else f"{source}"
        if key not in defaults:
            close = difflib.get_close_matches(str(key), list(defaults), n=1, cutoff=0.6)
            fix = (f"did you mean '{close[0]}'? " if close else "") + "Correct the name or remove the line"
            out.append((key, f"{where}: unknown setting '{key}'. Known settings: {', '.join(sorted(defaults))}. "
                             f"Fix: {fix}"))
            continue
        if not _type_ok(defaults[key], value):
            out.append((key, f"{where}: setting '{key}' must be {_type_name(defaults[key])}, got {value!r}. "
                             f"Fix: write e.g. '{key}: {_example(defaults[key])}' (the default)"))
            continue
        if key in RANGES and not RANGES[key][0] <= value <= RANGES[key][1]:
            low, high = RANGES[key]
            out.append((key, f"{where}: setting '{key}' must be between {low:g} and {high:g}, got {value!r}. "
                             f"Fix: choose a value in that range (default {_example(defaults[key])})"))
        if key in CHOICES and value not in CHOICES[key]:
            out.append((key, f"{where}: setting '{key}' must be one of {', '.join(CHOICES[key])}, got {value!r}. "
                             f"Fix: write '{key}: {defaults[key]}' (the default) or another of those"))
    return out


def _example(default: Any) -> str:
    return "null" if default is None else yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()


def validate(values: Mapping[str, Any], defaults: Mapping[str, Any], source: Path | str,
             lines: Mapping[str, int] | None = None) -> None:
    """Raise ConfigError for an unknown key, a value of the wrong type or out of range (the first one)."""
    found = problems(values, defaults, source, lines)
    if found:
        raise ConfigError(found[0])


def read_user_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The user's settings and the line of each key. Syntax errors, a file that is not a mapping and
    duplicate keys are ConfigErrors naming the file and line."""
    if not path.exists():
        return {}, {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read config file: {reason}. Fix: make it readable by this user "
                          f"(chmod/chown) or point MASSAGE_CHECK_CONFIG elsewhere") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else f"{path}"
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({what}). Fix: write one 'key: value' per line "
                          f"(see deploy/config.example.yaml), or delete the file to use the defaults") from exc
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path}:1: must be a mapping of 'key: value' lines, got {type(data).__name__}. "
                          f"Fix: write one 'key: value' per line (see deploy/config.example.yaml)")
    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key in lines:
            raise ConfigError(f"{path}:{line}: setting '{key}' is set twice (also on line {lines[key]}). "
                              f"Fix: keep one of the two lines")
        lines[key] = line
    return data, lines


def _read_user_file(path: Path) -> dict[str, Any]:
    return read_user_file(path)[0]


def load_config(path: Path | None = None) -> Config:
    """Defaults merged with the user's file (which need not exist)."""
    path = path or config_path()
    defaults = load_defaults()
    user, lines = read_user_file(path)
    validate(user, defaults, path, lines)
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
