"""Voice adapters on their own: audio conversion, WAV input, speech output, the microphone queue.

Real espeak-ng, real pyttsx3, real PortAudio. The only stand-in is a fake
sounddevice stream where a test needs a device to misbehave on cue (overflow).
"""
from __future__ import annotations

import io
import logging
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voice.audio import (SAMPLE_RATE, AudioFormatError, Clip, StreamResampler, read_wav, resample, rms_dbfs,
                         write_wav)
from voice.sources import AudioUnavailable, MicrophoneSource, WavFileSource, resolve_input_device
from voice.speaker import (AudioSpeaker, EspeakSynth, PrintSpeaker, Pyttsx3Synth, VoiceNotFound, WavDirSpeaker,
                           wpm_for)


def tone(freq: float, rate: int, seconds: float = 0.5, amp: float = 8000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spec)])


# -- audio conversion ------------------------------------------------------


def test_resample_keeps_pitch_and_length():
    y = resample(tone(440, 48000), 48000, SAMPLE_RATE)
    assert len(y) == 8000
    assert abs(dominant_freq(y, SAMPLE_RATE) - 440) < 5


def test_downsampling_filters_tones_above_the_new_nyquist_instead_of_aliasing():
    # 12 kHz at 48 kHz would alias to 4 kHz at 16 kHz without the low-pass filter.
    y = resample(tone(12000, 48000), 48000, SAMPLE_RATE)
    assert rms_dbfs(y) < rms_dbfs(tone(12000, 48000)) - 30


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_microphone_blocks_resample_without_seams(rate):
    """A 44.1/48 kHz microphone's 50 ms blocks, converted one by one, equal converting the whole stream."""
    x = tone(440, rate, 2.0)
    mic = MicrophoneSource()
    mic._device_rate, mic._channels = rate, 2
    mic._resampler = StreamResampler(rate)
    stereo = np.stack([x, x], axis=1).astype("<i2")
    step = int(rate * 0.05)
    blocks = b"".join(mic.convert(stereo[i:i + step].tobytes()) for i in range(0, len(x), step))
    whole = StreamResampler(rate).process(x)
    y = np.frombuffer(blocks, dtype="<i2")
    assert np.array_equal(y, whole)
    assert abs(len(y) - 2 * SAMPLE_RATE) <= 1 and abs(dominant_freq(y, SAMPLE_RATE) - 440) < 5


def write_raw_wav(path: Path, data: np.ndarray, rate: int, channels: int, width: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def test_read_wav_mixes_stereo_and_converts_8_bit(tmp_path):
    left, right = tone(300, 22050), tone(300, 22050)
    stereo = np.stack([left, right], axis=1)
    write_raw_wav(tmp_path / "s.wav", stereo, 22050, 2, 2)
    clip = read_wav(tmp_path / "s.wav")
    assert clip.rate == 22050 and clip.samples.ndim == 1
    assert np.allclose(clip.samples, left, atol=1)
    u8 = ((tone(300, 8000) // 256) + 128).astype(np.uint8)
    write_raw_wav(tmp_path / "u8.wav", u8, 8000, 1, 1)
    clip8 = read_wav(tmp_path / "u8.wav").to_rate(SAMPLE_RATE)
    assert abs(dominant_freq(clip8.samples, SAMPLE_RATE) - 300) < 10


def test_bad_audio_files_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(AudioFormatError, match="no such audio file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "notes.wav").write_text("this is not audio")
    with pytest.raises(AudioFormatError, match=r"notes\.wav: not a PCM WAV file.*sox"):
        read_wav(tmp_path / "notes.wav")


# -- WAV file as microphone -------------------------------------------------


def test_wav_source_is_consumed_only_while_listening(tmp_path):
    write_wav(tmp_path / "a.wav", Clip(tone(200, 44100, 1.0), 44100))
    src = WavFileSource(tmp_path / "a.wav")
    first = src.read(0.1)
    assert first is not None and len(first) == 2 * 800  # 50 ms at 16 kHz, converted from 44.1 kHz
    src.pause()
    assert src.read(0.1) is None and src.position_seconds == pytest.approx(0.05)
    src.resume()
    blocks = 1
    while src.read(0.1) is not None:
        blocks += 1
    assert blocks == 20 and src.exhausted


# -- speech output ------------------------------------------------------------


def test_espeak_synthesis_is_real_speech_and_rate_changes_duration():
    synth = EspeakSynth("en-us")
    normal = synth.synth("Have you had a blood clot in the last three months?")
    slow = synth.synth("Have you had a blood clot in the last three months?", rate=0.6)
    assert normal.rate == 22050 and normal.seconds > 1.5
    assert rms_dbfs(normal.samples) > -40
    assert slow.seconds > normal.seconds * 1.3
    assert wpm_for(0.01) == 80 and wpm_for(10) == 320  # clamped to what espeak-ng can say clearly


def test_unknown_voice_is_an_error_not_silently_ignored():
    with pytest.raises(VoiceNotFound, match="no voice 'klingon-x'.*espeak-ng --voices"):
        EspeakSynth("klingon-x")
    with pytest.raises(VoiceNotFound, match="pyttsx3 has no voice 'klingon-x'"):
        Pyttsx3Synth("klingon-x")


def test_pyttsx3_synth_waits_for_the_whole_file_and_fresh_engines_do_not_poison_each_other(capsys):
    synth = Pyttsx3Synth()
    a = synth.synth("yes")
    b = synth.synth("Please answer yes or no after the tone.")
    assert a.seconds > 0.2 and b.seconds > a.seconds * 2
    assert rms_dbfs(b.samples) > -40
    assert "Audio saved" not in capsys.readouterr().out  # pyttsx3's chatter is kept off stdout


def test_speaker_falls_back_to_printing_when_playback_is_impossible(caplog):
    out = io.StringIO()
    speaker = AudioSpeaker(EspeakSynth("en-us"), device="no-such-output-device-xyz",
                           fallback=PrintSpeaker(out), max_failures=2, retry_after=60)
    with caplog.at_level(logging.WARNING, logger="voice.speaker"):
        first = speaker.say("Question one?")
        second = speaker.say("Question two?")
        third = speaker.say("Question three?")
    assert [s.how for s in (first, second, third)] == ["printed"] * 3
    assert first.error and second.error and third.error is None  # third: not even tried (backed off)
    assert out.getvalue().splitlines() == ["massage-check says: Question one?", "massage-check says: Question two?",
                                           "massage-check says: Question three?"]
    assert "speech output failed" in caplog.text


def test_speaker_reports_when_playback_started_and_ended_and_caches_prompts():
    played: list[Clip] = []

    def play(clip: Clip) -> float:  # the sound card boundary: record, "play" for the clip's duration
        played.append(clip)
        return 123.0

    speaker = AudioSpeaker(EspeakSynth("en-us"), play=play, volume=0.5, cache_size=2)
    s = speaker.say("Do you have pain?", 1.0)
    speaker.say("Do you have pain?", 1.0)
    speaker.say("Do you have pain?", 0.8)
    assert s.how == "played" and s.started == 123.0 and s.ended >= s.started - 1e9
    assert len(speaker.cache) == 2 and played[0] is played[1]
    full = EspeakSynth("en-us").synth("Do you have pain?")
    assert np.abs(played[0].samples).max() <= np.abs(full.samples).max() * 0.5 + 1


def test_prompts_dir_gets_one_wav_per_prompt(tmp_path, capsys):
    sp = WavDirSpeaker(tmp_path / "prompts", EspeakSynth("en-us"))
    sp.say("Hello.", kind="info")
    sp.say("Any pain?", kind="question")
    files = sorted(p.name for p in (tmp_path / "prompts").iterdir())
    assert files == ["000-info.wav", "001-question.wav"]
    assert read_wav(tmp_path / "prompts" / "001-question.wav").seconds > 0.3
    assert "Any pain?" in capsys.readouterr().out


# -- microphone (PortAudio boundary) ------------------------------------------


class Status:
    def __init__(self, overflow: bool):
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


def test_mic_callback_counts_overflows_and_drops_but_never_fails(caplog):
    mic = MicrophoneSource(queue_seconds=0.1, guard_seconds=0.0)  # a 2-block queue
    mic._listening = True
    block = np.zeros(800, np.int16).tobytes()
    for i in range(6):
        mic._callback(block, 800, None, Status(overflow=(i == 0)))
    assert mic.stats.overflows == 1 and mic.stats.dropped == 4
    mic._stream = object()  # pretend open, so read() does not try to reopen
    mic._last_block = float("inf")
    with caplog.at_level(logging.WARNING, logger="voice.sources"):
        assert mic.read(0.01) == block
    assert "1 input overflow(s), 4 block(s) dropped" in caplog.text


def test_mic_is_deaf_while_paused_and_during_the_guard_interval():
    mic = MicrophoneSource(guard_seconds=30.0)
    block = b"\x01\x00" * 800
    mic._callback(block, 800, None, None)  # not listening yet
    mic.resume()  # listening, but only after the guard interval
    mic._callback(block, 800, None, None)
    assert mic._queue.qsize() == 0
    mic.guard_seconds = 0.0
    mic.resume()
    mic._callback(block, 800, None, None)
    mic.pause()
    mic._callback(block, 800, None, None)
    assert mic._queue.qsize() == 1
    mic._callback(block, 800, None, None)
    mic.resume()  # resuming flushes what was queued before
    assert mic._queue.qsize() == 0


class FakeSD:
    """Device list only: for name/index resolution."""

    def __init__(self, devices):
        self.devices = devices

    def query_devices(self):
        return self.devices


def test_devices_resolve_by_index_or_name_with_clear_errors():
    sd = FakeSD([{"name": "HDMI out", "max_input_channels": 0},
                 {"name": "USB PnP Sound Device: Audio (hw:1,0)", "max_input_channels": 1},
                 {"name": "pulse", "max_input_channels": 32}])
    assert resolve_input_device(sd, "usb pnp") == 1
    assert resolve_input_device(sd, "2") == 2 and resolve_input_device(sd, None) is None
    with pytest.raises(AudioUnavailable, match="device 0 does not exist or has no input"):
        resolve_input_device(sd, 0)
    with pytest.raises(AudioUnavailable, match="no input device named 'webcam'.*1: USB PnP"):
        resolve_input_device(sd, "webcam")
    with pytest.raises(AudioUnavailable, match="no microphone found"):
        resolve_input_device(FakeSD([]), None)


def test_no_sound_card_gives_a_clear_error(tmp_path):
    """Real PortAudio on a machine with no card (no PulseAudio server reachable either)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "massage_check.cli", "run", "--no-speak", "--no-store"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "no microphone found" in proc.stderr and "--audio-in" in proc.stderr


def test_pyttsx3_prompts_prepared_in_the_background_do_not_deadlock():
    """Background prewarming and speaking at once: pyttsx3's driver is global, calls are serialised."""
    speaker = AudioSpeaker(Pyttsx3Synth(), play=lambda clip: 0.0)
    worker = speaker.prewarm(["One.", "Two.", "Three."])
    spoken = speaker.say("Hello there.")
    worker.join(timeout=60)
    assert not worker.is_alive() and spoken.how == "played"
    assert len(speaker.cache) == 4
