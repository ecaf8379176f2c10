"""One listening turn: audio blocks in, one utterance (or "nothing heard") out.

How much quiet ends an answer depends on what was heard so far: a whole answer
("no", "that's right") ends after `end_silence` (quick), but text that is not yet
a whole answer ("i don't", "not", unknown speech) gets up to `patient_silence`,
so people who pause inside an answer or speak slowly are not cut off. A caller
that has learned more about the patient (voice.pace) passes a longer quick
silence. The decoder's own endpoint rules (conf/model.conf, 0.5 s at the
earliest) would cut such pauses short, so it never gets more than
`pause_feed_seconds` of a pause. Timing runs on the audio clock (seconds of
audio read), so a WAV file fed faster than real time behaves like a live
microphone, and a lost microphone (no audio) makes the dialog wait instead of
time out.

In a waiting room others talk too. The listener follows the foreground talker:
the loudest sustained level of the turn. Once it is known, a block more than
`background_db` below it is not the patient's speech (but for a word's fading end,
WORD_DECAY): it ends pauses and answers like quiet, and it reaches the decoder as the
room's quiet (hushed: before the answer, and in a pause after HUSH_DECAY), so a
television behind the patient neither keeps an answer open nor adds words to it.
If someone `louder_db` louder than everything so far starts after the gate
opened on quieter talk (the TV, then the patient), the decoder starts again just
before them: what the other people said is dropped. The room's steady talk sets
the noise floor (NoiseFloor), and once a session has heard the patient (their
start phrase or an answer), speech more than `talker_range_db` below their level
(`talker_db`) does not open the gate: a far-away "yes" is not theirs, and an
answer `quieter_db` below it comes out doubtful (confidence at most
QUIETER_CONFIDENCE), so a safety question reads it back instead of taking it.
So does an answer less than `read_back_below_db` above the room's noise floor
(a loud room, talk or noise): that is where the speech model's yes<->no swaps
are, at full confidence, and a read-back costs one turn.

Speech already going on when listening starts, or (on a source that loses
nothing between turns, a file) starting within `continuation_seconds` of the
previous answer's end, is the rest of the previous answer, never an answer to
the new question: the utterance says so (`continues`) and the loop re-reads the
previous answer with it. A file takes no time while a prompt plays, so on it
"soon after the answer" is what "before the question ended" is on a live
microphone.
"""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import numpy as np

from .audio import BLOCK_SECONDS, SAMPLE_RATE, rms_dbfs
from .recognizer import UNK, Hypothesis, Recognizer, Word
from .sources import AudioSource


@dataclass(frozen=True)
class ListenConfig:
    no_input_seconds: float = 8.0  # nothing said for this long: "nothing heard"
    max_utterance_seconds: float = 6.0  # cut off a long monologue after this much speech
    end_silence: float = 0.3  # quiet after a whole answer that ends it (quick)
    patient_silence: float = 1.5  # quiet that ends an answer not yet whole, or unknown speech
    continuation_seconds: float = 2.0  # on a continuous source, speech this soon after an answer is its rest
    pause_feed_seconds: float = 0.3  # the decoder gets at most this much of a pause (its endpoint is 0.5 s; 0.2 lost answers at 10 dB)
    resume_preroll_seconds: float = 0.1  # ... plus this much of it again when speech resumes
    speech_margin_db: float = 7.0  # a block this far above the noise floor is speech (12 dB lost most answers at 5-10 dB SNR)
    min_speech_blocks: int = 2  # ... for this many blocks in a row
    read_timeout: float = 0.25  # how long one blocking read may wait
    preroll_seconds: float = 0.4  # audio before the speech onset that still goes to the decoder
    background_db: float = 15.0  # a block this far below the turn's foreground talker is someone else (or quiet)
    louder_db: float = 6.0  # a talker this much louder than all before them is the patient: decode from them
    louder_after_seconds: float = 0.5  # ... once the decoder has had this much of the others
    talker_range_db: float = 15.0  # speech this far below the patient's known level is someone else's
    quieter_db: float = 7.0  # an answer this far below the patient's known level is in doubt (read back)
    read_back_below_db: float = 15.0  # an answer less than this above the room's noise floor is in doubt (0: never)


@dataclass(frozen=True)
class Utterance:
    """The outcome of one listening turn, with timing for latency measurements."""

    hypothesis: Hypothesis  # text "" = nothing heard
    audio_seconds: float  # audio consumed during the turn
    speech_end_audio: float | None  # audio-clock time the patient stopped speaking
    endpoint_audio: float | None  # audio-clock time the turn was ended
    endpoint_wall: float  # time.monotonic() when the turn was ended (before the final decode)
    reason: str  # "endpoint" | "silence" | "max_length" | "no_input" | "exhausted"
    audio: bytes | None = None  # the turn's 16 kHz PCM, when asked for (keep_audio)
    speech_start_audio: float | None = None  # audio-clock time the speech began
    pauses: tuple[float, ...] = ()  # quiet gaps inside the answer after which speech went on (s)
    continues: bool = False  # the speech went on from the previous answer (see module doc)
    gap: float | None = None  # ... and the quiet between them on the patient's clock (None: unknown)
    level: float | None = None  # the foreground talker's level (dBFS, two blocks held), when heard
    above_floor: float | None = None  # ... and how far above the room's noise floor it was (dB), when heard

    @property
    def heard(self) -> bool:
        return bool(self.hypothesis.text)

    @property
    def endpoint_delay(self) -> float:
        """Audio time from the end of speech to the endpoint decision."""
        if self.speech_end_audio is None or self.endpoint_audio is None:
            return 0.0
        return max(0.0, self.endpoint_audio - self.speech_end_audio)

    @property
    def speech_seconds(self) -> float:
        """How long the patient spoke, pauses left out."""
        if self.speech_start_audio is None or self.speech_end_audio is None:
            return 0.0
        return max(0.0, self.speech_end_audio - self.speech_start_audio - sum(self.pauses))

    @property
    def trailing_quiet(self) -> float:
        """Audio read after the speech ended: where the patient's clock stands at the next turn."""
        if self.speech_end_audio is None:
            return self.audio_seconds
        return max(0.0, self.audio_seconds - self.speech_end_audio)


def ends_with_phrase(text: str, phrases: Sequence[str] | None) -> bool:
    """True if `text` ends with a whole accepted phrase: "i don't" is on its way to "i don't know"."""
    words = text.split()
    if not words or words[-1] == UNK:
        return False
    if not phrases:
        return True
    return any(words[-len(p.split()):] == p.split() for p in phrases if p)


class NoiseFloor:
    """Background level: the higher of the 10th percentile of the last ~2 s of block levels
    (a room's quiet) and the median of the last ~8 s (a room's talk: a television or people
    talking on and on are the background, and a patient starts out of it, louder).

    Kept across turns by the caller so a turn that starts mid-word still knows
    what quiet sounds like in this room. Digital silence (a muted or virtual
    device gives exact zeros) says nothing about the room and is left out;
    until a real level is seen the floor is a quiet room's. An answer is short
    against 8 s, so the patient's own speech hardly moves the median.
    """

    QUIET_ROOM_DB = -60.0
    DIGITAL_SILENCE_DB = -90.0
    TALKY_DB = 5.0   # steady noise has its median within ~2 dB of its 10th percentile; talk far more
    # (Opening 4 dB above the median instead of 7 let the room's talk open the gate and lost answers
    # 10-15 dB above a talking room (tests/test_voice_listener_talkers.py); it would have kept 3 more
    # of 104 answers 5 dB above a murmur-like modulated noise, which is "talk" by this measure.)

    def __init__(self, initial_db: float | None = None, window: int = 40, talk_window: int = 160):
        self.levels: deque[float] = deque(maxlen=window)
        self.talk: deque[float] = deque(maxlen=talk_window)
        if initial_db is not None:
            self.levels.append(initial_db)
            self.talk.append(initial_db)

    def update(self, level: float, talk: bool = True) -> float:
        """Take a block's level; `talk` False while a turn's speech is being decoded (the patient's
        own words do not make the room talkative)."""
        if level > self.DIGITAL_SILENCE_DB:
            self.levels.append(level)
            if talk:
                self.talk.append(level)
        return self.value

    @property
    def quiet(self) -> float:
        """The room at its quietest: the 10th percentile of the last ~2 s."""
        return sorted(self.levels)[len(self.levels) // 10] if self.levels else self.QUIET_ROOM_DB

    @property
    def value(self) -> float:
        """The quiet level, or in a talkative room (median TALKY_DB or more above it) the median."""
        if not self.levels:
            return self.QUIET_ROOM_DB
        talk = sorted(self.talk)[len(self.talk) // 2] if self.talk else self.quiet
        return talk if talk - self.quiet >= self.TALKY_DB else self.quiet


class Foreground:
    """The level of the turn's foreground talker: the loudest level held for two blocks in a
    row since the decoder started (a click or a bang is one block). A level `background_db`
    below it is background; a run of two blocks `louder_db` above it is a louder talker."""

    def __init__(self, background_db: float, louder_db: float):
        self.background_db, self.louder_db = background_db, louder_db
        self.level: float | None = None
        self.last: float | None = None
        self.louder_run = 0

    def restart(self, level: float | None) -> None:
        self.level = self.last = level
        self.louder_run = 0

    def hear(self, level: float, loud: bool) -> bool:
        """Take one block's level; True when a louder talker has just begun."""
        held = min(level, self.last) if self.last is not None else level
        self.last = level
        if self.level is not None and loud and level >= self.level + self.louder_db:
            self.louder_run += 1
        else:
            self.louder_run = 0
        louder = self.louder_run >= 2
        if loud and (self.level is None or held > self.level):
            self.level = held          # a louder talker raises the level at once: they are heard once
        return louder

    def background(self, level: float) -> bool:
        return self.level is not None and level < self.level - self.background_db


class Patience(Protocol):
    def quiet(self, text: str, whole: bool, speech_seconds: float) -> float:
        """Seconds of quiet that end an answer heard so far as `text` (`whole`: a whole reply)."""


@dataclass
class _Energy:
    run: int = 0
    speech: bool = False
    last_loud: float | None = None


WORD_DECAY = 0.25  # after the foreground talker's last block, quieter speech this long is their word fading
HUSH_DECAY = 0.15  # ... and others' speech in a pause past this is hushed (0.25 cost answers in babble)
MIN_PAUSE = 0.2  # quiet inside speech at least this long is a pause (words at 0.6x are <= 0.05 s apart)


def listen(
    source: AudioSource,
    recognizer: Recognizer,
    phrases: Sequence[str] | None,
    cfg: ListenConfig = ListenConfig(),
    stop: Callable[[], bool] | None = None,
    wall_timeout: float | None = None,
    floor: NoiseFloor | None = None,
    keep_audio: bool = False,
    whole: Callable[[str], bool] | None = None,
    patience: Patience | None = None,
    after_answer: float | None = None,
    talker_db: float | None = None,
) -> Utterance:
    """Listen until an answer, silence, or the source runs out.

    `stop` lets a caller (kiosk shutdown) end the wait early; `wall_timeout`
    bounds waiting in wall-clock seconds (abandonment when the mic delivers nothing).
    `whole(text)` says whether text is a whole reply (the dialog's reading; besides, it must
    end in an accepted phrase); `patience` says how much quiet ends it (what the session learned
    about the patient, voice.pace; without it `end_silence` or `patient_silence`);
    `after_answer` is the time on the patient's clock since the previous answer ended (None:
    no answer to continue); `talker_db`, the patient's level heard earlier in the session
    (Utterance.level; None: not known yet).
    """
    recognizer.begin(phrases)
    floor = floor or NoiseFloor()
    quick = cfg.end_silence
    patient = max(quick, cfg.patient_silence)
    pos = 0.0  # audio clock
    rec_base = 0.0  # audio-clock time of the recognizer's last reset (its word times start there)
    energy = _Energy()
    speech_start: float | None = None
    has_text = False
    text = ""
    stale = True  # audio reached the decoder since `text` was read
    pauses: list[float] = []
    continues = False
    gap: float | None = None
    wall_start = time.monotonic()
    block_s = 0.0
    kept: list[bytes] | None = [] if keep_audio else None

    def speech_end(hyp: Hypothesis) -> float | None:
        # The level says best where speech stopped; word times (small static graphs align
        # them loosely) are the fallback when the level never rose above the noise.
        if energy.last_loud is not None:
            return energy.last_loud
        end = hyp.speech_end
        return rec_base + end if end is not None and rec_base + end <= pos else None

    def audio() -> bytes | None:
        return b"".join(kept) if kept is not None else None

    def utterance(hyp: Hypothesis, decided: float, why: str) -> Utterance:
        heard = bool(hyp.text)
        level = fg.level if heard else None
        above = level - floor.value if level is not None else None
        if level is not None and (
                (talker_db is not None and level < talker_db - cfg.quieter_db)   # far below the patient
                or above < cfg.read_back_below_db):     # a loud room: where swaps happen (finding 58)
            hyp = doubtful(hyp)
        return Utterance(hyp, pos, speech_end(hyp) if heard else None, pos if heard else None, decided, why,
                         audio(), speech_start if heard else None, tuple(pauses) if heard else (),
                         continues and heard, gap if heard and continues else None, level, above)

    def finish(why: str) -> Utterance:
        decided = time.monotonic()  # latency counts the final decode too
        return utterance(join_hypotheses(segments + [recognizer.result()]), decided, why)

    def quiet_needed(text: str) -> float:
        whole_now = ends_with_phrase(text, phrases) and (whole is None or whole(text))
        if patience is None:
            return quick if whole_now else patient
        spoken = (energy.last_loud or pos) - (speech_start or 0.0) - sum(pauses)
        return patience.quiet(text, whole_now, spoken)

    segments: list[Hypothesis] = []  # parts the decoder's own endpoint closed inside one answer
    stashed: float | None = None  # when the first of them was closed (the wait after it is bounded)

    feeding = False  # the decoder only gets audio from just before speech onward
    preroll: deque[tuple[bytes, float]] = deque(maxlen=max(1, int(cfg.preroll_seconds / BLOCK_SECONDS)))
    recent: deque[tuple[bytes, float]] = deque(maxlen=preroll.maxlen)  # fed again when a louder talker starts
    fg = Foreground(cfg.background_db, cfg.louder_db)
    fg_last = -1.0  # audio-clock time of the last block at the foreground talker's level

    def other(lv: float) -> bool:
        """Speech, but not the patient's: below the turn's foreground or far below the patient."""
        return lv > floor.quiet + cfg.speech_margin_db and (
            fg.background(lv) or (talker_db is not None and lv < talker_db - cfg.talker_range_db))

    hush_rng = np.random.default_rng(7)

    def hushed(block: bytes) -> bytes:
        """Someone else's speech, heard by the decoder as the room's quiet (its 10th percentile)."""
        n = len(block) // 2
        rms = 32768.0 * 10 ** (floor.quiet / 20)
        noise = hush_rng.normal(0.0, rms, n)
        return noise.round().clip(-32768, 32767).astype("<i2").tobytes()

    def feed_lead(blocks: Sequence[tuple[bytes, float]]) -> bool:
        """The audio before an onset: other people's speech in it is hushed, but for the last
        `resume_preroll_seconds` (a soft first consonant)."""
        keep = len(blocks) - held.maxlen
        fired = False
        for i, (block, lv) in enumerate(blocks):
            if kept is not None:
                kept.append(block)
            fired = feed(hushed(block) if i < keep and other(lv) else block) or fired
        return fired
    held: deque[bytes] = deque(maxlen=max(1, int(round(cfg.resume_preroll_seconds / BLOCK_SECONDS))))

    def feed(block: bytes) -> bool:
        nonlocal stale
        stale = True
        return recognizer.accept(dither_digital_silence(block))

    while True:
        if stop is not None and stop():
            return finish("stopped")
        if wall_timeout is not None and time.monotonic() - wall_start > wall_timeout:
            return finish("no_input")
        pcm = source.read(cfg.read_timeout)
        if pcm is None:
            if source.exhausted:
                return finish("exhausted")
            continue
        block_s = len(pcm) / 2 / SAMPLE_RATE
        pos += block_s
        level = rms_dbfs(pcm)
        if not floor.levels and level > NoiseFloor.DIGITAL_SILENCE_DB:
            floor.update(level)  # the first real block: quiet until proven otherwise
        loud = level > floor.value + cfg.speech_margin_db
        floor.update(level, talk=not feeding)
        recent.append((pcm, level))
        louder = fg.hear(level, loud) if feeding else False
        if loud and not fg.background(level):
            fg_last = pos
        elif loud and pos - fg_last > WORD_DECAY:
            loud = False  # far below this turn's talker, and not the fading end of their word: the room
        if talker_db is not None and level < talker_db - cfg.talker_range_db:
            loud = False  # far below the patient heard earlier: the room, not them
        if louder and pos - rec_base - len(recent) * block_s >= cfg.louder_after_seconds:
            # Someone much louder than all the decoder heard so far: the patient after the
            # room's talk. Decode again from just before them.
            recognizer.begin(phrases)
            rec_base = pos - len(recent) * block_s
            fg.restart(level)
            if kept is not None:
                kept.clear()
            feed_lead(list(recent))
            energy = _Energy(run=energy.run, speech=True, last_loud=pos)
            speech_start = max(0.0, pos - energy.run * block_s)
            has_text, text, stale = False, "", True
            segments.clear()
            stashed = None
            pauses.clear()
            held.clear()
            continue
        if loud:
            if energy.speech and energy.last_loud is not None and pos - block_s - energy.last_loud >= MIN_PAUSE:
                pauses.append(round(pos - block_s - energy.last_loud, 3))
            energy.run += 1
            energy.last_loud = pos
            if energy.run >= cfg.min_speech_blocks and not energy.speech:
                energy.speech = True
                speech_start = max(0.0, pos - energy.run * block_s)
                if after_answer is not None:
                    # Begun before listening did, or this soon after the last answer: its rest.
                    gap = after_answer + speech_start if speech_start > 0 else None
                    continues = gap is None or gap < cfg.continuation_seconds
        else:
            energy.run = 0
        if not feeding:
            # Silence never reaches the decoder: long quiet stretches would only grow its
            # lattice (and cost CPU). Speech opens the gate, with a little audio from before.
            preroll.append((pcm, level))
            if not loud:
                if pos >= cfg.no_input_seconds:
                    return finish("no_input")
                continue
            feeding = True
            fg.restart(level)
            rec_base = pos - len(preroll) * block_s
            fired = feed_lead(list(preroll))
            preroll.clear()
        else:
            if kept is not None:
                kept.append(pcm)
            after_loud = pos - (energy.last_loud or pos)
            if loud:  # speech again after a pause: the decoder hears the pause's last moment too
                fired = False
                for block in held:
                    fired = feed(block) or fired
                held.clear()
                fired = feed(pcm) or fired
            elif after_loud > cfg.pause_feed_seconds + block_s / 2 and (other(level) or not has_text):
                # others talking in a long pause, or the decoder has not caught up with the words
                # yet (it needs the audio after a word to finish it): it hears the room's quiet,
                # and may end on it as it would in a quiet room
                fired = feed(hushed(pcm) if other(level) else pcm)
            elif after_loud > cfg.pause_feed_seconds + block_s / 2:
                held.append(pcm)  # a long pause would trip the decoder's own endpoint
                fired = False
            else:  # a pause's first moments; others talking in it past a word's fading end are hushed
                fired = feed(hushed(pcm) if pos - fg_last > HUSH_DECAY and other(level) else pcm)
        if fired:
            decided = time.monotonic()
            hyp = recognizer.result()
            fired_on_noise = not hyp.text and not segments
            if hyp.text:
                so_far = join_hypotheses(segments + [hyp])
                if quiet_needed(so_far.text) <= quick or (stashed is not None and pos - stashed >= patient):
                    return utterance(so_far, decided, "endpoint")
                # The decoder took a pause for the end, but what it heard is not a whole answer
                # yet: keep its words and go on listening (the recognizer starts a new segment).
                segments.append(hyp)
                stashed = pos if stashed is None else stashed
                text, has_text, stale = so_far.text, True, False
        else:
            fired_on_noise = False
        if energy.speech and not fired_on_noise:
            quiet_for = pos - (energy.last_loud or pos)
            if stale and ((not has_text and int(round(pos / block_s)) % 2 == 0) or quiet_for >= quick):
                text, stale = " ".join(h.text for h in segments + [Hypothesis(recognizer.partial())] if h.text), False
                has_text = bool(text)
            if has_text and quiet_for >= quick and quiet_for >= quiet_needed(text):
                return finish("silence")
            if stashed is not None and pos - stashed >= patient:
                return finish("endpoint")  # noise the level cannot tell from speech: trust the decoder
            if speech_start is not None and pos - speech_start >= cfg.max_utterance_seconds:
                return finish("max_length")
            if has_text or quiet_for < max(1.0, cfg.end_silence * 3):
                continue
        elif not fired_on_noise and pos - (energy.last_loud or pos) < max(1.0, cfg.end_silence * 3):
            continue  # a short sound: wait a little for speech to follow
        # Noise the decoder endpointed on, or a cough or bang with no words: start clean and
        # close the gate again. The audio clock keeps counting for the no-input timeout.
        recognizer.begin(phrases)
        if kept is not None:
            kept.clear()
        energy = _Energy()
        speech_start = None
        has_text, text, stale = False, "", True
        segments.clear()
        stashed = None
        pauses.clear()
        held.clear()
        continues, gap = False, None
        feeding = False
        fg.restart(None)
        if pos >= cfg.no_input_seconds:
            return finish("no_input")


QUIETER_CONFIDENCE = 0.3  # below the dialog's read-back threshold (0.6)


def doubtful(hyp: Hypothesis) -> Hypothesis:
    """The same words at most QUIETER_CONFIDENCE sure: heard much quieter than the patient speaks,
    they may be someone else's across the room."""
    return dataclasses.replace(hyp, words=tuple(dataclasses.replace(w, conf=min(w.conf, QUIETER_CONFIDENCE))
                                                for w in hyp.words))


def join_hypotheses(parts: Sequence[Hypothesis]) -> Hypothesis:
    """One answer from the segments the decoder closed inside it. The speech model never mixes
    unknown speech with answers in one utterance, so neither does the join: unknown speech in one
    part and words in another is unknown ("[unk]" + "i think so" may be "i don't ... think so")."""
    heard = [h for h in parts if h.text]
    if len(heard) <= 1:
        return heard[0] if heard else (parts[-1] if parts else Hypothesis(""))
    margins = [h.margin for h in heard if h.margin is not None]
    words = tuple(w for h in heard for w in h.words)
    unknown = [all(t == UNK for t in h.text.split()) for h in heard]
    if any(unknown) and not all(unknown):
        end = max((w.end for w in words), default=0.0)
        return Hypothesis(UNK, (Word(UNK, 0.0, words[0].start if words else 0.0, end),), False,
                          min(margins) if margins else None)
    return Hypothesis(" ".join(h.text for h in heard), words, any(h.in_scope for h in heard),
                      min(margins) if margins else None)


ZERO_RUN = 32   # samples (2 ms at 16 kHz) of exact zeros: a stream gap, not a waveform crossing zero


def dither_digital_silence(pcm: bytes) -> bytes:
    """Digital silence (a muted or virtual device, or the first milliseconds of a new stream) gives
    the decoder features it never trained on: 40 ms of zeros before a "no" made it "yeah no". A block
    of (near) silence, and any run of 2 ms or more of exact zeros inside a block, get quiet-room noise
    (about -70 dBFS); real sound, however quiet, passes unchanged."""
    x = np.frombuffer(pcm, dtype="<i2")
    if not len(x):
        return pcm
    if int(np.abs(x).max()) <= 1:
        fill = np.ones(len(x), dtype=bool)
    else:
        edges = np.diff(np.concatenate(([0], (x == 0).astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        fill = np.zeros(len(x), dtype=bool)
        for s0, s1 in zip(starts, ends):
            if s1 - s0 >= ZERO_RUN:
                fill[s0:s1] = True
        if not fill.any():
            return pcm
    noise = np.random.default_rng(len(x)).normal(0.0, 8.0, len(x))
    return np.where(fill, x + noise, x).round().clip(-32768, 32767).astype("<i2").tobytes()

