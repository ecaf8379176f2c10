"""`massage-check demo`: the whole voice check with no microphone and no patient.

A synthetic patient (espeak-ng, another voice) answers each question out loud;
its audio goes through the real recognizer and the real dialog. Prompts are
spoken if there is an audio device, printed otherwise. Ends with the result and
the transcript.
"""
from __future__ import annotations

import argparse
from typing import Any

from massage_check.errors import UserError

from .common import load_rules
from .run import add_voice_options, build_loop, print_result, settings_from, setup_logging, write_transcript

# A patient with chronic low back pain and nothing that rules massage out; asks
# for the first question again once, to show that commands work by voice.
DEFAULT_SCRIPT = {
    "has_pain": "yes",
    "chronic_low_back_pain": "yes",
}
DEFAULT_ANSWER = "no"
INTENT_OF = {"yes": "yes", "no": "no", "not sure": "unsure"}
FIRST_WORDS = "say that again"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="hear the voice check with a synthetic patient (no microphone needed)")
    add_voice_options(p)
    p.add_argument("--answer", action="append", default=[], metavar="QUESTION=WORDS",
                   help="what the patient says to a question, e.g. blood_clot='not sure' (repeatable)")
    p.add_argument("--patient-voice", default="en-gb", help="espeak-ng voice of the patient (en-gb)")
    p.set_defaults(func=run)


class DemoPatient:
    """Decides the patient's next line from the dialog's state."""

    def __init__(self, script: dict[str, str], opening: str | None = FIRST_WORDS):
        self.script = script
        self.opening = opening
        self.dm: Any = None
        self.said: list[str] = []

    def attach(self, dm: Any) -> None:
        self.dm = dm

    def next_line(self) -> str | None:
        dm = self.dm
        if dm is None or dm.finished or dm.listening_for is None:
            return None
        if self.opening:
            line, self.opening = self.opening, None
        elif dm.confirming:  # "I heard no ... is that right?": the patient answers truthfully
            meant = INTENT_OF.get(self.script.get(dm.listening_for, DEFAULT_ANSWER))
            line = "yes" if dm.pending_answer == meant else "no"
        else:
            line = self.script.get(dm.listening_for, DEFAULT_ANSWER)
        self.said.append(line)
        print(f"  patient says: {line}", flush=True)
        return line


def parse_answers(items: list[str]) -> dict[str, str]:
    script = dict(DEFAULT_SCRIPT)
    for item in items:
        qid, sep, words = item.partition("=")
        if not sep or not qid.strip() or not words.strip():
            raise UserError(f"--answer {item!r}: write QUESTION=WORDS, e.g. --answer blood_clot=yes")
        script[qid.strip()] = " ".join(words.lower().split())
    return script


def run(args: argparse.Namespace) -> int:
    from voice.app import make_speaker
    from voice.patient import ScriptedPatientSource
    from voice.speaker import PrintSpeaker, SpeechConfigError, SpeechUnavailable, output_available

    setup_logging(args.verbose)
    settings, cfg = settings_from(args)
    patient = DemoPatient(parse_answers(args.answer))
    questionnaire = load_rules(args.rules, cfg)
    q_ids = {q.id for q in questionnaire.questions}
    unknown = sorted(set(patient.script) - q_ids)
    if unknown:
        raise UserError(f"--answer: no question {', '.join(unknown)}; questions: {', '.join(sorted(q_ids))}")
    try:
        speak = not args.no_speak and output_available(settings.speaker_device)
        speaker = make_speaker(settings, speak=speak, prompts_dir=args.prompts_dir)
        source = ScriptedPatientSource(patient.next_line, voice=args.patient_voice)
    except (SpeechConfigError, SpeechUnavailable) as exc:
        raise UserError(str(exc)) from None
    if not speak and args.prompts_dir is None and not args.no_speak:
        print("(no audio output device: prompts are printed)\n")
    if isinstance(speaker, PrintSpeaker):
        speaker.prefix = "massage-check: "

    def on_heard(utt: Any) -> None:
        h = utt.hypothesis
        if h.text or patient.said:
            conf = "" if h.confidence is None else f", confidence {h.confidence:.2f}"
            print(f"  heard: {h.text or '(nothing)'}{conf}", flush=True)

    loop = build_loop(settings, questionnaire, source, speaker, mode="demo", on_dialog=patient.attach)
    loop.on_heard = on_heard
    report = loop.run_session()
    print_result(report)
    print("\nTranscript:")
    for turn in report.transcript.get("turns", []):
        heard = turn.get("heard")
        if heard is None:  # the closing words: nothing was asked
            continue
        print(f"  [{turn.get('index')}] {turn.get('question_id') or '-'}: heard {heard!r} -> "
              f"{turn.get('interpretation')} (answer: {turn.get('answer')})")
    write_transcript(args.transcript, report.transcript)
    return 0 if report.outcome else 1
