"""Soak: the kiosk for many sessions back to back: `python -m bench.soak [--sessions 500]`.

The real kiosk loop (`voice.app.make_loop`, `SpeechLoop.kiosk`: idle -> start phrase -> session -> idle),
the real recogniser (libvosk, the configured model), the real dialog and the real transcript store
(`massage-check run`'s `Recording`, in a temporary data directory), fed by an audio-file microphone:
patients made of espeak-ng recordings (several voices, synthesised once and cached as WAV files),
mixed with room noise at 30, 20 or 10 dB SNR, who answer at random (yes, no, not sure and their
synonyms), give commands (repeat, slower, faster, help, go back, stop), say things the kiosk does not
know, cough, stay silent for a turn, or walk away; "is that right?" is answered truthfully most of
the time. Before each session there is waiting-room chatter, then a start phrase. Prompts are
synthesised (espeak-ng, as the kiosk does) and played to a null device (`--no-speak`: printed to
/dev/null instead).

Prints a table: sessions completed, outcomes and how sessions ended, errors and warnings, and the
process's RSS, open file descriptors and threads at the start, after 10 sessions and at the end, with
the growth; writes JSON to bench/results/soak-<time>.json. Not a CI test (500 sessions take a while).
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.latency import rss_mb
from bench.results_file import write_results

VOICES = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp")
ANSWERS = {"yes": ("yes", "yeah", "yes please"), "no": ("no", "nope", "no thank you"),
           "unsure": ("not sure", "i don't know", "maybe")}
COMMANDS = ("repeat", "say that again", "slower", "faster", "help", "go back")
UNKNOWN = ("the weather is lovely today", "my car is parked outside", "banana", "seventeen")
STARTS = ("hello", "start", "check my symptoms")
SNRS = (30.0, 20.0, 10.0)
# What a patient does at a question (the rest of the time: an answer).
KINDS = (("walk_away", 0.01), ("stop", 0.015), ("silence", 0.04), ("cough", 0.03), ("unknown", 0.05),
         ("command", 0.09))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def snapshot(label: str, sessions: int, loop: Any = None) -> dict[str, Any]:
    """The process now; with the loop, also what its bounded caches hold (prompt clips, loaded graphs)."""
    out = {"at": label, "sessions": sessions, "rss_mb": round(rss_mb(), 1), "open_fds": open_fds(),
           "threads": threading.active_count()}
    cache = getattr(getattr(loop, "speaker", None), "cache", None)
    if cache is not None:
        out["prompt_cache"] = {"clips": len(cache),
                               "mb": round(sum(c.samples.nbytes for c in list(cache.values())) / 2**20, 1)}
    loaded = getattr(getattr(getattr(loop, "recognizer", None), "models", None), "_loaded", None)
    if loaded is not None:
        out["graphs_loaded"] = sorted(loaded)
    return out


class Recordings:
    """Speech clips as WAV files in a cache directory: synthesised once, then read from the file."""

    def __init__(self, cache: Path):
        from voice.speaker import EspeakSynth

        self.cache = cache
        self.cache.mkdir(parents=True, exist_ok=True)
        self._synth = {v: EspeakSynth(v) for v in VOICES}
        self._clips: dict[tuple[str, str], np.ndarray] = {}

    def speech(self, text: str, voice: str) -> np.ndarray:
        from voice.audio import SAMPLE_RATE, read_wav, write_wav

        key = (text, voice)
        clip = self._clips.get(key)
        if clip is None:
            path = self.cache / f"{voice}-{text.replace(' ', '_').replace(chr(39), '')}.wav"
            if not path.exists():
                write_wav(path, self._synth[voice].synth(text).to_rate(SAMPLE_RATE))
            clip = self._clips[key] = read_wav(path).to_rate(SAMPLE_RATE).samples
        return clip.astype(np.float64)

    def preload(self) -> None:
        """Every recording into memory now, so the bench's own clips are not counted as the kiosk's growth."""
        for voice in VOICES:
            for text in {*STARTS, *UNKNOWN, *COMMANDS, "stop", *(a for group in ANSWERS.values() for a in group)}:
                self.speech(text, voice)


class SoakPatients:
    """An audio-file microphone whose recordings are picked, one turn at a time, by random patients.

    Like `voice.patient.ScriptedPatientSource`, a patient says something after each prompt (a live
    microphone hears nothing while the kiosk speaks); between and after lines there is room noise for
    ever, so silence is real silence (the listener's no-input time, the kiosk's abandon time).
    """

    realtime = False
    continuous = False

    def __init__(self, recordings: Recordings, rng: random.Random):
        from voice.audio import BLOCK_SECONDS, SAMPLE_RATE
        from voice.sources import SourceStats

        self.rec = recordings
        self.rng = rng
        self.sample_rate = SAMPLE_RATE
        self.stats = SourceStats()
        self._block = int(BLOCK_SECONDS * SAMPLE_RATE) * 2
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 30, SAMPLE_RATE * 4)
        self._noise = noise.astype("<i2").tobytes()
        self._noise_pos = 0
        self._pcm = b""
        self._pos = 0
        self._listening = False
        self.dm: Any = None
        self.voice = VOICES[0]
        self.walked_away = False
        self.said: collections.Counter[str] = collections.Counter()

    # -- the patient ------------------------------------------------------------------
    def new_patient(self, dm: Any) -> None:
        self.dm, self.voice, self.walked_away = dm, self.rng.choice(VOICES), False
        self.script = {q.id: self.rng.choices(("no", "yes", "unsure"), (0.86, 0.08, 0.06))[0]
                       for q in dm.q.questions} if hasattr(dm, "q") else {}

    def gone(self) -> None:
        self.dm = None

    def plan(self) -> list[tuple[str, str]]:
        """(kind, text) lines for this turn; text "" is a stretch of silence or a cough."""
        dm, rng = self.dm, self.rng
        if dm is None or dm.finished:                        # idle: chatter, then a start phrase
            lines = [("chatter", rng.choice(UNKNOWN + ("yes", "no")))] if rng.random() < 0.3 else []
            return lines + [("start", rng.choice(STARTS))]
        if self.walked_away or dm.listening_for is None:
            return []
        if dm.confirming:
            intended = self.script.get(dm.listening_for, "no")
            truthful = rng.random() < 0.9
            right = dm.pending_answer == intended
            return [("answer", rng.choice(ANSWERS["yes" if right == truthful else "no"]))]
        roll, edge = rng.random(), 0.0
        for kind, p in KINDS:
            edge += p
            if roll < edge:
                break
        else:
            kind = "answer"
        if kind == "walk_away":
            self.said["walk_away"] += 1
            self.walked_away = True
            return []
        if kind == "silence":
            return [("silence", "")]
        if kind == "cough":
            return [("cough", "")]
        if kind == "stop":
            return [("stop", "stop")]
        if kind == "unknown":
            return [("unknown", rng.choice(UNKNOWN))]
        if kind == "command":
            return [("command", rng.choice(COMMANDS))]
        return [("answer", rng.choice(ANSWERS[self.script.get(dm.listening_for, "no")]))]

    def audio(self, kind: str, text: str) -> np.ndarray:
        from voice.audio import SAMPLE_RATE

        rng = self.rng
        if kind == "silence":
            return np.zeros(0)
        if kind == "cough":                                  # a burst of loud noise, no words
            burst = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 3000, int(0.3 * SAMPLE_RATE))
            return np.concatenate([np.zeros(int(0.3 * SAMPLE_RATE)), burst * np.hanning(len(burst))])
        speech = self.rec.speech(text, self.voice)
        voiced = speech[np.abs(speech) > 0.02 * (np.abs(speech).max() or 1)]
        rms = float(np.sqrt(np.mean(np.square(voiced)))) if len(voiced) else 1000.0
        sigma = max(2.0, rms / 10.0 ** (rng.choice(SNRS) / 20.0))
        lead = np.zeros(int(rng.uniform(0.2, 0.8) * SAMPLE_RATE))
        gap = np.zeros(int(rng.uniform(1.0, 2.0) * SAMPLE_RATE))   # before the next line, if any
        x = np.concatenate([lead, speech, gap])
        return x + np.random.default_rng(rng.randrange(1 << 30)).normal(0.0, sigma, len(x))

    # -- AudioSource -------------------------------------------------------------------
    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause(self) -> None:
        self._listening = False

    def resume(self) -> None:
        self._listening = True
        parts = []
        for kind, text in self.plan():
            self.said[kind] += 1
            parts.append(self.audio(kind, text))
        x = np.concatenate(parts) if parts else np.zeros(0)
        self._pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
        self._pos = 0

    def read(self, timeout: float) -> bytes | None:
        if not self._listening:
            return None
        if self._pos < len(self._pcm):
            chunk = self._pcm[self._pos:self._pos + self._block]
            self._pos += len(chunk)
        else:
            if self.dm is None or self.dm.finished:          # idle and the line is over: the next person
                self.resume()
                return self.read(timeout)
            chunk = self._noise[self._noise_pos:self._noise_pos + self._block]
            self._noise_pos = (self._noise_pos + self._block) % (len(self._noise) - self._block)
        self.stats.blocks += 1
        return chunk

    @property
    def exhausted(self) -> bool:
        return False


class LogCounter(logging.Handler):
    """Counts warnings and errors logged by the product (by a short form of the message)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()
        self.levels: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        self.counts[f"{record.levelname}: {record.getMessage()[:70]}"] += 1


class Faults:
    """`--faults P`: the recogniser raises in a turn, and the synthesiser fails for a prompt it has not
    cached, each with probability P (injected at their boundaries: the parts themselves are real)."""

    def __init__(self, p: float, rng: random.Random):
        self.p, self.rng = p, rng
        self.recogniser = self.synthesiser = 0

    def wrap_recogniser(self, inner: Any) -> Any:
        faults = self

        class Recogniser:
            models = getattr(inner, "models", None)

            def begin(self, phrases: Any = None) -> None:
                self.fail = faults.rng.random() < faults.p
                inner.begin(phrases)

            def accept(self, pcm: bytes) -> bool:
                if self.fail:
                    self.fail = False
                    faults.recogniser += 1
                    raise RuntimeError("injected recogniser fault")
                return inner.accept(pcm)

            def partial(self) -> str:
                return inner.partial()

            def result(self) -> Any:
                return inner.result()

        return Recogniser()

    def wrap_synth(self, inner: Any) -> Any:
        from voice.speaker import SpeechUnavailable

        faults = self

        class Synth:
            def synth(self, text: str, rate: float = 1.0) -> Any:
                if faults.rng.random() < faults.p:
                    faults.synthesiser += 1
                    raise SpeechUnavailable("injected synthesiser fault")
                return inner.synth(text, rate)

        return Synth()


def run(sessions: int, seed: int = 1, model: str | None = None, speak: bool = True,
        cache: Path | None = None, progress: bool = True, faults: float = 0.0) -> dict[str, Any]:
    from massage_check import config
    from massage_check.commands.run import Recording
    from rules import load_questionnaire
    from voice.app import VoiceSettings, make_loop
    from voice.speaker import AudioSpeaker, EspeakSynth, PrintSpeaker

    counter = LogCounter()
    logging.getLogger().addHandler(counter)
    if logging.getLogger().level > logging.WARNING or logging.getLogger().level == logging.NOTSET:
        logging.getLogger().setLevel(logging.WARNING)
    data = Path(tempfile.mkdtemp(prefix="mc-soak-"))
    os.environ["MASSAGE_CHECK_DATA_DIR"] = str(data)
    cfg = config.load_config()
    settings = VoiceSettings.from_config(cfg, config.models_dir(cfg))
    if model:
        from dataclasses import replace

        settings = replace(settings, model=model)
    rng = random.Random(seed)
    recordings = Recordings(cache or Path(tempfile.gettempdir()) / "mc-soak-recordings")
    recordings.preload()
    source = SoakPatients(recordings, rng)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the whole run
    fault = Faults(faults, random.Random(seed + 1))
    synth = EspeakSynth(settings.voice, settings.wpm)
    speaker = (AudioSpeaker(fault.wrap_synth(synth) if faults else synth, play=lambda clip: time.monotonic(),
                            fallback=PrintSpeaker(devnull))
               if speak else PrintSpeaker(devnull))
    recording = Recording(True, {"keep_audio": False, "review_refresh_seconds": 20})
    hooks = recording.hooks()

    def on_dialog(dm: Any) -> None:
        hooks["on_dialog"](dm)
        source.new_patient(dm)

    loop = make_loop(settings, source, speaker, load_questionnaire(), mode="voice",
                     on_turn=hooks["on_turn"], on_dialog=on_dialog)
    recording.attach(loop)
    if faults:
        loop.recognizer = fault.wrap_recogniser(loop.recognizer)

    outcomes: collections.Counter[str] = collections.Counter()
    ended: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    turns = storage_errors = 0
    printed = [0]
    snapshots = [snapshot("start", 0, loop)]
    started = time.monotonic()

    def on_session(report: Any) -> None:
        nonlocal turns, storage_errors
        recording.finish(report.transcript, report.interrupted)
        storage_errors += len(recording.current.errors) if recording.current is not None else 0
        source.gone()
        n = sum(outcomes.values()) + 1
        outcomes[str(report.outcome) if not report.interrupted else "interrupted"] += 1
        ended["abandoned" if report.abandoned else "interrupted" if report.interrupted
              else str(report.ended_by)] += 1
        turns += len(report.transcript.get("turns") or [])
        printed[0] += sum(1 for x in report.spoken if x.how == "printed")
        if report.error:
            errors.append(report.error)
        if n == 10:
            snapshots.append(snapshot("after 10", n, loop))
        if progress and n % 25 == 0:
            print(f"  {n} sessions, {time.monotonic() - started:.0f} s, RSS {rss_mb():.1f} MB, "
                  f"{open_fds()} fds", file=sys.stderr, flush=True)

    restarts: list[str] = []
    completed = 0
    while completed < sessions and len(restarts) <= 20:
        try:
            completed += loop.kiosk(sessions=sessions - completed, on_session=on_session)
            break
        except Exception as exc:  # the kiosk gave up (errors in a row): restart it, as its service would
            completed = sum(outcomes.values())
            restarts.append(f"{type(exc).__name__}: {exc}")
    wall = time.monotonic() - started
    snapshots.append(snapshot("end", completed, loop))
    logging.getLogger().removeHandler(counter)

    from massage_check.store import TranscriptStore

    store = TranscriptStore.open(data)
    statuses = collections.Counter(s.status for s in store.list_sessions())
    stored_turns = sum(s.turns for s in store.list_sessions())
    integrity = store.integrity_ok()
    db_kb = sum(p.stat().st_size for p in data.glob("transcripts.db*")) / 1024.0
    store.close()

    base = snapshots[1] if len(snapshots) > 2 else snapshots[0]
    end = snapshots[-1]
    return {
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_avg_at_end": os.getloadavg()},
        "model": getattr(getattr(loop.recognizer, "models", None), "name", settings.model),
        "seed": seed,
        "sessions_asked": sessions,
        "sessions_completed": completed,
        "turns": turns,
        "outcomes": dict(outcomes),
        "ended": dict(ended),
        "patient_lines": dict(source.said),
        "faults_injected": {"p": faults, "recogniser": fault.recogniser, "synthesiser": fault.synthesiser},
        "prompts_printed": printed[0],
        "kiosk_restarts": {"count": len(restarts), "why": restarts[:10]},
        "errors": {"sessions_cut_off_by_an_error": len(errors), "messages": errors[:20],
                   "logged": dict(counter.levels), "logged_by_message": dict(counter.counts.most_common(15)),
                   "storage": storage_errors},
        "store": {"sessions": sum(statuses.values()), "statuses": dict(statuses), "turns": stored_turns,
                  "integrity_ok": integrity, "db_kb": round(db_kb, 1), "dir": str(data)},
        "snapshots": snapshots,
        "growth_after_10_to_end": {"rss_mb": round(end["rss_mb"] - base["rss_mb"], 1),
                                   "rss_pct": round((end["rss_mb"] - base["rss_mb"]) / base["rss_mb"] * 100, 2),
                                   "open_fds": end["open_fds"] - base["open_fds"],
                                   "threads": end["threads"] - base["threads"]},
        "wall_seconds": round(wall, 1),
        "seconds_per_session": round(wall / completed, 2) if completed else None,
    }


def table(r: dict[str, Any]) -> str:
    g = r["growth_after_10_to_end"]
    rows = [("sessions completed", f"{r['sessions_completed']} of {r['sessions_asked']} ({r['turns']} turns, "
                                   f"{r['wall_seconds']:.0f} s, {r['seconds_per_session']} s each)"),
            ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items(), key=lambda kv: -kv[1]))),
            ("sessions ended by", ", ".join(f"{k} {v}" for k, v in sorted(r["ended"].items(), key=lambda kv: -kv[1]))),
            ("patient lines", ", ".join(f"{k} {v}" for k, v in sorted(r["patient_lines"].items(),
                                                                      key=lambda kv: -kv[1]))),
            ("faults injected (recogniser, synth)", f"{r['faults_injected']['recogniser']}, "
             f"{r['faults_injected']['synthesiser']} (p {r['faults_injected']['p']}); prompts printed "
             f"{r['prompts_printed']}; kiosk restarts {r['kiosk_restarts']['count']}"),
            ("errors: sessions cut off / logged", f"{r['errors']['sessions_cut_off_by_an_error']} / "
             f"{r['errors']['logged'] or 'none'}; storage errors {r['errors']['storage']}"),
            ("stored sessions", f"{r['store']['sessions']} {r['store']['statuses']}, {r['store']['turns']} turns, "
                                f"integrity {'ok' if r['store']['integrity_ok'] else 'BAD'}, {r['store']['db_kb']:.0f} KB")]
    for s in r["snapshots"]:
        cache = s.get("prompt_cache")
        rows.append((f"at {s['at']} ({s['sessions']} sessions)",
                     f"RSS {s['rss_mb']:.1f} MB, {s['open_fds']} open fds, {s['threads']} threads"
                     + (f"; prompt cache {cache['clips']} clips {cache['mb']} MB" if cache else "")
                     + (f"; graphs {'+'.join(s['graphs_loaded'])}" if s.get("graphs_loaded") else "")))
    rows.append(("growth, after 10 -> end", f"RSS {g['rss_mb']:+.1f} MB ({g['rss_pct']:+.2f}%), "
                                            f"fds {g['open_fds']:+d}, threads {g['threads']:+d}"))
    return "\n".join(f"{name:36} {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=500, help="sessions back to back (500)")
    ap.add_argument("--seed", type=int, default=1, help="random patients' seed (1)")
    ap.add_argument("--model", help="model name or path (default: config `model`)")
    ap.add_argument("--no-speak", action="store_true", help="print prompts to /dev/null instead of synthesising them")
    ap.add_argument("--faults", type=float, default=0.0, metavar="P",
                    help="inject a recogniser fault per turn and a synthesiser fault per new prompt with "
                         "probability P (0)")
    ap.add_argument("--cache", type=Path, help="where the patients' recordings are kept (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="write the JSON here instead of bench/results/soak-<time>.json")
    args = ap.parse_args(argv)
    result = run(args.sessions, args.seed, args.model, speak=not args.no_speak, cache=args.cache,
                 faults=args.faults)
    print(table(result))
    if args.json:
        import json

        args.json.write_text(json.dumps(result, indent=2) + "\n")
        out = args.json
    else:
        out = write_results("soak", result)
    print(f"wrote {out}")
    ok = result["sessions_completed"] == args.sessions and (
        args.faults or not (result["errors"]["sessions_cut_off_by_an_error"] or result["kiosk_restarts"]["count"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
