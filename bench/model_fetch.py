"""Official-model fetch cost: `python -m bench.model_fetch [--mb 40]`.

Serves a model-shaped archive of about the size of vosk-model-small-en-us-0.15 (random,
incompressible payload, so the zip is as big as the real one) from a local HTTP server on
127.0.0.1 and runs `massage-check models fetch` in a child process. Reports the whole
fetch time, the throughput, and the child's peak RSS (the goal: streaming, so memory does
not grow with the archive; a Pi 4 with 1-2 GB must not swap while fetching). The network is
not measured (localhost): on a Pi the SD card and the real link dominate. The libvosk load
check is off here (the payload is not a real model); the real load is timed by
`massage-check models verify`.
Prints a table and writes JSON to bench/results/model_fetch-<time>.json.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from bench.results_file import write_results

NAME = "vosk-model-small-en-us-0.15"

CHILD = """
import sys, time
from pathlib import Path
from models.official import fetch_model
t = time.perf_counter()
r = fetch_model(sys.argv[1], Path(sys.argv[2]), url=sys.argv[3], progress=False, load_check=False)
installed = (r.path / "am/final.mdl").stat().st_size
print(time.perf_counter() - t, r.size, installed)
"""


def build_archive(path: Path, megabytes: int) -> None:
    """A v2-model-shaped zip whose am/final.mdl is `megabytes` of random bytes (stored)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for rel, text in {"conf/model.conf": "--beam=10\n", "conf/mfcc.conf": "--use-energy=false\n",
                          "graph/HCLr.fst": "x", "graph/Gr.fst": "x", "graph/disambig_tid.int": "1\n",
                          "graph/words.txt": "<eps> 0\nyes 1\n"}.items():
            zf.writestr(f"{NAME}/{rel}", text)
        with zf.open(f"{NAME}/am/final.mdl", "w", force_zip64=True) as out:
            for _ in range(megabytes):
                out.write(os.urandom(1 << 20))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=40, help="archive size in MB (40 = the small model)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        build_archive(root / "www" / f"{NAME}.zip", args.mb)
        handler = functools.partial(_QuietHandler, directory=str(root / "www"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/{NAME}.zip"
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, NAME, str(root / "models"), url],
                             check=True, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent.parent).stdout.split()
        wall = time.perf_counter() - start
        server.shutdown()
        fetch_s, size, installed = float(out[0]), int(out[1]), int(out[2])
        assert installed == args.mb << 20, "the installed model is not the served one"
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    result = {
        "archive_mb": round(size / 1e6, 1),
        "fetch_seconds": round(fetch_s, 2),
        "throughput_mb_s": round(size / 1e6 / fetch_s, 1),
        "child_wall_seconds": round(wall, 2),
        "child_peak_rss_mb": round(peak_mb, 1),
        "machine": platform.machine(), "python": platform.python_version(),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key.ljust(width)}  {value}")
    out_file = write_results("model_fetch", result)
    print(f"written: {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
