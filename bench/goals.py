"""The speech model's goals (issue 31) in one table, from the results the benchmarks wrote.

    python -m bench.goals [--accuracy FILE] [--human FILE] [--latency FILE] [--model DIR]

Reads `bench.accuracy`'s JSON (held-out voices: clean, 10 dB noise, 10 dB babble; swaps accepted
as product turns), `bench.human_accuracy --as-product`'s JSON (people's yes/no answers, the
speakers no build tuned on, other speech taken), the newest `bench.latency` JSON (session RSS,
decoder real-time factor) and the model's manifest (every stage's time, across resumed runs). Runs nothing itself: each figure
says which file it came from, and a missing file is a row that says which command makes it.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.results_file import RESULTS
from models.answer_model import MODEL_DIR

BUILD_HOURS_GOAL = 3.0


@dataclass
class Row:
    measure: str
    value: str
    goal: str
    met: bool | None        # None: not measured


def load(path: Path | None) -> dict | None:
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def newest(prefix: str) -> Path | None:
    runs = sorted(RESULTS.glob(f"{prefix}-*.json"))
    return runs[-1] if runs else None


def pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.1f}%" if b else "-"


def people_rows(h: dict | None) -> list[Row]:
    if h is None or "yes_no" not in h:
        return [Row("people: yes/no answers understood", "not measured", ">= 95%", None),
                Row("people: other speech taken as an answer", "not measured", "<= 2%", None)]
    yn, w = h["yes_no"], h["yes_no"]["whisper_tiny_en"]
    per = yn["per_intent"]
    floor_met = all(per[i]["right"] >= w[i]["right"] for i in ("yes", "no") if i in per)
    fair = yn["untuned_speakers"]
    ok = yn["right"] / max(1, yn["total"]) >= 0.95 and floor_met
    rows = [Row("people: yes/no answers understood" + (" (as product turns)" if h.get("mode") == "product turns" else
                                                        " (full graph: rerun with --as-product)"),
                f"{pct(yn['right'], yn['total'])} (yes {per['yes']['right']}/{per['yes']['total']}, "
                f"no {per['no']['right']}/{per['no']['total']}); untuned speakers {pct(fair['right'], fair['total'])}",
                f">= 95%, each intent >= Whisper tiny.en (yes {w['yes']['right']}, no {w['no']['right']})", ok)]
    o = h["oov_rejection"]
    taken = o["total"] - o["rejected"]
    rows.append(Row("people: other speech taken as an answer", pct(taken, o["total"]), "<= 2%",
                    taken / max(1, o["total"]) <= 0.02))
    return rows


def heldout_rows(a: dict | None) -> list[Row]:
    if a is None:
        return [Row("held-out voices", "not measured (python -m bench.accuracy)", "", None)]
    acc, goals = a["summary"]["accuracy"], a["goals"]
    rows = []
    for cond, label in (("clean", "clean"), ("10dB", "10 dB noise"), ("babble10dB", "10 dB babble")):
        if cond in acc:
            goal = goals.get(cond)
            rows.append(Row(f"held-out voices, phrases {label}", f"{100 * acc[cond]:.1f}%",
                            f">= {100 * goal:g}%" if goal else "", acc[cond] >= goal if goal else None))
        else:
            rows.append(Row(f"held-out voices, phrases {label}", "not measured", "", None))
    p = a["yes_no_as_product_turns"]
    o = (a.get("outside_answers") or {}).get("as_product_turns") or {"swaps_accepted": 0, "answers": 0}
    swaps, answers = p["swaps_accepted"] + o["swaps_accepted"], p["answers"] + o["answers"]
    rows.append(Row("yes<->no swaps accepted as product turns" + (" (with answers the vocabulary leaves out)"
                                                                  if o["answers"] else ""),
                    f"{swaps} of {answers}", "0", swaps == 0))
    return rows


def machine_rows(lat: dict | None, manifest: dict | None) -> list[Row]:
    rows = []
    if lat is None:
        rows.append(Row("peak RSS of a session / decoder real-time factor", "not measured (python -m bench.latency)",
                        "<= 200 MB / <= 0.1", None))
    else:
        rss, rtf = lat["session_peak_rss_mb"]["max"], lat["decode_rtf"]
        rows.append(Row("peak RSS of a session / decoder real-time factor", f"{rss:.0f} MB / {rtf:.3f}",
                        "<= 200 MB / <= 0.1", rss <= 200 and rtf <= 0.1))
    m = manifest or {}
    secs = m.get("build_seconds_all_stages")
    if secs:
        h = secs / 3600
        rows.append(Row("full build from nothing (every stage of this model's build)", f"{h:.2f} h",
                        f"<= {BUILD_HOURS_GOAL:g} h, resumable by stage", h <= BUILD_HOURS_GOAL))
    else:
        rows.append(Row("full build from nothing", "not in the manifest (built before the stage clock)"
                        if m else "no manifest", f"<= {BUILD_HOURS_GOAL:g} h, resumable by stage", None))
    return rows


def table(rows: list[Row]) -> str:
    w = max(len(r.measure) for r in rows)
    v = max(len(r.value) for r in rows)
    lines = [f"{'measure':{w}}  {'measured':{v}}  {'goal':60} met"]
    for r in rows:
        mark = "-" if r.met is None else ("yes" if r.met else "NO")
        lines.append(f"{r.measure:{w}}  {r.value:{v}}  {r.goal:60} {mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.goals", description=__doc__.splitlines()[0])
    ap.add_argument("--accuracy", type=Path, default=RESULTS / "accuracy.json")
    ap.add_argument("--human", type=Path, default=RESULTS / "human_accuracy.json")
    ap.add_argument("--latency", type=Path, default=None, help="default: the newest bench/results/latency-*.json")
    ap.add_argument("--model", type=Path, default=MODEL_DIR)
    args = ap.parse_args(argv)
    manifest = load(args.model / "manifest.json")
    rows = (people_rows(load(args.human)) + heldout_rows(load(args.accuracy))
            + machine_rows(load(args.latency or newest("latency")), manifest))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
