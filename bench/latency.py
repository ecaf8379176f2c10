"""Voice loop speed and memory: `python -m bench.latency [--sessions N]`.

Measures, with the real model, recognizer, dialog and synthesiser and a synthetic
patient (espeak-ng answers with noise) instead of a microphone:

- answer latency: end of the patient's speech -> first sample of the next prompt
  (audio time from the true end of speech to the endpoint decision, plus wall time
  from there to the reply's first sample; median and p95; goal <= 400 ms)
- start-up: process start -> first sample of the first prompt (goal < 2 s)
- peak RSS of a process running one session (goal < 100 MB)
- CPU real-time factor of decoding (CPU seconds per second of audio)
- RSS after N back-to-back sessions vs. after the warm-up (goal: growth <= 10%)
- slow speech (issue 32): sessions with a patient speaking at 0.6x who pauses 0.8 s inside every
  other answer ("no ... not really"): latency, answers the kiosk cut off (started its next prompt
  while the patient still had more to say), answers and outcomes right; and the same patient with
  the fixed 0.3 s end the listener had before

Playback goes to a null device that returns at once (no sound card needed); the
sound card's own output latency is not included (sounddevice reports it on a Pi).
Prints a table and writes JSON to bench/results/latency-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.results_file import write_results

# Every other answer of the slow patient has a pause inside (voice.patient: "..." = `pause` seconds).
PAUSED_LINES = {"no": "no ... not really", "yes": "yes ... i think so", "not sure": "i don't ... know"}
SLOW_RATE, SLOW_PAUSE = 0.6, 0.8
OUTCOMES = ["no_clear_need", "likely_to_help", "see_doctor_first", "ask_staff", "massage_with_care"]

SCRIPTS: list[dict[str, str]] = [
    {},  # all "no": no_clear_need
    {"has_pain": "yes", "chronic_low_back_pain": "yes"},  # likely_to_help
    {"blood_clot": "yes"},  # see_doctor_first
    {"infection_fever": "not sure"},  # ask_staff
    {"cancer_treatment": "yes", "has_pain": "yes", "sciatica": "yes"},  # massage_with_care
]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class CpuMeter:
    """Wraps a recognizer; adds up CPU time spent decoding and the audio fed."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.cpu = 0.0
        self.audio = 0.0

    def begin(self, phrases: Any = None) -> None:
        t = time.process_time()
        self.inner.begin(phrases)
        self.cpu += time.process_time() - t

    def accept(self, pcm: bytes) -> bool:
        t = time.process_time()
        r = self.inner.accept(pcm)
        self.cpu += time.process_time() - t
        self.audio += len(pcm) / 32000.0
        return r

    def partial(self) -> str:
        t = time.process_time()
        r = self.inner.partial()
        self.cpu += time.process_time() - t
        return r

    def result(self) -> Any:
        t = time.process_time()
        r = self.inner.result()
        self.cpu += time.process_time() - t
        return r


def build(model: str | None = None, rate: float = 1.0, pause: float = SLOW_PAUSE,
          listen: Any = None) -> tuple[Any, Any, Any]:
    """A speech loop with a synthetic patient and a null playback device. `rate` < 1: a slow patient
    who pauses inside every other answer; `listen`: a ListenConfig other than the configured one."""
    from dialog import DialogManager, Heard, load_vocabulary
    from massage_check import config
    from rules import load_questionnaire
    from voice.app import VoiceSettings, meaning_of
    from voice.loop import LoopConfig, SpeechLoop
    from voice.modelset import open_model
    from voice.patient import ScriptedPatientSource
    from voice.recognizer import VoskRecognizer
    from voice.speaker import AudioSpeaker, EspeakSynth

    cfg = config.load_config()
    settings = VoiceSettings.from_config(cfg, config.models_dir(cfg))
    models = open_model(model or settings.model, settings.models_dir)
    q = load_questionnaire()
    state: dict[str, Any] = {"script": {}, "dm": None, "lines": 0}

    def next_line() -> str | None:
        dm = state["dm"]
        if dm is None or dm.finished or dm.listening_for is None:
            return None
        intended = state["script"].get(dm.listening_for, "no")
        if dm.confirming:  # answer "is that right?" truthfully
            return "yes" if dm.pending_answer == {"yes": "yes", "no": "no", "not sure": "unsure"}[intended] else "no"
        state["lines"] += 1
        return PAUSED_LINES[intended] if rate < 1.0 and state["lines"] % 2 == 0 else intended

    def make_dialog() -> Any:
        dm = DialogManager(q, mode="voice", model=models.name)
        state["dm"] = dm
        return dm

    source = ScriptedPatientSource(next_line, rate=rate, pause=pause)
    speaker = AudioSpeaker(EspeakSynth(settings.voice, settings.wpm), play=lambda clip: time.monotonic())
    s = q.script
    speaker.prewarm([s.greeting, s.privacy, s.instructions] + [t for x in q.questions for t in (x.prompt, x.short)])
    vocabulary = load_vocabulary()
    rec = CpuMeter(VoskRecognizer(models, meaning=meaning_of(vocabulary)))
    loop = SpeechLoop(source, rec, speaker, vocabulary, make_dialog,
                      runtime_grammar=bool(getattr(models, "runtime_grammar", False)),
                      config=LoopConfig(listen=listen or settings.listen), heard_type=Heard)
    return loop, state, rec


def slow_sessions(model: str | None, sessions: int, fixed: bool) -> dict[str, Any]:
    """`sessions` sessions with the slow patient; `fixed`: the old fixed 0.3 s end of an answer."""
    from voice.listener import ListenConfig

    listen = ListenConfig(patient_silence=0.3) if fixed else None
    loop, state, _ = build(model, rate=SLOW_RATE, listen=listen)
    latencies: list[float] = []
    answers = right = outcomes_right = 0
    for i in range(sessions):
        state["script"] = SCRIPTS[i % len(SCRIPTS)]
        report = loop.run_session()
        outcomes_right += report.outcome == OUTCOMES[i % len(SCRIPTS)]
        for qid, answer in report.transcript["answers"].items():
            answers += 1
            right += answer == {"yes": "yes", "no": "no", "not sure": "unsure"}[state["script"].get(qid, "no")]
        latencies += [t.latency for t in report.timings if t.utterance.endpoint_audio is not None
                      and t.true_speech_end is not None and t.utterance.endpoint_audio >= t.true_speech_end]
    lines = loop.source._count
    return {"sessions": sessions, "lines": lines, "cut": loop.source.cut, "answers": answers, "right": right,
            "outcomes_right": outcomes_right,
            "latency_ms": {"median": 1000 * statistics.median(latencies) if latencies else None,
                           "p95": 1000 * percentile(latencies, 95) if latencies else None}}


def child_startup() -> None:
    """Run in a fresh process: one session; print timings as JSON."""
    t_import = time.time()
    loop, state, rec = build(os.environ.get("BENCH_MODEL") or None)
    state["script"] = SCRIPTS[1]
    report = loop.run_session()
    first = report.first_prompt_wall
    # monotonic -> wall clock for comparison with the parent's spawn time
    first_wall = time.time() - (time.monotonic() - first) if first is not None else None
    print(json.dumps({"first_prompt_wall": first_wall, "import_start": t_import, "peak_rss_mb": peak_rss_mb(),
                      "outcome": report.outcome}))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=500, help="back-to-back sessions for the leak check (500)")
    ap.add_argument("--startup-runs", type=int, default=3, help="fresh processes for start-up time (3)")
    ap.add_argument("--model", help="model name or path (default: config `model`)")
    ap.add_argument("--slow-sessions", type=int, help="sessions with a slow patient, each way (default: a third)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child_startup()
        return 0

    env = {**os.environ, "BENCH_MODEL": args.model or ""}
    startups, peaks = [], []
    for _ in range(args.startup_runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, "-m", "bench.latency", "--child"], capture_output=True, text=True,
                             env=env, cwd=Path(__file__).resolve().parents[1], timeout=600)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        data = json.loads(out.stdout.strip().splitlines()[-1])
        startups.append(data["first_prompt_wall"] - t0)
        peaks.append(data["peak_rss_mb"])

    loop, state, rec = build(args.model)
    latencies: list[float] = []
    endpoint_delays: list[float] = []
    processing: list[float] = []
    outcomes: dict[str, int] = {}
    warm_rss = None
    t_start = time.monotonic()
    for i in range(args.sessions):
        state["script"] = SCRIPTS[i % len(SCRIPTS)]
        report = loop.run_session()
        outcomes[str(report.outcome)] = outcomes.get(str(report.outcome), 0) + 1
        for t in report.timings:
            latencies.append(t.latency)
            endpoint_delays.append(t.endpoint_delay)
            processing.append(t.processing)
        if i == min(9, args.sessions - 1):
            warm_rss = rss_mb()
    wall = time.monotonic() - t_start
    final_rss = rss_mb()
    slow_n = args.slow_sessions if args.slow_sessions is not None else max(5, args.sessions // 3)
    slow = {"adaptive": slow_sessions(args.model, slow_n, fixed=False),
            "fixed_0.3s": slow_sessions(args.model, slow_n, fixed=True)} if slow_n else {}
    growth = (final_rss - warm_rss) / warm_rss * 100.0 if warm_rss else float("nan")
    results = {
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "model": getattr(loop.recognizer.inner.models, "name", None),
        "sessions": args.sessions,
        "turns": len(latencies),
        "outcomes": outcomes,
        "latency_ms": {"median": 1000 * statistics.median(latencies), "p95": 1000 * percentile(latencies, 95),
                       "max": 1000 * max(latencies), "goal_p95": 400},
        "endpoint_delay_ms": {"median": 1000 * statistics.median(endpoint_delays),
                              "p95": 1000 * percentile(endpoint_delays, 95)},
        "processing_ms": {"median": 1000 * statistics.median(processing),
                          "p95": 1000 * percentile(processing, 95)},
        "startup_s": {"median": statistics.median(startups), "max": max(startups), "goal": 2.0},
        "session_peak_rss_mb": {"max": max(peaks), "goal": 100},
        "decode_rtf": rec.cpu / rec.audio if rec.audio else float("nan"),
        "audio_seconds": rec.audio,
        "rss_mb": {"after_warmup": warm_rss, "after_all": final_rss, "growth_pct": growth, "goal_pct": 10},
        "wall_seconds": wall,
        "slow_speech": {"rate": SLOW_RATE, "pause_s": SLOW_PAUSE, **slow},
    }
    rows = [
        ("answer latency median / p95", f"{results['latency_ms']['median']:.0f} / {results['latency_ms']['p95']:.0f} ms",
         "p95 <= 400 ms", results["latency_ms"]["p95"] <= 400),
        ("  endpoint wait median", f"{results['endpoint_delay_ms']['median']:.0f} ms", "", None),
        ("  decode+dialog+synth median / p95",
         f"{results['processing_ms']['median']:.1f} / {results['processing_ms']['p95']:.1f} ms", "", None),
        ("start-up to first prompt", f"{results['startup_s']['median']:.2f} s (max {max(startups):.2f})", "< 2 s",
         max(startups) < 2.0),
        ("peak RSS of a session", f"{max(peaks):.1f} MB", "< 100 MB", max(peaks) < 100),
        ("decode CPU real-time factor", f"{results['decode_rtf']:.4f}", "", None),
        (f"RSS after {args.sessions} sessions", f"{final_rss:.1f} MB ({growth:+.1f}% vs. session 10)", "<= +10%",
         growth <= 10),
    ]
    for name, r in slow.items():
        lat = r["latency_ms"]
        label = "slow speech" if name == "adaptive" else "  same, fixed 0.3 s end"
        value = (f"{lat['median']:.0f} / {lat['p95']:.0f} ms" if lat["median"] is not None else "-")
        rows += [(f"{label}: latency median / p95", value, "", None),
                 ("    answers cut off / lines said", f"{r['cut']} / {r['lines']}", "", None),
                 ("    answers right / outcomes right", f"{r['right']}/{r['answers']}, "
                  f"{r['outcomes_right']}/{r['sessions']}", "", None)]
    print(f"{'measure':38} {'value':34} {'goal':14} ok")
    for name, value, goal, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"{name:38} {value:34} {goal:14} {mark}")
    print(f"({len(latencies)} answers in {args.sessions} sessions, outcomes {outcomes}, {wall:.0f} s)")
    out = write_results("latency", results)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
