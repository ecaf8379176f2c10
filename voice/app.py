"""Assembling the voice loop from settings: shared by `run`, `demo` and the benchmark.

Settings come from the config file (massage_check/default_config.yaml keys
starting `voice_`), overridden by command-line flags.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .listener import ListenConfig
from .loop import LoopConfig, SpeechLoop
from .modelset import ModelSet, open_model
from .recognizer import VoskRecognizer
from .sources import AudioSource
from .speaker import (AudioSpeaker, EspeakSynth, PrintSpeaker, Speaker, SpeechConfigError, SpeechUnavailable,
                      WavDirSpeaker, make_synth)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceSettings:
    model: str = "answer-model"
    models_dir: Path = Path(".")
    mic_device: str | None = None
    speaker_device: str | None = None
    voice: str = "en-us"
    engine: str = "espeak-ng"
    wpm: int = 160
    volume: float = 1.0
    guard_seconds: float = 0.15
    confidence_threshold: float = 0.6
    listen: ListenConfig = ListenConfig()
    abandon_seconds: float = 60.0

    @classmethod
    def from_config(cls, cfg: Any, models_dir: Path) -> "VoiceSettings":
        def get(key: str, default: Any) -> Any:
            value = cfg.get(key, default) if cfg is not None else default
            return default if value is None and default is not None else value

        listen = ListenConfig(
            no_input_seconds=float(get("voice_no_input_seconds", 8.0)),
            end_silence=float(get("voice_end_silence", 0.3)),
            patient_silence=float(get("voice_patient_silence", 1.5)),
            read_back_below_db=float(get("voice_read_back_below_db", 15.0)),
        )
        return cls(
            model=str(get("model", "answer-model")),
            models_dir=models_dir,
            mic_device=get("voice_mic_device", None),
            speaker_device=get("voice_speaker_device", None),
            voice=str(get("voice_tts_voice", "en-us")),
            engine=str(get("voice_tts_engine", "espeak-ng")),
            wpm=int(get("voice_tts_wpm", 160)),
            volume=float(get("voice_tts_volume", 1.0)),
            confidence_threshold=float(get("confidence_threshold", 0.6)),
            listen=listen,
            abandon_seconds=float(get("voice_abandon_seconds", 60.0)),
        )


def device_arg(value: str | None) -> str | int | None:
    if value is None or value == "":
        return None
    return int(value) if str(value).isdigit() else value


def make_speaker(settings: VoiceSettings, speak: bool = True, prompts_dir: Path | None = None) -> Speaker:
    """The prompt speaker; configuration mistakes (unknown voice) are raised, device problems are not."""
    if prompts_dir is not None:
        return WavDirSpeaker(prompts_dir, EspeakSynth(settings.voice, settings.wpm))
    if not speak:
        return PrintSpeaker()
    try:
        synth = make_synth(settings.engine, settings.voice, settings.wpm)
    except SpeechConfigError:
        raise
    except SpeechUnavailable as exc:
        log.warning("no speech synthesiser (%s): prompts are printed", exc)
        return PrintSpeaker()
    return AudioSpeaker(synth, device_arg(settings.speaker_device), settings.volume)


def meaning_of(vocabulary: Any) -> Callable[[str], str]:
    """Text -> the dialog's intent: the recognizer's confidence is about the meaning, not the word."""
    from dialog import Interpreter  # noqa: PLC0415

    interpreter = Interpreter(vocabulary)
    return lambda text: interpreter(text).intent


def make_loop(
    settings: VoiceSettings,
    source: AudioSource,
    speaker: Speaker,
    questionnaire: Any,
    mode: str = "voice",
    models: ModelSet | None = None,
    on_turn: Callable[[Any], None] | None = None,
    on_dialog: Callable[[Any], None] | None = None,
) -> SpeechLoop:
    """A SpeechLoop over the real recognizer and the real dialog."""
    from dialog import DialogManager, Heard, load_vocabulary  # noqa: PLC0415

    models = models or open_model(settings.model, settings.models_dir)
    vocabulary = load_vocabulary()
    recognizer = VoskRecognizer(models, meaning=meaning_of(vocabulary))

    def make_dialog() -> Any:
        dm = DialogManager(questionnaire, confidence_threshold=settings.confidence_threshold,
                           mode=mode, model=models.name, on_turn=on_turn)
        if on_dialog is not None:
            on_dialog(dm)
        return dm

    prewarm = getattr(speaker, "prewarm", None)
    if prewarm is not None:
        s = questionnaire.script
        texts = [s.greeting, s.privacy, s.instructions]
        for question in questionnaire.questions:
            texts += [question.prompt, question.short]
        prewarm(texts)
    runtime = bool(getattr(models, "runtime_grammar", False))
    return SpeechLoop(source, recognizer, speaker, vocabulary, make_dialog, runtime_grammar=runtime,
                      config=LoopConfig(listen=settings.listen, abandon_seconds=settings.abandon_seconds),
                      heard_type=Heard)
