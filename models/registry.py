"""Which speech models exist on this machine, which one is active, and loading one.

A model is a Vosk "v2" directory (what libvosk 0.3.45 reads, see src/model.cc):
`am/final.mdl`, `conf/model.conf`, `conf/mfcc.conf` (or `conf/fbank.conf`) and a
graph, either static (`graph/HCLG.fst`: its words are fixed when it is built) or
lookahead (`graph/HCLr.fst` + `graph/Gr.fst` + `graph/disambig_tid.int`: a
`KaldiRecognizer` can be given a phrase list at run time). libvosk reports any
problem as a bare "Failed to create a model", so the structure is checked here
first and a failure names the directory and the missing parts.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from massage_check.cli import UserError

BUILTIN_NAME = "answer-model"
BUILTIN_DIR = Path(__file__).resolve().with_name(BUILTIN_NAME)
SOURCE_FILE = "massage-check-source.json"  # written into a model dir by `models fetch`
UNKNOWN_WORD = "[unk]"

_FST_MAGIC = 2125659606  # OpenFst binary header magic number
_FST_HAS_OSYMBOLS = 0x2


class ModelError(UserError):
    """A model directory is missing, incomplete, unloadable or lacks needed words."""


@dataclass(frozen=True)
class ModelLayout:
    """What a valid model directory holds (the parts the product cares about)."""

    path: Path
    grammar: Literal["runtime", "static"]  # runtime = lookahead graph, takes a phrase list
    graph_files: tuple[str, ...]
    words_file: Path | None  # graph/words.txt, or None when the graph FST carries its words
    has_ivector: bool


@dataclass(frozen=True)
class InstalledModel:
    """A model directory found on this machine."""

    name: str
    path: Path
    kind: Literal["built-in", "downloaded", "path"]
    language: str
    size_bytes: int
    grammar: Literal["runtime", "static"] | None  # None when the directory is not a valid model
    problem: str | None = None  # why it is not usable, if it is not


def _fst_has_output_symbols(path: Path) -> bool:
    """True when an OpenFst binary file embeds its output symbol table (its words).

    Reads only the header: magic, fst type, arc type, version, flags.
    """
    try:
        with path.open("rb") as fh:
            magic, = struct.unpack("<i", fh.read(4))
            if magic != _FST_MAGIC:
                return False
            for _ in range(2):  # fst type, arc type: int32 length + bytes
                n, = struct.unpack("<i", fh.read(4))
                if not 0 <= n < 256:
                    return False
                fh.read(n)
            _version, flags = struct.unpack("<ii", fh.read(8))
            return bool(flags & _FST_HAS_OSYMBOLS)
    except (OSError, struct.error):
        return False


def check_model_dir(path: Path | str) -> ModelLayout:
    """Check that `path` is a complete Vosk v2 model directory; raise ModelError naming what is missing."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"speech model not found: {path} does not exist")
    if not path.is_dir():
        raise ModelError(f"speech model {path} is not a directory (unpack the model archive first)")
    missing: list[str] = []
    for rel in ("am/final.mdl", "conf/model.conf"):
        if not (path / rel).is_file():
            missing.append(rel)
    if not ((path / "conf/mfcc.conf").is_file() or (path / "conf/fbank.conf").is_file()):
        missing.append("conf/mfcc.conf (or conf/fbank.conf)")
    graph_files: tuple[str, ...]
    if (path / "graph/HCLG.fst").is_file():
        grammar: Literal["runtime", "static"] = "static"
        graph_files = ("graph/HCLG.fst",)
    else:
        grammar = "runtime"
        graph_files = ("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int")
        absent = [rel for rel in graph_files if not (path / rel).is_file()]
        if len(absent) == len(graph_files):
            missing.append("a decoding graph: graph/HCLG.fst, or graph/HCLr.fst + graph/Gr.fst "
                           "+ graph/disambig_tid.int")
        else:
            missing.extend(absent)
    words_file: Path | None = path / "graph/words.txt"
    if not words_file.is_file():
        words_file = None
        main_fst = path / graph_files[0 if grammar == "static" else 1]
        if main_fst.is_file() and not _fst_has_output_symbols(main_fst):
            missing.append(f"graph/words.txt (and {graph_files[0 if grammar == 'static' else 1]} "
                           "carries no word list)")
    if missing:
        if (path / "final.mdl").is_file() and (path / "mfcc.conf").is_file():
            hint = " It looks like an old (v1) Vosk layout, which this product does not support."
        else:
            hint = " Fetch the model again (massage-check models fetch NAME --force) or point to the complete directory."
        raise ModelError(f"speech model {path} is incomplete: missing " + "; ".join(missing) + "." + hint)
    return ModelLayout(path=path, grammar=grammar, graph_files=graph_files,
                       words_file=words_file, has_ivector=(path / "ivector/final.ie").is_file())


def supports_runtime_grammar(path: Path | str) -> bool:
    """True for a lookahead model (graph/HCLr.fst + graph/Gr.fst, no HCLG.fst).

    Only such a model honours the grammar argument of `KaldiRecognizer(model, rate, grammar)`;
    a static HCLG graph already is the grammar.
    """
    return check_model_dir(path).grammar == "runtime"


def _vosk_model_capturing_stderr(path: Path) -> tuple[Any, str]:
    """vosk.Model(path) with libvosk's stderr captured: (model or None, what it printed).

    libvosk prints its reason for a failure (a Kaldi ERROR line) to file descriptor 2 and
    returns only NULL to Python; capturing it lets the error message say what was wrong.
    """
    import vosk

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            try:
                model = vosk.Model(str(path))
            except Exception:
                model = None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    return model, text


def load_model(path: Path | str) -> Any:
    """Load a model with libvosk (log level -1: warnings and errors only).

    libvosk turns every failure into a bare "Failed to create a model"; this checks the
    directory's structure first and otherwise quotes libvosk's own error line.
    """
    path = Path(path)
    layout = check_model_dir(path)
    if "kaldifst" in sys.modules and "vosk" not in sys.modules:
        # Seen with kaldifst 1.8.3 + vosk 0.3.45: `import vosk` after `import kaldifst` never
        # returns (both bundle OpenFst/Kaldi). Fail clearly instead of hanging.
        raise ModelError("cannot load a speech model in a process that imported kaldifst before "
                         "vosk: libvosk would hang. Import vosk first, or load the model in a "
                         "separate process")
    import vosk

    vosk.SetLogLevel(-1)
    model, printed = _vosk_model_capturing_stderr(layout.path)
    if model is not None:
        if printed.strip():
            sys.stderr.write(printed)  # warnings stay visible
        # Decoding warns on every utterance of a static graph ("Lattice has alignments on
        # final-weight"): ~3.5 lines a session in a service's journal, which gets one line a
        # session. Loading warnings were shown above; decoding's are dropped.
        vosk.SetLogLevel(-2)
        return model
    errors = [line.split(") ", 1)[-1].strip() for line in printed.splitlines() if "ERROR" in line]
    reason = f"libvosk says: {errors[-1]}" if errors else "libvosk gave no reason"
    raise ModelError(
        f"libvosk could not load the speech model at {path} ({reason}). The required files are "
        f"present ({', '.join(('am/final.mdl', 'conf/model.conf') + layout.graph_files)}), so one of "
        "them is damaged or from an incompatible Kaldi/Vosk version: fetch or rebuild the model."
    )


def find_word(model: Any, word: str) -> int:
    """The model's id for `word`, or -1 if it is not in the model's vocabulary.

    The Python API is `vosk_model_find_word` in vosk 0.3.45 (`find_word` in later versions).
    libvosk looks the word up in the graph's output symbols or graph/words.txt, on static
    and lookahead models alike.
    """
    method = getattr(model, "find_word", None) or getattr(model, "vosk_model_find_word")
    return int(method(word))


def missing_words(model: Any, words: Iterable[str]) -> list[str]:
    """The words (in order, without repeats) that the model's vocabulary lacks."""
    seen: dict[str, None] = {}
    for word in words:
        if word not in seen and find_word(model, word) < 0:
            seen[word] = None
    return list(seen)


def grammar_for(phrases: Iterable[str], model: Any | None = None) -> str:
    """The JSON phrase list for `KaldiRecognizer(model, rate, grammar)` on a lookahead model.

    Adds "[unk]" so out-of-grammar speech comes out as [unk] instead of the nearest phrase.
    Vosk silently drops grammar words its model lacks; with `model` given, a missing word is
    a ModelError listing them instead.
    """
    unique = list(dict.fromkeys(" ".join(p.lower().split()) for p in phrases if p.strip()))
    if model is not None:
        lacking = missing_words(model, (w for p in unique for w in p.split()))
        if lacking:
            raise ModelError("the speech model lacks grammar words: " + ", ".join(lacking))
    if UNKNOWN_WORD not in unique:
        unique.append(UNKNOWN_WORD)
    return json.dumps(unique)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _language(path: Path, name: str) -> str:
    for manifest in (path / SOURCE_FILE, path / "manifest.json", path.parent / f"{path.name}.json"):
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and isinstance(data.get("language"), str):
                return data["language"]
    if name == BUILTIN_NAME:
        return "en"
    from models.official import load_catalog  # the catalog knows official models' languages

    entry = load_catalog().get(name)
    return entry.language if entry else "?"


def describe(path: Path, name: str, kind: Literal["built-in", "downloaded", "path"]) -> InstalledModel:
    """An InstalledModel for a directory; an invalid one is listed with its problem."""
    try:
        layout = check_model_dir(path)
        grammar: Literal["runtime", "static"] | None = layout.grammar
        problem = None
    except ModelError as exc:
        grammar, problem = None, str(exc)
    return InstalledModel(name=name, path=path, kind=kind, language=_language(path, name),
                          size_bytes=_dir_size(path) if path.is_dir() else 0,
                          grammar=grammar, problem=problem)


def installed_models(models_dir: Path) -> list[InstalledModel]:
    """The built-in model (if present) and every model directory under `models_dir`.

    Hidden entries (partial downloads, unpack directories) are skipped.
    """
    found: list[InstalledModel] = []
    if BUILTIN_DIR.is_dir():
        found.append(describe(BUILTIN_DIR, BUILTIN_NAME, "built-in"))
    if models_dir.is_dir():
        for child in sorted(models_dir.iterdir()):
            if child.name.startswith(".") or not child.is_dir() or child.name == BUILTIN_NAME:
                continue
            found.append(describe(child, child.name, "downloaded"))
    return found


def resolve_model(name_or_path: str, models_dir: Path) -> InstalledModel:
    """Find a model by name (built-in or installed) or by directory path."""
    if name_or_path == BUILTIN_NAME:
        if not BUILTIN_DIR.is_dir():
            raise ModelError(f"the built-in model is missing from {BUILTIN_DIR}; reinstall "
                             "massage-check or build it with: python -m models.build")
        return describe(BUILTIN_DIR, BUILTIN_NAME, "built-in")
    if "/" not in name_or_path and name_or_path not in (".", ".."):
        candidate = models_dir / name_or_path
        if candidate.is_dir():
            return describe(candidate, name_or_path, "downloaded")
        if not Path(name_or_path).is_dir():
            names = [m.name for m in installed_models(models_dir)]
            raise ModelError(
                f"no speech model named '{name_or_path}' in {models_dir}. Installed: "
                f"{', '.join(names) or 'none'}. Download one with: massage-check models fetch "
                f"{name_or_path} (see massage-check models list)"
            )
    path = Path(name_or_path).expanduser().resolve()
    if not path.is_dir():
        raise ModelError(f"speech model not found: {path} is not a directory")
    return describe(path, path.name, "path")


def active_model_name(cfg: Any) -> str:
    """The configured model (config key `model`): a name or a path."""
    return str(cfg["model"] or BUILTIN_NAME)
