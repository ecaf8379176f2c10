"""Staff PIN: salted scrypt hash in the config file, and a wrong-PIN rate limiter.

Why scrypt with a fixed, modest cost: a short PIN is weak against offline
guessing, so the hash must be slow and memory-hard, but a Raspberry Pi 4 must
still check it in well under a second. The limiter is global (not per address):
on a waiting-room machine every guess comes from the same place anyway.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1          # 16 MiB, ~50-100 ms on a Pi 4
MIN_PIN_LENGTH = 6
MAX_PIN_LENGTH = 128


class PinError(ValueError):
    """The PIN (or the stored hash) is unusable; the message says why."""


def check_pin_rules(pin: str) -> None:
    if len(pin) < MIN_PIN_LENGTH:
        raise PinError(f"the PIN must have at least {MIN_PIN_LENGTH} characters (digits are fine)")
    if len(pin) > MAX_PIN_LENGTH:
        raise PinError(f"the PIN must have at most {MAX_PIN_LENGTH} characters")
    if len(set(pin)) == 1 or pin in "01234567890" or pin in "09876543210":
        raise PinError("the PIN is too easy to guess (repeated or consecutive digits)")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    """'scrypt$N$r$p$salt$hash' (base64), safe to keep in the config file."""
    check_pin_rules(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, stored: str) -> bool:
    """Constant-time check of `pin` against a hash_pin() string."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            raise ValueError(scheme)
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(pin.encode("utf-8")[:4 * MAX_PIN_LENGTH], salt=base64.b64decode(salt, validate=True),
                             n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError) as exc:
        raise PinError("review_pin_hash in the config file is not a valid PIN hash: "
                       "set it again with `massage-check review set-pin`") from exc
    return hmac.compare_digest(got, expected)


def check_hash_format(stored: str) -> None:
    """Raise PinError now (at start-up) rather than at the first login."""
    verify_pin("x" * MIN_PIN_LENGTH, stored)


@dataclass
class Attempt:
    allowed: bool
    retry_after: float = 0.0


class LoginLimiter:
    """After `free` wrong PINs in a row, each further try waits base * 2^k seconds (capped)."""

    def __init__(self, free: int = 5, base: float = 30.0, cap: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.base, self.cap, self.clock = free, base, cap, clock
        self.failures = 0
        self.locked_until = 0.0
        self._lock = threading.Lock()

    def check(self) -> Attempt:
        with self._lock:
            wait = self.locked_until - self.clock()
            return Attempt(False, wait) if wait > 0 else Attempt(True)

    def failed(self) -> float:
        """Record a wrong PIN; returns the lock-out now in force (0 if none)."""
        with self._lock:
            self.failures += 1
            extra = self.failures - self.free
            if extra < 0:
                return 0.0
            wait = min(self.cap, self.base * (2 ** extra))
            self.locked_until = self.clock() + wait
            return wait

    def succeeded(self) -> None:
        with self._lock:
            self.failures = 0
            self.locked_until = 0.0
