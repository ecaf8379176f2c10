"""`massage-check status [--json]`: is the kiosk healthy? One look for whoever looks after the Pi.

Model (loaded for real by libvosk, and which), microphone and speaker (in PortAudio's list),
the systemd service, the last session and its time, sessions today, free space in the data
dir, and the database's health (SQLite quick_check, opened read-only: status never changes
anything). Exit 0 when all is well, 1 when something needs fixing (each problem says how).
No answers or results are shown: only ids, times and counts.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

SERVICE = "massage-check.service"
SERVICE_USER = "massage-check"
UNIT_PATH = Path("/etc/systemd/system") / SERVICE
LOW_SPACE_BYTES = 200 * 1024 * 1024  # a day of sessions is kilobytes; below this, logs and updates suffer first


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="health: model, microphone, speaker, service, sessions, free space, database")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def gather() -> dict[str, Any]:
    from massage_check import config as config_mod

    out: dict[str, Any] = {"problems": []}
    problems: list[str] = out["problems"]
    try:
        cfg = config_mod.load_config()
        out["config"] = {"path": str(cfg.path), "exists": cfg.path.exists(), "ok": True}
    except config_mod.ConfigError as exc:
        out["config"] = {"path": str(config_mod.config_path()), "exists": True, "ok": False, "error": str(exc)}
        problems.append(f"config: {exc}")
        cfg = config_mod.Config(values=config_mod.load_defaults(), path=config_mod.config_path())
    out["model"] = _model(cfg, config_mod, problems)
    out["microphone"], out["speaker"] = _audio(cfg, problems)
    out["service"] = _service(problems)
    data = config_mod.data_dir(cfg)
    out["data_dir"] = _disk(data, problems)
    out["database"], out["sessions"] = _database(data / "transcripts.db", problems)
    if UNIT_PATH.exists() and getpass.getuser() != SERVICE_USER:
        out["note"] = (f"the kiosk service runs as {SERVICE_USER}, with its own config and data: "
                       f"sudo -u {SERVICE_USER} -H massage-check status")
    return out


def _model(cfg: Any, config_mod: Any, problems: list[str]) -> dict[str, Any]:
    from models.registry import ModelError, resolve_model
    from voice.modelset import open_model

    name = str(cfg.get("model") or "answer-model")
    try:
        info = resolve_model(name, config_mod.models_dir(cfg))
        start = time.perf_counter()
        open_model(name, config_mod.models_dir(cfg))
        return {"name": name, "path": str(info.path), "loaded": True,
                "load_seconds": round(time.perf_counter() - start, 2)}
    except (ModelError, OSError) as exc:  # OSError: libvosk itself cannot load (a missing system library)
        problems.append(f"model {name!r} does not load: {exc}")
        return {"name": name, "loaded": False, "error": str(exc)}


def _audio(cfg: Any, problems: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    from massage_check.config_check import output_device_problem
    from voice.sources import AudioUnavailable, _sounddevice, resolve_input_device

    mic_cfg, spk_cfg = cfg.get("voice_mic_device"), cfg.get("voice_speaker_device")
    mic: dict[str, Any] = {"configured": mic_cfg, "found": False}
    spk: dict[str, Any] = {"configured": spk_cfg, "found": False}
    try:
        sd = _sounddevice()
        devices = list(sd.query_devices())
    except Exception as exc:  # PortAudio missing or broken
        mic["error"] = spk["error"] = str(exc)
        problems.append(f"audio: {exc}")
        return mic, spk
    try:
        index = resolve_input_device(sd, mic_cfg)
        if index is None:
            index = sd.default.device[0]
        mic.update(found=True, name=devices[index]["name"] if 0 <= int(index) < len(devices) else "default")
    except (AudioUnavailable, Exception) as exc:  # noqa: B014 - PortAudio raises its own types too
        mic["error"] = str(exc)
        problems.append(f"microphone: {exc}")
    if spk_cfg is None:
        outputs = [d for d in devices if d.get("max_output_channels", 0) > 0]
        message = None if outputs else "no speaker found: PortAudio lists no output devices (check `aplay -l`)"
    else:
        message = output_device_problem(sd, spk_cfg)
    if message:
        spk["error"] = message
        problems.append(f"speaker: {message}")
    else:
        spk["found"] = True
    return mic, spk


def _service(problems: list[str]) -> dict[str, Any]:
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return {"state": "unknown", "installed": UNIT_PATH.exists(),
                "detail": "systemd is not running on this machine"}
    try:
        r = subprocess.run(["systemctl", "show", SERVICE, "--property=LoadState,ActiveState,SubState,"
                            "NRestarts,ActiveEnterTimestamp,ExecMainStatus"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"state": "unknown", "detail": str(exc)}
    props = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    installed = props.get("LoadState") == "loaded"
    state = props.get("ActiveState", "unknown") if installed else "not installed"
    info = {"state": state, "installed": installed, "sub_state": props.get("SubState"),
            "restarts": int(props.get("NRestarts") or 0), "since": props.get("ActiveEnterTimestamp") or None,
            "last_exit_status": props.get("ExecMainStatus")}
    if installed and state != "active":
        hint = " (exit 78: a config problem; `massage-check config check`)" if props.get("ExecMainStatus") == "78" else ""
        problems.append(f"service {SERVICE} is {state}{hint}: see `journalctl -u massage-check`")
    return info


def _disk(data: Path, problems: list[str]) -> dict[str, Any]:
    probe = data
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    info = {"path": str(data), "exists": data.exists(), "free_bytes": usage.free,
            "free_percent": round(100.0 * usage.free / usage.total, 1) if usage.total else None}
    if usage.free < LOW_SPACE_BYTES:
        problems.append(f"data dir {data}: only {usage.free // (1024 * 1024)} MB free; free some space "
                        f"(transcripts purge, apt-get clean) or move data_dir")
    return info


def _database(path: Path, problems: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    db: dict[str, Any] = {"path": str(path), "exists": path.exists()}
    sessions: dict[str, Any] = {"today": 0, "total": 0, "last": None, "needs_attention": 0}
    if not path.exists():
        db["health"] = "none yet"
        return db, sessions
    db["size_bytes"] = path.stat().st_size
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            db["schema"] = conn.execute("PRAGMA user_version").fetchone()[0]
            midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
            from massage_check.store.db import to_utc_iso

            sessions["total"] = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            sessions["today"] = conn.execute("SELECT COUNT(*) FROM sessions WHERE started_at >= ?",
                                             (to_utc_iso(midnight),)).fetchone()[0]
            sessions["needs_attention"] = conn.execute(
                "SELECT COUNT(*) FROM sessions WHERE attention_at IS NOT NULL AND ack_at IS NULL").fetchone()[0]
            row = conn.execute("SELECT id, started_at, ended_at, status FROM sessions "
                               "ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
            if row:
                sessions["last"] = {"id": row[0][:8], "started_at": _local(row[1]), "ended_at": _local(row[2]),
                                    "status": row[3]}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        hint = ("not readable by this user: run status as the kiosk's user" if not os.access(path, os.R_OK)
                else "damaged: the kiosk moves it aside and starts a fresh one at its next start")
        db.update(health="error", error=f"{exc} ({hint})")
        problems.append(f"database {path}: {exc} ({hint})")
        return db, sessions
    db["health"] = "ok" if check == "ok" else "damaged"
    if check != "ok":
        problems.append(f"database {path}: quick_check says {check!r}: restart the kiosk (it keeps the damaged "
                        f"file aside as transcripts.db.corrupt-<time> and starts a fresh one)")
    return db, sessions


def _local(utc: str | None) -> str | None:
    if not utc:
        return None
    return datetime.fromisoformat(utc).astimezone().isoformat(timespec="seconds")


def _mb(n: int) -> str:
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.1f} GB"
    return f"{n // 1024 ** 2} MB" if n >= 1024 ** 2 else f"{n // 1024} kB"


def run(args: argparse.Namespace) -> int:
    s = gather()
    if args.json:
        print(json.dumps(s, indent=2))
        return 1 if s["problems"] else 0
    m, mic, spk, svc, d, db, ses = (s["model"], s["microphone"], s["speaker"], s["service"], s["data_dir"],
                                    s["database"], s["sessions"])
    yes = {True: "yes", False: "NO"}
    print(f"config:       {s['config']['path']}" + ("" if s["config"]["exists"] else " (none: defaults)")
          + ("" if s["config"]["ok"] else " (ERROR)"))
    print(f"model:        {m['name']}: " + (f"loaded ({m['load_seconds']} s, {m['path']})" if m["loaded"]
                                             else "NOT LOADED"))
    print(f"microphone:   {yes[mic['found']]}" + (f" ({mic.get('name')})" if mic["found"] else ""))
    print(f"speaker:      {yes[spk['found']]}")
    since = f" since {svc['since']}" if svc.get("since") else ""
    restarts = f", {svc['restarts']} restart(s)" if svc.get("restarts") else ""
    print(f"service:      {svc['state']}{since}{restarts}" + (f" ({svc['detail']})" if svc.get("detail") else ""))
    last = ses["last"]
    print("last session: " + (f"{last['id']} at {last['started_at']} ({last['status']})" if last else "none"))
    print(f"today:        {ses['today']} session(s); {ses['needs_attention']} waiting for staff")
    print(f"free space:   {_mb(d['free_bytes'])} ({d['free_percent']}%) in {d['path']}")
    print(f"database:     {db['health']}" + (f", {_mb(db['size_bytes'])}, {ses['total']} session(s)"
                                             if db.get("size_bytes") is not None and db["health"] == "ok" else ""))
    if s.get("note"):
        print(f"note:         {s['note']}")
    for p in s["problems"]:
        print(f"problem: {p}")
    return 1 if s["problems"] else 0
