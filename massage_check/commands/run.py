"""`massage-check run`: the hands-free check, microphone in, speech out.

Kiosk mode (default): idle until a start phrase ("start", "hello", "check my
symptoms"), one session, back to idle, for as long as it runs. `--audio-in
FILE.wav` replaces the microphone with a file and runs one session at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from massage_check.errors import UserError

from .common import add_rules_option, load_rules


def add_voice_options(p: argparse.ArgumentParser) -> None:
    add_rules_option(p)
    p.add_argument("--model", metavar="NAME_OR_PATH", help="speech model (default: config `model`)")
    p.add_argument("--no-speak", action="store_true", help="print prompts instead of speaking them")
    p.add_argument("--prompts-dir", metavar="DIR", type=Path,
                   help="write each prompt as a WAV file into DIR (and print it) instead of speaking")
    p.add_argument("--voice", help="espeak-ng voice for prompts (default: config voice_tts_voice)")
    p.add_argument("--speaker-device", help="output device index or name (see `massage-check devices`)")
    p.add_argument("--transcript", metavar="FILE", type=Path, help="write the session transcript as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="log what is heard and timings to stderr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the hands-free voice check (microphone, or --audio-in FILE.wav)",
                       description="Hands-free voice check. Without --audio-in: kiosk mode, waiting for "
                       "'start' or 'hello', one session at a time, until stopped (Ctrl-C or SIGTERM).")
    add_voice_options(p)
    p.add_argument("--audio-in", metavar="FILE.wav", type=Path,
                   help="use a WAV file (any rate, mono or stereo) as the microphone: one session, at once")
    p.add_argument("--device", help="microphone index or name (default: config voice_mic_device)")
    p.add_argument("--sessions", type=int, metavar="N", help="kiosk: stop after N sessions")
    p.add_argument("--no-store", action="store_true",
                   help="do not save sessions in the transcript store for staff review")
    p.add_argument("--service", action="store_true",
                   help="as a systemd service (deploy/massage-check.service): one journal line a session and "
                   "one a fault, no answers or results in it; waits for a missing microphone; a bad config, "
                   "rules file, model or voice exits 78 (not restarted)")
    p.set_defaults(func=run)


def settings_from(args: argparse.Namespace) -> Any:
    from massage_check import config
    from voice.app import VoiceSettings

    cfg = config.load_config()
    s = VoiceSettings.from_config(cfg, config.models_dir(cfg))
    overrides: dict[str, Any] = {}
    if getattr(args, "model", None):
        overrides["model"] = args.model
    if getattr(args, "voice", None):
        overrides["voice"] = args.voice
    if getattr(args, "speaker_device", None):
        overrides["speaker_device"] = args.speaker_device
    if getattr(args, "device", None):
        overrides["mic_device"] = args.device
    from dataclasses import replace

    return replace(s, **overrides), cfg


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="massage-check: %(message)s")


def build_speaker(args: argparse.Namespace, settings: Any) -> Any:
    from voice.app import make_speaker
    from voice.speaker import SpeechConfigError, SpeechUnavailable

    try:
        return make_speaker(settings, speak=not args.no_speak, prompts_dir=args.prompts_dir)
    except (SpeechConfigError, SpeechUnavailable) as exc:
        raise UserError(str(exc)) from None


def build_loop(settings: Any, q: Any, source: Any, speaker: Any, mode: str, **hooks: Any) -> Any:
    from models.registry import ModelError
    from voice.app import make_loop

    try:
        return make_loop(settings, source, speaker, q, mode=mode, **hooks)
    except ModelError as exc:
        raise UserError(str(exc)) from None


def print_result(report: Any, out: Any = None) -> None:
    out = out or sys.stdout
    t = report.transcript
    if getattr(report, "interrupted", False):
        print(f"\nInterrupted before a result{f' ({report.error})' if report.error else ''}", file=out, flush=True)
        return
    print(f"\nOutcome: {t.get('outcome')} (ended by {t.get('ended_by')}"
          f"{', abandoned' if report.abandoned else ''})", file=out)
    if t.get("explanation"):
        print(t["explanation"], file=out)
    out.flush()


def write_transcript(path: Path | None, record: dict[str, Any]) -> None:
    if path is None:
        return
    from dialog.transcript import write_transcript_json

    write_transcript_json(path, record)
    print(f"Transcript written to {path}")


def desk_within(cfg: Any) -> float:
    from massage_check.store.attention import desk_window

    return desk_window(int(cfg.get("review_refresh_seconds", 20) or 0))


class Recording:
    """Saves each session turn by turn in the transcript store (never stops the dialog on failure)."""

    def __init__(self, enabled: bool, cfg: Any):
        self.base = None
        if enabled:
            from massage_check.store import SafeRecorder

            self.base = SafeRecorder.open(cfg=cfg)
        self.keep_audio = bool(enabled and cfg.get("keep_audio", False))
        self.desk_within = desk_within(cfg)
        self.current: Any = None
        self._audio: bytes | None = None

    def on_dialog(self, dm: Any) -> None:
        if self.base is not None:
            # from the last session's recorder: a result the disk could not take is tried again now
            self.current = (self.current or self.base).next_session()
            self.current.begin(dm.transcript)
            dm.on_end = self.tell_staff

    def tell_staff(self, transcript: Any) -> bool:
        """The dialog's on_end: store the result and flag now; True if the staff have been told."""
        return self.current is not None and self.current.tell_staff(transcript, self.desk_within)

    def on_heard(self, utt: Any) -> None:
        """Called with each answer before the dialog sees it: its audio goes with the turn."""
        self._audio = None
        if self.keep_audio and utt.audio:
            from voice.audio import SAMPLE_RATE, wav_bytes

            self._audio = wav_bytes(utt.audio, SAMPLE_RATE)

    def on_turn(self, turn: Any) -> None:
        audio, self._audio = self._audio, None
        if self.current is not None:
            self.current.on_turn(turn, audio=audio)

    def attach(self, loop: Any) -> None:
        loop.keep_audio = self.keep_audio
        loop.on_heard = self.on_heard

    def finish(self, record: dict[str, Any], interrupted: bool = False) -> None:
        """Store the result; a session cut off before one (SIGTERM, an error) is stored as interrupted."""
        if self.current is not None:
            if interrupted:
                self.current.interrupt(record)
            else:
                self.current.finish(record)

    def hooks(self) -> dict[str, Any]:
        return {"on_turn": self.on_turn, "on_dialog": self.on_dialog}


def run(args: argparse.Namespace) -> int:
    if getattr(args, "service", False):
        from massage_check.service import run_service

        return run_service(args, run_as_service)
    setup_logging(args.verbose)
    settings, cfg = settings_from(args)
    speaker = build_speaker(args, settings)
    if args.audio_in is not None:
        return run_file(args, settings, cfg, speaker)
    return run_kiosk(args, settings, cfg, speaker)


def run_as_service(args: argparse.Namespace) -> int:
    """`run --service` (massage_check.service sets up the journal lines and exit codes)."""
    from massage_check.service import quiet_fallback

    settings, cfg = settings_from(args)
    speaker = quiet_fallback(build_speaker(args, settings))
    if args.audio_in is not None:
        return run_file(args, settings, cfg, speaker)
    return run_kiosk(args, settings, cfg, speaker)


def report_session(args: argparse.Namespace, report: Any) -> None:
    """The result on the screen, or (--service) one journal line with no answers or advice in it."""
    if getattr(args, "service", False):
        from massage_check.service import log_session

        log_session(report)
    else:
        print_result(report)


def run_file(args: argparse.Namespace, settings: Any, cfg: Any, speaker: Any) -> int:
    from voice.audio import AudioFormatError
    from voice.sources import WavFileSource

    try:
        source = WavFileSource(args.audio_in)
    except AudioFormatError as exc:
        raise UserError(str(exc)) from None
    recording = Recording(not args.no_store, cfg)
    loop = build_loop(settings, load_rules(args.rules, cfg), source, speaker, mode="voice", **recording.hooks())
    recording.attach(loop)
    report = loop.run_session()
    recording.finish(report.transcript, report.interrupted)
    report_session(args, report)
    write_transcript(args.transcript, report.transcript)
    return 0


READY = 'massage-check: ready: say "start" or "hello" to begin'


def run_kiosk(args: argparse.Namespace, settings: Any, cfg: Any, speaker: Any) -> int:
    from voice.app import device_arg
    from voice.sources import AudioUnavailable, MicrophoneSource

    source = MicrophoneSource(device_arg(settings.mic_device), guard_seconds=settings.guard_seconds)
    rules = load_rules(args.rules, cfg)  # a bad rules file or model is reported before any microphone trouble
    recording = Recording(not args.no_store, cfg)
    loop = build_loop(settings, rules, source, speaker, mode="voice", **recording.hooks())
    recording.attach(loop)
    try:
        source.open()
    except AudioUnavailable as exc:
        if not getattr(args, "service", False):
            raise UserError(str(exc)) from None
        # a service started at boot may come up before the USB sound card: the source retries with back-off
        logging.getLogger("massage_check.service").warning("waiting for the microphone: %s", exc)

    def on_session(report: Any) -> None:
        recording.finish(report.transcript, report.interrupted)
        report_session(args, report)
        write_transcript(args.transcript, report.transcript)
        if not getattr(args, "service", False):
            print(READY, flush=True)

    def stop(*_: Any) -> None:
        loop.stop_event.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    print(READY, flush=True)
    try:
        loop.kiosk(sessions=args.sessions, on_session=on_session)
    finally:
        source.close()
    return 0
