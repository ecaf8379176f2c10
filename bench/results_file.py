"""Where benchmarks write their JSON: bench/results/<name>-<UTC time>.json (git-ignored)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, data: Any) -> Path:
    """Write one run's results with a timestamped name, so runs can be compared later."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out
