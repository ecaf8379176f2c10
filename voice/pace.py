"""How long to wait for this patient: what a session learns about the way they speak.

The listener ends a whole answer after a quick silence (0.3 s), which keeps replies prompt for most
people but cuts off someone who pauses inside an answer ("no ... not really") or speaks slowly (after
a stroke, with Parkinson's or MS, or simply old). A cut answer's rest is never taken as the next
answer (voice.listener, `Utterance.continues`), but the kiosk has already started talking over the
patient. So the session grows more patient, never less, on each sign that it needs to: a pause heard
inside an answer, an answer that went on after it was taken, slow speech, or "slower". Slow speech
also counts within the answer being heard, so a slowly spoken first "no" is not cut either. One
`Pace` per session: the next patient starts quick again.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from .listener import Utterance

log = logging.getLogger(__name__)

_VOWELS = re.compile(r"[aeiouy]+")


def syllables(text: str) -> int:
    """A rough syllable count (vowel groups, a final silent e): enough to tell slow speech."""
    count = 0
    for word in text.lower().split():
        if word.startswith("["):
            continue
        groups = _VOWELS.findall(word)
        n = len(groups)
        if n > 1 and word.endswith("e") and word[-2] not in "aeiouyl" and len(groups[-2]) == 1:
            n -= 1  # "sure", "nope"
        count += max(1, n)
    return count


@dataclass
class Pace:
    """The quiet that ends an answer in this session, and why it grew."""

    quick: float = 0.3  # after a whole answer, until the session learns otherwise
    longest: float = 1.5  # after an answer not yet whole or unknown, and the most it ever grows to
    slow: float = 1.2  # after a whole answer spoken slowly (0.6x espeak-ng: 0.65-0.8 s for "no")
    margin: float = 0.3  # more than the longest pause heard inside an answer
    # Slow speech: longer than base + per syllable x syllables. As the listener measures it, four
    # espeak-ng voices say "no" in 0.35-0.40 s at normal speed, 0.45-0.55 s at 0.8x and 0.65-0.75 s
    # at 0.6x, "not sure" in 0.65-0.70, 0.80-0.90 and 1.05-1.25 s: 0.6x is above the line, 0.8x
    # below. Some voices speak this slowly at their normal speed (flite's kal16 "yes": 0.70 s).
    base_seconds: float = 0.25
    syllable_seconds: float = 0.33
    learned: float = 0.0
    why: list[str] = field(default_factory=list)

    @property
    def end_silence(self) -> float:
        """Quiet that ends a whole answer from now on."""
        return min(self.longest, max(self.quick, self.learned))

    def is_slow(self, text: str, speech_seconds: float) -> bool:
        n = syllables(text)
        return n > 0 and speech_seconds > self.base_seconds + self.syllable_seconds * n

    def quiet(self, text: str, whole: bool, speech_seconds: float) -> float:
        """Quiet that ends the answer being heard: `text` so far, `whole` if it is a whole reply."""
        if not whole:
            return max(self.longest, self.end_silence)
        if self.is_slow(text, speech_seconds):
            return max(self.end_silence, min(self.longest, self.slow))
        return self.end_silence

    def heard(self, utt: Utterance) -> None:
        """Learn from one heard answer."""
        if not utt.heard:
            return
        for pause in utt.pauses:
            self._grow(pause + self.margin, f"a {pause:.2f} s pause inside an answer")
        if utt.continues:
            if utt.gap is not None:
                self._grow(utt.gap + self.margin, f"an answer went on after {utt.gap:.2f} s")
            else:
                self._grow(self.longest, "an answer was still going on when listening resumed")
        if self.is_slow(utt.hypothesis.text, utt.speech_seconds):
            self._grow(self.slow, f"slow speech ({utt.speech_seconds:.2f} s for {utt.hypothesis.text!r})")

    def asked_slower(self) -> None:
        """Someone who needs the prompts slower is likely to need more time to answer too."""
        self._grow(self.slow, "the patient asked for slower speech")

    def _grow(self, seconds: float, why: str) -> None:
        seconds = min(self.longest, round(seconds, 3))
        if seconds > self.end_silence:
            self.learned = seconds
            self.why.append(why)
            log.info("waiting %.2f s of quiet after an answer from now on: %s", self.end_silence, why)
