"""The built-in answer model committed in models/answer-model/: where it is, whether its files are
intact, and a small helper to recognise a whole utterance with it through libvosk.

The model has one acoustic model (am/, conf/) and one decoding graph per dialog context
(graphs/<context>/); graph/ is the "all" context. `model_dir(context)` returns a directory libvosk
can load for that context (a cached directory of symlinks for contexts other than "all").
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "answer-model"
MANIFEST = "manifest.json"


class ModelError(RuntimeError):
    """The model directory is missing, incomplete or altered."""


@dataclass(frozen=True)
class ManifestCheck:
    ok: bool
    problems: list[str]


def model_path() -> Path:
    """Path of the committed model (the "all" context), ready for `vosk.Model(str(path))`."""
    if not (MODEL_DIR / "am" / "final.mdl").exists():
        raise ModelError(f"{MODEL_DIR}: built-in model missing; rebuild it with `python -m models.build`")
    return MODEL_DIR


def load_manifest(root: Path = MODEL_DIR) -> dict:
    path = root / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ModelError(f"{path}: manifest missing; rebuild with `python -m models.build --out {root}`") from e
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not valid JSON ({e})") from e


def trained_speakers(root: Path) -> list[str]:
    """Real speakers whose recordings a model was trained on (`--human-train`): benchmarks must leave
    them out. Empty for a model without a manifest (an official model) or without recordings."""
    try:
        manifest = load_manifest(root)
    except ModelError:
        return []
    return list((manifest.get("training_data") or {}).get("recorded", {}).get("speakers", []))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_manifest(root: Path = MODEL_DIR) -> ManifestCheck:
    """Check every file listed in the manifest exists with the recorded sha256, and nothing is unlisted."""
    manifest = load_manifest(root)
    files: dict[str, str] = manifest.get("files", {})
    problems = []
    if not files:
        problems.append(f"{root / MANIFEST}: lists no files")
    for rel, digest in sorted(files.items()):
        p = root / rel
        if not p.exists():
            problems.append(f"{p}: listed in the manifest but missing")
        elif sha256_file(p) != digest:
            problems.append(f"{p}: sha256 differs from the manifest (file changed or corrupted)")
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in files:
            problems.append(f"{p}: not listed in the manifest")
    return ManifestCheck(ok=not problems, problems=problems)


def contexts(root: Path = MODEL_DIR) -> list[str]:
    return sorted(["all"] + [p.name for p in (root / "graphs").glob("*") if (p / "HCLG.fst").exists()])


def model_dir(context: str = "all", root: Path | None = None) -> Path:
    """A directory libvosk loads that decodes with the graph of `context` (see contexts())."""
    root = root or model_path()
    if context == "all":
        return root
    graph = root / "graphs" / context
    if not (graph / "HCLG.fst").exists():
        raise ModelError(f"{root}: no graph for context {context!r}; known: {', '.join(contexts(root))}")
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"massage-check-model-{digest}-{context}"
    if not (cache / "graph" / "HCLG.fst").exists():
        tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=cache.parent))
        for name in ("am", "conf"):
            os.symlink((root / name).resolve(), tmp / name)
        os.symlink(graph.resolve(), tmp / "graph")
        try:
            os.rename(tmp, cache)
        except OSError:
            # `cache` exists: another process made it just now, or it is broken (a /tmp cleaner
            # such as systemd-tmpfiles removed its links on a Pi that runs for weeks).
            if not (cache / "graph" / "HCLG.fst").exists():
                shutil.rmtree(cache, ignore_errors=True)
                try:
                    os.rename(tmp, cache)
                    return cache
                except OSError:   # another process replaced it first
                    pass
            shutil.rmtree(tmp, ignore_errors=True)   # never leave our copy behind
    return cache


def recognize(model, samples: np.ndarray, rate: int = 16000, chunk: int = 4000) -> str:
    """Text libvosk hears in a whole utterance (int16-scale samples); segments joined by spaces."""
    import vosk
    rec = vosk.KaldiRecognizer(model, rate)
    pcm = np.clip(np.asarray(samples), -32768, 32767).astype("<i2").tobytes()
    parts = []
    for i in range(0, len(pcm), chunk * 2):
        if rec.AcceptWaveform(pcm[i:i + chunk * 2]):
            parts.append(json.loads(rec.Result()).get("text", ""))
    parts.append(json.loads(rec.FinalResult()).get("text", ""))
    return " ".join(p for p in parts if p).strip()
