"""The voice loop end to end with the real decoder: espeak-ng answers (with noise) -> libvosk with
the built-in answer model -> DialogManager -> prompts. No microphone: a synthetic patient is the source.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dialog import DialogManager, Heard, interpret, load_vocabulary
from rules import load_questionnaire
from voice.audio import SAMPLE_RATE
from voice.listener import ListenConfig, listen
from voice.app import meaning_of
from voice.loop import LoopConfig, SpeechLoop, speech_phrases
from voice.modelset import open_model
from voice.patient import ScriptedPatientSource, conversation_wav, patient_clip
from voice.recognizer import VoskRecognizer
from voice.sources import WavFileSource
from voice.speaker import EspeakSynth, PrintSpeaker, Spoken

VOICE = "en-gb"
# The built-in model by default; MASSAGE_CHECK_TEST_MODEL=/path tests another build of it.
MODEL = os.environ.get("MASSAGE_CHECK_TEST_MODEL", "answer-model")
ANSWER_INTENTS = ("yes", "no", "unsure", "repeat", "help", "back", "stop", "slower", "faster")


@pytest.fixture(scope="module")
def models():
    return open_model(MODEL, Path("/nonexistent-models-dir"))


@pytest.fixture(scope="module")
def recognizer(models):
    return VoskRecognizer(models)  # shared: each test's utterance follows the previous ones on it


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary()


@pytest.fixture(scope="module")
def questionnaire():
    return load_questionnaire()


INTENT_OF = {"yes": "yes", "no": "no", "not sure": "unsure"}


class Patient:
    """Answers by question id (default "no"); answers "is that right?" truthfully."""

    def __init__(self, script: dict[str, str], default: str | None = "no", first: list[str] | None = None):
        self.script = script
        self.default = default
        self.first = list(first or [])
        self.dm: Any = None
        self.said: list[str] = []

    def attach(self, dm: Any) -> Any:
        self.dm = dm
        return dm

    def next_line(self) -> str | None:
        dm = self.dm
        if dm is None or dm.finished or dm.listening_for is None:
            return None
        intended = self.script.get(dm.listening_for, self.default)
        if self.first:
            line = self.first.pop(0)
        elif dm.confirming:  # the dialog heard something doubtful and asks back
            line = "yes" if dm.pending_answer == INTENT_OF.get(intended or "") else "no"
        else:
            line = intended
        if line:
            self.said.append(line)
        return line


def make_loop(models, vocabulary, questionnaire, patient: Patient, source=None, speaker=None,
              config: LoopConfig = LoopConfig()) -> SpeechLoop:
    source = source or ScriptedPatientSource(patient.next_line, voice=VOICE)
    return SpeechLoop(source, VoskRecognizer(models, meaning=meaning_of(vocabulary)), speaker or PrintSpeaker(prefix="> "), vocabulary,
                      lambda: patient.attach(DialogManager(questionnaire, mode="voice", model=models.name)),
                      config=config, heard_type=Heard)


# -- recognition of single answers ---------------------------------------------

SAMPLES = [("yes", "yes"), ("no", "no"), ("not sure", "unsure"), ("i don't know", "unsure"), ("maybe", "unsure"),
           ("repeat", "repeat"), ("say that again", "repeat"), ("help", "help"), ("go back", "back"),
           ("stop", "stop"), ("slower", "slower"), ("faster", "faster"), ("yeah", "yes"), ("nope", "no")]


@pytest.mark.parametrize("said,intent", SAMPLES)
def test_every_answer_type_is_recognised_through_libvosk(recognizer, vocabulary, said, intent):
    synth = EspeakSynth(VOICE)
    src = WavFileSource.from_clip(patient_clip(synth, said, snr_db=25, seed=len(said)))
    utt = listen(src, recognizer, speech_phrases(vocabulary, ANSWER_INTENTS, False),
                 ListenConfig(no_input_seconds=4))
    assert utt.heard, f"nothing heard for {said!r}"
    assert interpret(utt.hypothesis.text).intent == intent, f"{said!r} heard as {utt.hypothesis.text!r}"
    assert utt.reason in ("endpoint", "silence")  # ended by endpointing, not by running out of audio
    conf = utt.hypothesis.confidence
    assert conf is not None and 0.0 <= conf <= 1.0
    # word times belong to this utterance, however many came before on the same recognizer
    assert all(0.0 <= w.conf <= 1.0 and 0.0 <= w.start <= w.end <= utt.audio_seconds + 0.05
               for w in utt.hypothesis.words)


@pytest.mark.parametrize("said", ["the weather is lovely today", "banana", "my car is parked outside",
                                  "seventeen"])
def test_unknown_speech_is_not_taken_as_an_answer(models, vocabulary, said):
    clip = patient_clip(EspeakSynth(VOICE), said, snr_db=25)
    utt = listen(WavFileSource.from_clip(clip), VoskRecognizer(models), speech_phrases(vocabulary, ANSWER_INTENTS, False),
                 ListenConfig(no_input_seconds=4))
    assert interpret(utt.hypothesis.text).intent not in ("yes", "no", "unsure", "stop", "back"), \
        f"{said!r} was heard as {utt.hypothesis.text!r}"


def test_start_phrases_are_recognised_in_the_idle_context(models, vocabulary):
    # The idle graph holds start phrases only, so British "start" (no r) cannot become "stop".
    rec = VoskRecognizer(models)
    phrases = speech_phrases(vocabulary, ("start",), False)
    assert models.context_for(phrases) == "start"  # the small idle graph, not every word
    for voice, said in (("en-gb", "hello"), ("en-gb", "check my symptoms"), ("en-gb", "begin"), ("en-us", "start"),
                        ("en-gb", "start")):
        clip = patient_clip(EspeakSynth(voice), said, snr_db=25)
        utt = listen(WavFileSource.from_clip(clip), rec, phrases, ListenConfig())
        assert interpret(utt.hypothesis.text).intent == "start", f"{said!r} heard as {utt.hypothesis.text!r}"


# -- whole sessions ------------------------------------------------------------

OUTCOME_SCRIPTS = {
    "no_clear_need": {},
    "likely_to_help": {"has_pain": "yes", "chronic_low_back_pain": "yes"},
    "see_doctor_first": {"blood_clot": "yes"},
    "ask_staff": {"infection_fever": "not sure"},
    "massage_with_care": {"cancer_treatment": "yes", "has_pain": "yes", "sciatica": "yes"},
}


@pytest.mark.parametrize("outcome", sorted(OUTCOME_SCRIPTS))
def test_a_full_spoken_session_reaches_each_outcome(models, vocabulary, questionnaire, outcome):
    script = OUTCOME_SCRIPTS[outcome]
    patient = Patient(script)
    report = make_loop(models, vocabulary, questionnaire, patient).run_session()
    t = report.transcript
    assert t["outcome"] == outcome, (t["answers"], [x["heard"] for x in t["turns"]])
    assert t["completed"] and t["ended_by"] == "result" and t["mode"] == "voice"
    assert t["model"] == Path(MODEL).name
    for qid, answer in t["answers"].items():
        assert answer == INTENT_OF[script.get(qid, "no")], qid
    heard = [x for x in t["turns"] if x["heard"]]
    assert all(x["confidence"] is not None for x in heard)
    confirmations = sum(1 for x in t["turns"] if "Is that right?" in x["prompt"])
    assert len(heard) == len(t["answers"]) + confirmations  # nothing misheard beyond what was confirmed
    assert report.timings and all(tm.latency < 1.0 for tm in report.timings)


def test_confidence_is_about_the_meaning_not_the_word(models, vocabulary):
    """"no" and "nope" share the decoder's belief; the answer is not in doubt, so no "is that right?"."""
    plain, by_meaning = VoskRecognizer(models), VoskRecognizer(models, meaning=meaning_of(vocabulary))
    phrases = speech_phrases(vocabulary, ANSWER_INTENTS, False)
    clip = patient_clip(EspeakSynth(VOICE), "no", snr_db=25)
    word_level = listen(WavFileSource.from_clip(clip), plain, phrases, ListenConfig()).hypothesis
    meaning_level = listen(WavFileSource.from_clip(clip), by_meaning, phrases, ListenConfig()).hypothesis
    assert interpret(word_level.text).intent == interpret(meaning_level.text).intent == "no"
    assert meaning_level.confidence >= 0.9 and meaning_level.confidence >= word_level.confidence
    unknown = patient_clip(EspeakSynth(VOICE), "the weather is lovely today", snr_db=25)
    assert listen(WavFileSource.from_clip(unknown), by_meaning, phrases, ListenConfig()).hypothesis.confidence == 0.0


def test_spoken_commands_work_mid_session(models, vocabulary, questionnaire):
    spoken: list[tuple[str, float]] = []

    class Recording(PrintSpeaker):
        def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken:
            spoken.append((text, rate))
            return super().say(text, rate, kind)

    patient = Patient({"blood_clot": "yes"}, first=["say that again", "slower", "help"])
    report = make_loop(models, vocabulary, questionnaire, patient, speaker=Recording(prefix="> ")).run_session()
    intents = [x["interpretation"] for x in report.transcript["turns"] if x["heard"]][:3]
    assert intents == ["repeat", "slower", "help"]
    assert report.outcome == "see_doctor_first"
    assert min(rate for _, rate in spoken) < 1.0  # "slower" slowed the prompts down


def test_silence_and_a_patient_who_walks_away_end_as_ask_staff(models, vocabulary, questionnaire):
    patient = Patient({}, default=None)  # says nothing at all
    source = ScriptedPatientSource(patient.next_line, voice=VOICE, endless_noise=True)
    loop = make_loop(models, vocabulary, questionnaire, patient, source=source,
                     config=LoopConfig(listen=ListenConfig(no_input_seconds=3), abandon_seconds=5))
    report = loop.run_session()
    assert report.abandoned and report.outcome == "ask_staff" and not report.transcript["completed"]
    assert all(not x["heard"] for x in report.transcript["turns"])


def test_kiosk_waits_for_a_start_phrase_then_runs_one_session_per_start(models, vocabulary, questionnaire):
    patient = Patient({}, default="no")
    idle_chatter = iter([["good morning", "hello"]])  # chatter before the start phrase is ignored

    def next_line():
        if patient.dm is None or patient.dm.finished:
            return next(idle_chatter, None)
        return patient.next_line()

    source = ScriptedPatientSource(next_line, voice=VOICE)
    loop = make_loop(models, vocabulary, questionnaire, patient, source=source)
    reports = []
    assert loop.kiosk(sessions=3, on_session=reports.append) == 1  # the audio ran out after one session
    assert [r.outcome for r in reports] == ["no_clear_need"]


# -- WAV file as microphone, through the CLI -------------------------------------


def answers_in_order(questionnaire, script: dict[str, str]) -> list[str]:
    """The spoken answers a session needs, in the order the dialog will ask (found with typed answers)."""
    dm = DialogManager(questionnaire, mode="text")
    dm.start()
    said = []
    while not dm.finished:
        line = script.get(dm.listening_for, "no")
        said.append(line)
        dm.handle(Heard(line))
    return said


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # A recorded answer file cannot reply to "is that right?": no confirmations for these runs.
    (cwd / "config.yaml").write_text("confidence_threshold: 0.0\n")
    env = {**os.environ, "MASSAGE_CHECK_DATA_DIR": str(cwd / "data"), "MASSAGE_CHECK_CONFIG": str(cwd / "config.yaml")}
    if args[0] in ("run", "demo"):
        args = (args[0], "--model", MODEL, *args[1:])
    return subprocess.run([sys.executable, "-m", "massage_check.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_run_with_a_wav_file_as_microphone(tmp_path, questionnaire):
    script = {"has_pain": "yes", "chronic_low_back_pain": "yes"}
    wav = conversation_wav(tmp_path / "patient.wav", answers_in_order(questionnaire, script), voice=VOICE)
    # any rate, stereo: 44.1 kHz two-channel copy of the same answers
    from voice.audio import read_wav, resample

    mono = read_wav(wav)
    st = np.stack([resample(mono.samples, SAMPLE_RATE, 44100)] * 2, axis=1)
    import wave

    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(st.astype("<i2").tobytes())
    for name in ("patient.wav", "stereo.wav"):
        out = tmp_path / f"{name}.json"
        proc = run_cli("run", "--audio-in", str(tmp_path / name), "--no-speak", "--transcript", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        t = json.loads(out.read_text())
        assert (out.stat().st_mode & 0o777) == 0o600  # health information: owner only
        assert t["outcome"] == "likely_to_help" and t["mode"] == "voice", [x["heard"] for x in t["turns"]]
        assert "massage-check says: " in proc.stdout and "Outcome: likely_to_help" in proc.stdout
    # both spoken sessions were stored turn by turn, for staff review
    exported = run_cli("transcripts", "export", "--format", "json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    stored = {s["session_id"]: s for s in json.loads(exported.stdout)["sessions"]}
    for name in ("patient.wav", "stereo.wav"):
        sid = json.loads((tmp_path / f"{name}.json").read_text())["session_id"]
        assert stored[sid]["outcome"] == "likely_to_help" and stored[sid]["mode"] == "voice"
        assert len(stored[sid]["turns"]) >= 10


def test_audio_running_out_ends_the_session_as_silence_would(tmp_path, questionnaire):
    wav = conversation_wav(tmp_path / "short.wav", ["no", "no"], voice=VOICE)
    out = tmp_path / "t.json"
    proc = run_cli("run", "--audio-in", str(wav), "--prompts-dir", str(tmp_path / "prompts"),
                   "--transcript", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = json.loads(out.read_text())
    assert t["ended_by"] == "failures" and t["outcome"] == "ask_staff" and not t["completed"]
    assert list(t["answers"].values()) == ["no", "no"]
    assert len(list((tmp_path / "prompts").glob("*-question.wav"))) >= 3


def test_bad_audio_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "answers.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    proc = run_cli("run", "--audio-in", str(bad), "--no-speak", cwd=tmp_path)
    assert proc.returncode == 2 and "answers.wav: not a PCM WAV file" in proc.stderr


# -- half duplex ----------------------------------------------------------------


class Room(ScriptedPatientSource):
    """A microphone in a small room with the loudspeaker: while the mic is live it hears every prompt.

    Same contract as MicrophoneSource: pause() = deaf, resume() = flush what was
    queued and listen. `half_duplex=False` is the control: a loop (or a source)
    that keeps the microphone open and does not flush.
    """

    def __init__(self, next_line, half_duplex: bool = True):
        super().__init__(next_line, voice=VOICE)
        self.half_duplex = half_duplex
        self.echoed = 0

    def pause(self) -> None:
        if self.half_duplex:
            self._listening = False

    def resume(self) -> None:
        leftover = b"" if self.half_duplex else self._pcm[self._pos:]
        super().resume()
        self._pcm = leftover + self._pcm

    def carry(self, pcm: bytes) -> None:
        if self._listening:
            self._pcm += pcm
            self.echoed += 1


class Loudspeaker(PrintSpeaker):
    def __init__(self, room: Room):
        super().__init__(prefix="> ")
        self.room = room
        self.synth = EspeakSynth("en-us")

    def say(self, text: str, rate: float = 1.0, kind: str = "info") -> Spoken:
        self.room.carry(self.synth.synth(text, rate).to_rate(SAMPLE_RATE).pcm())
        return super().say(text, rate, kind)


@pytest.mark.parametrize("half_duplex", [True, False])
def test_the_skill_never_hears_itself(models, vocabulary, questionnaire, half_duplex):
    patient = Patient({"has_pain": "yes", "chronic_low_back_pain": "yes"})
    room = Room(patient.next_line, half_duplex)
    report = make_loop(models, vocabulary, questionnaire, patient, source=room, speaker=Loudspeaker(room)).run_session()
    heard = [interpret(x["heard"]).intent for x in report.transcript["turns"] if x["heard"]]
    said = [interpret(line).intent for line in patient.said]
    if half_duplex:
        assert room.echoed == 0
        assert report.outcome == "likely_to_help" and heard == said
    else:  # the control shows the test can fail: an open microphone answers with the skill's own words
        assert room.echoed > 0
        assert heard != said


def test_demo_needs_no_hardware_and_prints_the_transcript(tmp_path):
    out = tmp_path / "demo.json"
    proc = run_cli("demo", "--no-speak", "--transcript", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "patient says: say that again" in proc.stdout and "heard: say that again" in proc.stdout
    assert "Outcome: likely_to_help" in proc.stdout and "Transcript:" in proc.stdout
    t = json.loads(out.read_text())
    assert t["mode"] == "demo" and t["outcome"] == "likely_to_help"
    assert t["turns"][0]["interpretation"] == "repeat"
