"""bench.goals: issue 31's table from the benchmarks' JSON, each figure against its goal."""
from __future__ import annotations

import json
from pathlib import Path

from bench.goals import main
from models.build.__main__ import StageClock


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_goals_table_reads_each_benchmark_and_says_what_is_met(tmp_path, capsys):
    human = write(tmp_path / "h.json", {
        "mode": "product turns", "oov_rejection": {"rejected": 1581, "total": 1613},
        "yes_no": {"right": 96, "total": 107, "per_intent": {"yes": {"right": 77, "total": 77},
                                                           "no": {"right": 19, "total": 30}},
                   "whisper_tiny_en": {"yes": {"right": 76, "total": 77}, "no": {"right": 20, "total": 30}},
                   "untuned_speakers": {"right": 60, "total": 70, "left_out": ["hedgewars-"]}}})
    acc = write(tmp_path / "a.json", {
        "summary": {"accuracy": {"clean": 0.975, "10dB": 0.90, "babble10dB": 0.91}},
        "goals": {"clean": 0.97, "10dB": 0.93, "babble10dB": 0.90},
        "yes_no_as_product_turns": {"swaps_accepted": 0, "answers": 1144}})
    lat = write(tmp_path / "l.json", {"session_peak_rss_mb": {"max": 150.0}, "decode_rtf": 0.02})
    model = tmp_path / "model"
    model.mkdir()
    write(model / "manifest.json", {"build_seconds": 900, "build_seconds_all_stages": 10000.0})
    assert main(["--accuracy", str(acc), "--human", str(human), "--latency", str(lat), "--model", str(model)]) == 0
    rows = {line.split("  ")[0]: line for line in capsys.readouterr().out.splitlines()}
    people = rows["people: yes/no answers understood (as product turns)"]
    assert "96/107 = 89.7%" in people and people.rstrip().endswith("NO")      # "no" under Whisper's 20
    assert rows["people: other speech taken as an answer"].rstrip().endswith("yes")   # 32 of 1613 = 1.98%
    assert rows["held-out voices, phrases clean"].rstrip().endswith("yes")
    assert rows["held-out voices, phrases 10 dB noise"].rstrip().endswith("NO")
    assert rows["held-out voices, phrases 10 dB babble"].rstrip().endswith("yes")
    assert "0 of 1144" in rows["yes<->no swaps accepted as product turns"]
    build = rows["full build from nothing (every stage of this model's build)"]
    assert "2.78 h" in build and build.rstrip().endswith("yes")


def test_goals_table_names_what_was_not_measured(tmp_path, capsys):
    assert main(["--accuracy", str(tmp_path / "none.json"), "--human", str(tmp_path / "none.json"),
                 "--latency", str(tmp_path / "none.json"), "--model", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not measured (python -m bench.accuracy)" in out and "not measured (python -m bench.latency)" in out
    assert "NO" not in out and "yes\n" not in out


def test_stage_clock_adds_the_runs_of_one_build_and_a_new_build_starts_afresh(tmp_path):
    first = StageClock(tmp_path, fresh=True)
    first.add("synthesis", 100.0)
    first.add("training stage 1", 50.0)
    resumed = StageClock(tmp_path, fresh=False)           # the same build, continued after a stop
    resumed.add("synthesis", 20.0)
    resumed.add("training stage 2", 30.0)
    assert resumed.seconds == {"synthesis": 120.0, "training stage 1": 50.0, "training stage 2": 30.0}
    assert resumed.total == 200.0
    assert StageClock(tmp_path, fresh=True).seconds == {}


def test_a_build_killed_while_writing_its_stage_times_still_resumes(tmp_path, capsys):
    """Seen in the suite: the tiny build killed just as a stage ended left stage_seconds.json empty,
    and --resume failed on it. The times are written whole and renamed; an unreadable file costs
    the earlier times (said on stderr), never the resume."""
    clock = StageClock(tmp_path, fresh=True)
    clock.add("synthesis", 10.0)
    assert not list(tmp_path.glob("*.part"))
    (tmp_path / "stage_seconds.json").write_text("")
    resumed = StageClock(tmp_path, fresh=False)
    assert resumed.seconds == {}
    assert "unreadable" in capsys.readouterr().err
    resumed.add("training stage 2", 5.0)
    assert StageClock(tmp_path, fresh=False).seconds == {"training stage 2": 5.0}
