"""`massage-check config check`, the example config, config errors at start-up (exit 78), and
`evaluate` / `rules check` following config `rules_file`: real files, the real CLI, real model loads."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from massage_check import config
from rules import DEFAULT_RULES
from tests.tiny_vosk_model import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "config.example.yaml"


def cli(*args: str, cfg: Path, tmp: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "MASSAGE_CHECK_CONFIG": str(cfg), "MASSAGE_CHECK_DATA_DIR": str(tmp / "data"),
           "XDG_DATA_HOME": str(tmp / "xdg")}
    return subprocess.run([sys.executable, "-m", "massage_check.cli", *args], input=stdin, text=True,
                          capture_output=True, timeout=120, env=env, cwd=ROOT)


def broken_rules(tmp: Path) -> Path:
    bad = tmp / "bad-rules.yaml"
    bad.write_text(DEFAULT_RULES.read_text().replace("  - id: blood_clot\n", "  - id: open_wound_burn_fracture\n", 1))
    return bad


def test_example_config_sets_every_setting_to_its_default_and_passes(tmp_path) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example == config.load_defaults()  # complete, and nothing in it differs from the defaults
    assert EXAMPLE.read_text().count("#") > len(example)  # commented
    r = cli("config", "check", str(EXAMPLE), cfg=tmp_path / "none.yaml", tmp=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(f"{EXAMPLE}: OK")
    assert "model answer-model: loaded by libvosk" in r.stdout and "rules " in r.stdout


def test_every_problem_names_file_line_and_fix(tmp_path) -> None:
    bad_model = write_tiny_model(tmp_path / "bad-model", ["yes", "no"])
    (bad_model / "am/final.mdl").write_text("not a kaldi model")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("\n".join([
        "modle: answer-model",                        # 1 unknown key (a typo)
        "voice_tts_wpm: 300",                         # 2 out of range
        "review_scheme: ftp",                         # 3 not a choice
        "keep_audio: sometimes",                      # 4 wrong type
        f"rules_file: {broken_rules(tmp_path)}",      # 5 fails rules check
        f"model: {bad_model}",                        # 6 libvosk cannot load it
        "voice_tts_voice: en-martian",                # 7 no such espeak-ng voice
        "voice_mic_device: no-such-microphone-xyz",   # 8 not in PortAudio's list
        "review_tls_cert: /no/such/cert.pem",         # 9 missing, and no key
        "",
    ]))
    r = cli("config", "check", str(cfg), cfg=tmp_path / "none.yaml", tmp=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    problems = [line for line in r.stdout.splitlines() if line.startswith(f"{cfg}:") and "problem(s)" not in line]
    by_line: dict[int, list[str]] = {}
    for p in problems:
        assert "Fix:" in p or "fix:" in p, p
        by_line.setdefault(int(re.match(rf"{re.escape(str(cfg))}:(\d+):", p).group(1)), []).append(p)
    assert sorted(by_line) == list(range(1, 10)), r.stdout
    assert "did you mean 'model'" in by_line[1][0]
    assert "between 120 and 200, got 300" in by_line[2][0]
    assert "one of auto, https, http" in by_line[3][0]
    assert "must be true or false" in by_line[4][0]
    assert "fails `rules check`" in by_line[5][0] and "duplicate question id" in by_line[5][0]
    assert "does not load" in by_line[6][0] and str(bad_model) in by_line[6][0]
    assert "no voice 'en-martian'" in by_line[7][0] and "en-us" in by_line[7][0]
    assert "voice_mic_device" in by_line[8][0]
    assert any("review_tls_key is not set" in p for p in by_line[9])
    assert any("/no/such/cert.pem does not exist" in p for p in by_line[9])
    assert r.stdout.strip().endswith(f"{cfg}: {len(problems)} problem(s)")


@pytest.mark.parametrize("text, line, message", [
    ("model: answer-model\nvoice_tts_wpm: [\n", 3, "not valid YAML"),
    ("model: answer-model\nmodel: other\n", 2, "set twice (also on line 1)"),
    ("- a\n- b\n", 1, "must be a mapping"),
])
def test_unreadable_file_names_the_line(tmp_path, text, line, message) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    r = cli("config", "check", str(cfg), cfg=tmp_path / "none.yaml", tmp=tmp_path)
    assert r.returncode == 1
    assert f"{cfg}:{line}: " in r.stdout and message in r.stdout and "Fix:" in r.stdout


def test_check_without_a_file_checks_the_active_config(tmp_path) -> None:
    cfg = tmp_path / "config.yaml"
    r = cli("config", "check", cfg=cfg, tmp=tmp_path)
    assert r.returncode == 0 and "no config file: the defaults are used" in r.stdout
    cfg.write_text("voice_tts_volume: 2.0\n")
    r = cli("config", "check", cfg=cfg, tmp=tmp_path)
    assert r.returncode == 1 and f"{cfg}:1: setting 'voice_tts_volume' must be between 0 and 1" in r.stdout
    r = cli("config", "check", str(tmp_path / "missing.yaml"), cfg=cfg, tmp=tmp_path)
    assert r.returncode == 1 and "no such file" in r.stdout


def test_a_corrupt_config_stops_every_command_with_exit_78_naming_the_line(tmp_path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("model: answer-model\nvoice_end_silence: 0.3\nvoice_tts_wpmm: 160\n")
    for args in (("run", "--audio-in", str(tmp_path / "none.wav"), "--no-speak"), ("text", "--no-store"),
                 ("rules", "check"), ("evaluate", str(tmp_path / "a.yaml"))):
        r = cli(*args, cfg=cfg, tmp=tmp_path, stdin="no\n")
        assert r.returncode == config.EXIT_CONFIG == 78, (args, r.stderr)
        assert f"{cfg}:3: unknown setting 'voice_tts_wpmm'" in r.stderr and "did you mean 'voice_tts_wpm'" in r.stderr
        assert "Traceback" not in r.stderr


def test_evaluate_and_rules_check_follow_config_rules_file(tmp_path) -> None:
    custom = tmp_path / "clinic-rules.yaml"
    custom.write_text(DEFAULT_RULES.read_text())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"rules_file: {custom}\n")
    r = cli("rules", "check", cfg=cfg, tmp=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(f"{custom}: OK")
    answers = tmp_path / "a.yaml"
    answers.write_text("has_pain: yes\nsciatica: yes\n")
    r = cli("evaluate", str(answers), "--json", cfg=cfg, tmp=tmp_path)
    assert r.returncode == 0 and '"outcome": "likely_to_help"' in r.stdout
    bad = broken_rules(tmp_path)
    cfg.write_text(f"rules_file: {bad}\n")
    for args in (("rules", "check"), ("evaluate", str(answers))):
        r = cli(*args, cfg=cfg, tmp=tmp_path)
        assert r.returncode == 2 and f"{bad}:" in r.stderr and "duplicate question id" in r.stderr, args
    # an explicit file still wins over the config
    r = cli("rules", "check", str(DEFAULT_RULES), cfg=cfg, tmp=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(f"{DEFAULT_RULES}: OK")
