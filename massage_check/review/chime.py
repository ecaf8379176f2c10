"""The desk's alert sound: a short two-note chime, made here so no audio file ships.

Why generated: the page must work offline with no external files, and a few
lines of arithmetic beat shipping (and licensing) a recording.
"""
from __future__ import annotations

import io
import math
import wave
from functools import lru_cache

RATE = 16000
NOTES = ((880.0, 0.18), (660.0, 0.32))   # Hz, seconds: a falling "ding-dong"
VOLUME = 0.5


@lru_cache(maxsize=1)
def chime_wav() -> bytes:
    """16-bit mono WAV bytes, each note with a soft attack and decay (no clicks)."""
    samples = bytearray()
    for freq, seconds in NOTES:
        n = int(RATE * seconds)
        for i in range(n):
            envelope = min(1.0, i / (0.01 * RATE)) * math.exp(-4.0 * i / n)
            value = int(32767 * VOLUME * envelope * math.sin(2 * math.pi * freq * i / RATE))
            samples += value.to_bytes(2, "little", signed=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(samples))
    return buf.getvalue()
