"""bench.build_time: the recipe's stages timed on a real sample of its own speech, projected to the whole plan."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import build_time as B
from models.build.__main__ import FULL, TINY

REPO = Path(__file__).resolve().parents[1]


def test_projection_scales_each_stage_by_the_whole_recipe() -> None:
    synth = {"espeak": {"minutes": 2.0}, "kokoro": {"minutes": 30.5}}
    train = {"batches_per_epoch": 300, "ce_seconds_per_batch": 0.6, "utterances": 56000,
             "realign_seconds_per_utt": 0.001, "mmi_seconds_per_batch": {B.RECIPE_MMI: 1.2}}
    got = B.project(FULL, synth, train)
    assert got["synthesis"] == 32.5
    assert got["cross_entropy"] == pytest.approx(sum(FULL.epochs) * 300 * 0.6 / 60, abs=0.05)   # 10 epochs: 30 min
    assert got["realignment"] == pytest.approx((len(FULL.epochs) - 1) * 56000 * 0.001 / 60, abs=0.05)
    assert got["discriminative"] == pytest.approx(FULL.mmi.epochs * 300 * 1.2 / 60, abs=0.05)   # 6 min
    assert got["total_without_tuning"] == pytest.approx(32.5 + 30.0 + 1.9 + 6.0, abs=0.11)
    assert "discriminative" not in B.project(dataclasses.replace(FULL, mmi=None), synth, train)
    tiny = B.project(TINY, synth, train)
    assert tiny["discriminative"] == pytest.approx(TINY.mmi.epochs * 300 * 1.2 / 60, abs=0.05)


def test_mmi_variants_time_the_recipes_own_stage_and_the_three_scorings() -> None:
    names = [n for n, _ in B.mmi_variants(TINY)]
    assert names == [B.RECIPE_MMI, "forward sums", "best paths", "best paths + separate"]
    cfgs = dict(B.mmi_variants(FULL))
    assert cfgs[B.RECIPE_MMI] == FULL.mmi and cfgs["best paths + separate"].separate and cfgs["best paths"].viterbi


def test_tiny_recipe_is_timed_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "bt.json"
    r = subprocess.run([sys.executable, "-m", "bench.build_time", "--tiny", "--jobs-per-engine", "1", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(out.read_text())
    assert set(got["synthesis"]) == {"espeak"} and got["synthesis"]["espeak"]["texts"] == TINY.plan.utterances
    assert got["synthesis"]["espeak"]["seconds_per_text"] > 0
    t = got["training"]
    assert t["utterances"] == TINY.plan.utterances * TINY.plan.copies and t["ce_seconds_per_batch"] > 0
    assert set(t["mmi_seconds_per_batch"]) == {n for n, _ in B.mmi_variants(TINY)}
    assert all(v > 0 for v in t["mmi_seconds_per_batch"].values())
    p = got["projected_minutes"]
    assert p["total_without_tuning"] == pytest.approx(sum(v for k, v in p.items() if k != "total_without_tuning"),
                                                      abs=0.11)
    assert "projected minutes" in r.stdout and "budget" in r.stdout


def test_bad_sample_size_is_refused() -> None:
    r = subprocess.run([sys.executable, "-m", "bench.build_time", "--jobs-per-engine", "0"], cwd=REPO,
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and "--jobs-per-engine must be at least 1" in r.stderr
