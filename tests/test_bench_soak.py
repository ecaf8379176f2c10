"""bench.soak runs the real kiosk loop for a few sessions and reports what the issue asks for."""
from __future__ import annotations

import json

from bench import soak


def test_soak_runs_three_sessions_and_reports_its_figures(tmp_path, capsys):
    out = tmp_path / "soak.json"
    code = soak.main(["--sessions", "3", "--seed", "7", "--json", str(out), "--cache", str(tmp_path / "clips")])
    r = json.loads(out.read_text())
    assert code == 0 and r["sessions_completed"] == 3 and r["sessions_asked"] == 3
    assert sum(r["outcomes"].values()) == 3 and sum(r["ended"].values()) == 3
    assert r["errors"]["sessions_cut_off_by_an_error"] == 0 and r["errors"]["storage"] == 0
    assert r["kiosk_restarts"]["count"] == 0 and r["faults_injected"] == {"p": 0.0, "recogniser": 0, "synthesiser": 0}
    assert r["store"]["sessions"] == 3 and r["store"]["integrity_ok"] and r["store"]["turns"] == r["turns"] > 0
    assert [s["at"] for s in r["snapshots"]] == ["start", "end"]
    for s in r["snapshots"]:
        assert s["rss_mb"] > 10 and s["open_fds"] > 2 and s["threads"] >= 1
    assert set(r["growth_after_10_to_end"]) == {"rss_mb", "rss_pct", "open_fds", "threads"}
    assert r["patient_lines"]["start"] >= 3 and r["patient_lines"]["answer"] > 3
    assert any(p.suffix == ".wav" for p in (tmp_path / "clips").iterdir())   # the recordings are WAV files
    table = capsys.readouterr().out
    for row in ("sessions completed", "outcomes", "errors", "at start", "at end", "growth"):
        assert row in table


def test_soak_with_injected_faults_completes_and_stores_cut_off_sessions_as_interrupted(tmp_path):
    out = tmp_path / "soak.json"
    soak.main(["--sessions", "4", "--seed", "3", "--faults", "0.2", "--json", str(out),
               "--cache", str(tmp_path / "clips")])
    r = json.loads(out.read_text())
    assert r["sessions_completed"] == 4 and r["faults_injected"]["recogniser"] > 0
    cut = r["errors"]["sessions_cut_off_by_an_error"]
    assert cut > 0 and r["store"]["statuses"].get("interrupted", 0) == cut == r["ended"]["interrupted"]
    assert r["store"]["sessions"] == 4 and r["store"]["integrity_ok"]
