"""The kiosk's systemd unit (deploy/massage-check.service) and install.sh --kiosk: the unit passes
`systemd-analyze verify` with no warning at all, says what the product relies on (restart on failure
within a start limit, no restart on a config error, the audio group, the data dir), and agrees with
what install.sh creates."""
from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from massage_check.config import EXIT_CONFIG

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "massage-check.service"
INSTALL = ROOT / "install.sh"
INSTALLED_EXE = "/opt/massage-check/venv/bin/massage-check"

analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze missing: apt-get install systemd "
                                   "(in install.sh --dev)")


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def verify(text: str, tmp: Path) -> subprocess.CompletedProcess:
    """systemd-analyze verify on a copy whose ExecStart is this checkout's real executable
    (verify checks that the program exists; /opt is not installed on a test machine)."""
    exe = Path(sys.executable).with_name("massage-check")
    assert exe.is_file(), exe
    copy = tmp / "massage-check.service"
    copy.write_text(text.replace(INSTALLED_EXE, str(exe)))
    return subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_passes_systemd_analyze_verify_without_a_single_warning(tmp_path) -> None:
    r = verify(UNIT.read_text(), tmp_path)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@needs_analyze
@pytest.mark.parametrize("old, new, complaint", [
    ("Restart=on-failure", "Restart=on-failur", "restart specifier"),
    ("ProtectSystem=strict", "ProtectSytem=strict", "Unknown key"),
    (INSTALLED_EXE, "/no/such/massage-check", "not executable"),
])
def test_verify_would_catch_a_broken_unit(tmp_path, old, new, complaint) -> None:
    text = UNIT.read_text()
    assert old in text
    r = verify(text.replace(old, new), tmp_path)
    assert complaint in r.stdout + r.stderr


@needs_analyze
def test_hardening_keeps_exposure_low(tmp_path) -> None:
    exe = Path(sys.executable).with_name("massage-check")
    copy = tmp_path / "massage-check.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED_EXE, str(exe)))
    r = subprocess.run([analyze, "security", "--offline=true", "--threshold=20", "--no-pager", str(copy)],
                       capture_output=True, text=True, timeout=60)
    score = float(r.stdout.rsplit("exposure level for massage-check.service:", 1)[1].split()[0])
    assert r.returncode == 0 and score <= 2.0, r.stdout[-400:]


def test_unit_restarts_on_failure_but_not_on_a_config_error_and_not_hot() -> None:
    u = unit()
    s = u["Service"]
    assert s["Restart"] == "on-failure" and float(s["RestartSec"]) >= 1
    assert str(EXIT_CONFIG) in s["RestartPreventExitStatus"].split()
    assert int(u["Unit"]["StartLimitBurst"]) <= 10 and int(u["Unit"]["StartLimitIntervalSec"]) >= 60
    assert s["ExecStart"].split() == [INSTALLED_EXE, "run", "--service"]


def test_unit_runs_unprivileged_in_group_audio_and_writes_only_its_data_dir() -> None:
    u = unit()
    s = u["Service"]
    assert s["User"] == "massage-check" and "audio" in s["SupplementaryGroups"].split()
    assert "sound.target" in u["Unit"]["After"].split()
    assert u["Install"]["WantedBy"] == "multi-user.target"
    home = "/var/lib/" + s["StateDirectory"]
    assert s["ReadWritePaths"] == home == s["WorkingDirectory"] and s["Environment"]  # HOME=...
    assert f"HOME={home}" in UNIT.read_text()
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes" and s["PrivateTmp"] == "yes"
    assert s["DevicePolicy"] == "closed" and "char-alsa" in s["DeviceAllow"]  # the sound card stays reachable
    assert "PrivateDevices" not in s and "PrivateUsers" not in s  # either would hide /dev/snd or group audio


def test_install_kiosk_creates_what_the_unit_names() -> None:
    script = INSTALL.read_text()
    s = unit()["Service"]
    assert subprocess.run(["sh", "-n", str(INSTALL)]).returncode == 0
    assert "--kiosk) KIOSK=1" in script
    assert f"USER_NAME={s['User']}" in script and f"HOME_DIR=/var/lib/{s['StateDirectory']}" in script
    assert "PREFIX=/opt/massage-check" in script and INSTALLED_EXE == "/opt/massage-check/venv/bin/massage-check"
    assert "deploy/massage-check.service" in script and "deploy/config.example.yaml" in script
    assert 'usermod -a -G audio' in script and "config check" in script
    assert "systemctl enable" in script and "/run/systemd/system" in script  # starts it, or says what to run
    assert " systemd" in script.split('DEV_APT="', 1)[1].split('"', 1)[0] + " "  # CI gets systemd-analyze
