"""Transcript store and review page speed: `python -m bench.store [--sessions N]`.

Measures, on a real SQLite file in a temporary directory (put it on the Pi's SD
card with --dir to measure what matters there):

- per-turn commit time (one fsync'd transaction; median and p95; goal p95 < 50 ms,
  well inside the pause before the next question is spoken)
- open time with N stored sessions (recovery check, quick_check, purge; goal < 1 s)
- review list page and one session page (Flask app, full render; goal < 300 ms)
- CSV export of all sessions (goal < 2 s for N = 1000)
- PIN check (scrypt; goal 20-500 ms: slow to guess, quick to log in)
- database size per session

Prints a table and writes JSON to bench/results/store-<time>.json.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.results_file import write_results

TURNS = 14


def _turn(i: int, t: datetime) -> dict:
    return {"index": i, "time": t.isoformat(), "question_id": f"q{i}",
            "prompt": "Do you have pain, stiffness or an injury that bothers you on most days? " * 2,
            "heard": "no not really", "confidence": 0.87, "interpretation": "no", "answer": "no"}


def main(argv: list[str] | None = None) -> int:
    from massage_check.review.app import ReviewSettings, create_app
    from massage_check.review.auth import hash_pin, verify_pin
    from massage_check.store import TranscriptStore
    from massage_check.store.export import csv_bytes

    ap = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=1000, help="sessions to store (default 1000)")
    ap.add_argument("--dir", type=Path, help="directory to put the test database in (default: a temp dir)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data = Path(tmp) / "data"
        store = TranscriptStore.open(data)
        now = datetime.now(timezone.utc)
        commit_ms: list[float] = []
        fill_start = time.perf_counter()
        for n in range(args.sessions):
            started = now - timedelta(minutes=n * 20)
            sid = store.begin_session({"mode": "voice", "started_at": started.isoformat()})
            for i in range(TURNS):
                t0 = time.perf_counter()
                store.add_turn(sid, _turn(i, started + timedelta(seconds=i * 8)))
                commit_ms.append((time.perf_counter() - t0) * 1000)
            store.finish_session(sid, "no_clear_need", ["r1"], "explained " * 20, {"q0": "no"}, "result")
        fill_s = time.perf_counter() - fill_start
        store.close()

        t0 = time.perf_counter()
        store = TranscriptStore.open(data, retention_days=3650)
        open_ms = (time.perf_counter() - t0) * 1000

        pin = "748213"
        t0 = time.perf_counter()
        pin_hash = hash_pin(pin)
        verify_pin(pin, pin_hash)
        pin_ms = (time.perf_counter() - t0) * 1000 / 2

        app = create_app(store, ReviewSettings(pin_hash=pin_hash))
        client = app.test_client()
        token = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"csrf": token, "name": "bench", "pin": pin})
        list_ms, page_ms = [], []
        sid = store.list_sessions(limit=1)[0].id
        for _ in range(10):
            t0 = time.perf_counter()
            assert client.get("/").status_code == 200
            list_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            assert client.get(f"/session/{sid}").status_code == 200
            page_ms.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        size_csv = len(csv_bytes(store.iter_sessions()))
        export_s = time.perf_counter() - t0
        db_bytes = sum(f.stat().st_size for f in data.iterdir() if f.name.startswith("transcripts.db"))

    p95 = statistics.quantiles(commit_ms, n=20)[18]
    results = {
        "sessions": args.sessions, "turns_per_session": TURNS, "fill_seconds": round(fill_s, 2),
        "turn_commit_ms_median": round(statistics.median(commit_ms), 2), "turn_commit_ms_p95": round(p95, 2),
        "open_ms": round(open_ms, 1), "list_page_ms_median": round(statistics.median(list_ms), 1),
        "session_page_ms_median": round(statistics.median(page_ms), 1), "csv_export_s": round(export_s, 2),
        "csv_bytes": size_csv, "db_bytes_per_session": round(db_bytes / max(1, args.sessions)),
        "pin_check_ms": round(pin_ms, 1),
    }
    rows = [
        ("turn commit, median / p95", f"{results['turn_commit_ms_median']} / {p95:.2f} ms", "p95 < 50 ms", p95 < 50),
        (f"open with {args.sessions} sessions", f"{open_ms:.1f} ms", "< 1000 ms", open_ms < 1000),
        ("review list page (median)", f"{results['list_page_ms_median']} ms", "< 300 ms",
         results["list_page_ms_median"] < 300),
        ("review session page (median)", f"{results['session_page_ms_median']} ms", "< 300 ms",
         results["session_page_ms_median"] < 300),
        ("CSV export, all sessions", f"{export_s:.2f} s ({size_csv // 1024} KiB)", "< 2 s", export_s < 2),
        ("PIN check (scrypt)", f"{pin_ms:.1f} ms", "20-500 ms", 20 <= pin_ms <= 500),
        ("database size per session", f"{results['db_bytes_per_session']} bytes", "", True),
    ]
    print(f"{'measure':32} {'value':28} {'goal':12} ok")
    for name, value, goal, ok in rows:
        print(f"{name:32} {value:28} {goal:12} {'yes' if ok else 'NO'}")
    out = write_results("store", results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
