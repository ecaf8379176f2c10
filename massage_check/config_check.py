"""`massage-check config check [FILE]`: every setting of a config file checked for real.

Start-up already refuses unknown keys, wrong types and out-of-range values
(config.load_config). This goes further, as a clinic would want before a
kiosk restarts unattended: the speech model is loaded with libvosk, the rules
file gets the same checks as `rules check`, the configured microphone and
speaker must exist in PortAudio's list, the espeak-ng voice must exist, the
data directory must be writable, TLS files readable, the PIN hash well formed.

Every problem is one line: 'FILE:LINE: what is wrong. Fix: what to do.' (the
line of the setting; a setting left at its default names the file only).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from massage_check import config as config_mod


@dataclass(frozen=True)
class Report:
    path: Path
    exists: bool
    problems: tuple[str, ...]
    notes: tuple[str, ...]  # what was checked and found fine

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(path: Path, hardware: bool = True) -> Report:
    """Check the config file at `path` (which need not exist: then the defaults are checked).

    `hardware=False` skips the checks that ask PortAudio (tests on machines without sound).
    """
    path = Path(path).expanduser()
    defaults = config_mod.load_defaults()
    try:
        user, lines = config_mod.read_user_file(path)
    except config_mod.ConfigError as exc:
        return Report(path, path.exists(), (str(exc),), ())
    found = config_mod.key_problems(user, defaults, path, lines)
    problems = [message for _, message in found]
    bad_keys = {key for key, _ in found}
    values = {**defaults, **{k: v for k, v in user.items() if k not in bad_keys}}

    def where(key: str) -> str:
        if key in lines:
            return f"{path}:{lines[key]}"
        return f"{path}: '{key}' (not set: default {config_mod._example(defaults.get(key))})"

    cfg = config_mod.Config(values=values, path=path, user_keys=frozenset(user))
    notes: list[str] = []
    checks: list[Callable[[], None]] = [
        lambda: _data_dir(cfg, where, problems, notes),
        lambda: _rules(cfg, where, problems, notes),
        lambda: _model(cfg, where, problems, notes),
        lambda: _voice(cfg, where, problems, notes),
        lambda: _review(cfg, where, problems, notes),
    ]
    if hardware:
        checks.append(lambda: _devices(cfg, where, problems, notes))
    for check in checks:
        check()
    return Report(path, path.exists(), tuple(sorted(problems, key=_line_of)), tuple(notes))


def _line_of(problem: str) -> int:
    """Problems in file order (those about a default, with no line, last)."""
    head = problem.split(": ", 1)[0]
    number = head.rsplit(":", 1)[-1]
    return int(number) if number.isdigit() else 1 << 30


def _said(exc: BaseException) -> str:
    return str(exc).rstrip(". ")


def _data_dir(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    directory = config_mod.data_dir(cfg)
    origin = "MASSAGE_CHECK_DATA_DIR" if os.environ.get("MASSAGE_CHECK_DATA_DIR") else where("data_dir")
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        problems.append(f"{origin}: data directory {directory}: {probe} is a file, not a directory. "
                        f"Fix: set data_dir to a directory this user can write")
    elif not os.access(probe, os.W_OK | os.X_OK):
        problems.append(f"{origin}: data directory {directory} is not writable by this user "
                        f"({'exists' if probe == directory else f'{probe} is not writable'}). Fix: "
                        f"chown it to the user the kiosk runs as, or set data_dir to a writable directory")
    else:
        notes.append(f"data directory {directory}: writable")


def _rules(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    from rules import RulesError, load_questionnaire

    configured = cfg.get("rules_file")
    path = Path(configured).expanduser() if configured else None
    try:
        q = load_questionnaire(path)
    except RulesError as exc:
        problems.append(f"{where('rules_file')}: rules_file {path} fails `rules check`: {exc}")
        return
    notes.append(f"rules {q.path}: OK ({len(q.questions)} questions, {len(q.rules)} rules)")


def _model(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    from models.registry import ModelError, resolve_model
    from voice.modelset import open_model

    name = str(cfg.get("model") or "answer-model")
    models_dir = config_mod.models_dir(cfg)
    try:
        info = resolve_model(name, models_dir)
        model = open_model(name, models_dir)
    except (ModelError, OSError) as exc:  # OSError: libvosk itself cannot load (a missing system library)
        problems.append(f"{where('model')}: model {name!r} does not load: {_said(exc)}. Fix: `massage-check models "
                        f"list` shows the installed ones; `massage-check models use answer-model` for the built-in")
        return
    lacking = sorted(getattr(model, "lacking", ()) or ())
    if lacking:
        problems.append(f"{where('model')}: model {name!r} lacks {len(lacking)} word(s) the dialog listens for "
                        f"({', '.join(lacking[:10])}): answers with them are never heard. Fix: use another "
                        f"model (`massage-check models verify NAME` checks one) or answer-model")
        return
    notes.append(f"model {name}: loaded by libvosk from {info.path}")


def _voice(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    from voice.speaker import SpeechConfigError, SpeechUnavailable, make_synth

    engine, voice = cfg.get("voice_tts_engine"), cfg.get("voice_tts_voice")
    try:
        make_synth(engine, voice, int(cfg.get("voice_tts_wpm") or 160))
    except SpeechConfigError as exc:
        key = "voice_tts_engine" if "engine" in str(exc) else "voice_tts_voice"
        problems.append(f"{where(key)}: {_said(exc)}. Fix: set {key} to one of those")
        return
    except (SpeechUnavailable, ImportError, OSError, RuntimeError) as exc:
        problems.append(f"{where('voice_tts_engine')}: no speech synthesiser works ({exc}). "
                        f"Fix: `sudo apt-get install espeak-ng libespeak-ng1`")
        return
    notes.append(f"speech: {engine}, voice {voice}")


def _review(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    url = str(cfg.get("model_base_url") or "")
    if not url.startswith(("http://", "https://")):
        problems.append(f"{where('model_base_url')}: model_base_url {url!r} is not an http:// or https:// URL. "
                        f"Fix: e.g. https://alphacephei.com/vosk/models (the default) or a clinic mirror")
    pin_hash = cfg.get("review_pin_hash")
    if pin_hash:
        from massage_check.review.auth import PinError, check_hash_format

        try:
            check_hash_format(pin_hash)
        except PinError as exc:
            problems.append(f"{where('review_pin_hash')}: {_said(exc)}. Fix: remove the line and run "
                            f"`massage-check review set-pin`")
    cert, key = cfg.get("review_tls_cert"), cfg.get("review_tls_key")
    if bool(cert) != bool(key):
        missing = "review_tls_key" if cert else "review_tls_cert"
        problems.append(f"{where('review_tls_cert' if cert else 'review_tls_key')}: {missing} is not set. "
                        f"Fix: set both review_tls_cert and review_tls_key, or neither (a self-signed pair)")
    for name in ("review_tls_cert", "review_tls_key"):
        value = cfg.get(name)
        if value and not os.access(Path(value).expanduser(), os.R_OK):
            problems.append(f"{where(name)}: {name} {value} does not exist or is not readable by this user. "
                            f"Fix: give the path of a PEM file this user can read")


def _devices(cfg: Any, where: Callable[[str], str], problems: list[str], notes: list[str]) -> None:
    from voice.sources import AudioUnavailable, _sounddevice, resolve_input_device

    mic, speaker = cfg.get("voice_mic_device"), cfg.get("voice_speaker_device")
    if mic is None and speaker is None:
        return  # the system defaults: `massage-check status` says whether they are there
    try:
        sd = _sounddevice()
    except AudioUnavailable as exc:
        problems.append(f"{where('voice_mic_device' if mic is not None else 'voice_speaker_device')}: "
                        f"cannot check the audio devices: {exc}")
        return
    if mic is not None:
        try:
            resolve_input_device(sd, mic)
            notes.append(f"microphone {mic!r}: found")
        except AudioUnavailable as exc:
            problems.append(f"{where('voice_mic_device')}: {_said(exc)}. Fix: set voice_mic_device to an index or "
                            f"name from `massage-check devices`, or null for the default")
    if speaker is not None:
        message = output_device_problem(sd, speaker)
        if message:
            problems.append(f"{where('voice_speaker_device')}: {message}. Fix: set voice_speaker_device to an "
                            f"index or name from `massage-check devices`, or null for the default")
        else:
            notes.append(f"speaker {speaker!r}: found")


def output_device_problem(sd: Any, device: Any) -> str | None:
    """None if PortAudio has this output device (index, exact or unique partial name), else why not."""
    try:
        devices = list(sd.query_devices())
    except Exception as exc:
        return f"cannot list audio devices: {exc}"
    outputs = [(i, d) for i, d in enumerate(devices) if d.get("max_output_channels", 0) > 0]
    if not outputs:
        return "no speaker found: PortAudio lists no output devices (check `aplay -l`)"
    names = ", ".join(f"{i}: {d['name']}" for i, d in outputs)
    if isinstance(device, int) or str(device).isdigit():
        return None if any(i == int(device) for i, _ in outputs) else \
            f"output device {device} does not exist or has no output channels; available: {names}"
    exact = [i for i, d in outputs if d["name"] == device]
    partial = [i for i, d in outputs if str(device).lower() in d["name"].lower()]
    if exact or len(partial) == 1:
        return None
    if not partial:
        return f"no output device named {device!r}; available: {names}"
    return f"output device name {device!r} is ambiguous; use an index. Available: {names}"
