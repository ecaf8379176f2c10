"""Pronunciations from festival's CMU lexicon (its letter-to-sound rules cover words the dictionary lacks).

Why festival: its CMU dictionary and LTS rules are installed with the `festival` Debian package, give
one consistent phone set for every word (vocabulary, out-of-vocabulary negatives, training sentences)
and need no network.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

SIL = "sil"
_WORD_RE = re.compile(r"^[a-z][a-z']*$")
_SYLLABLE_RE = re.compile(r"\(\(([a-z ]+)\) \d\)")
_SEP = "@@SEP@@"


class LexiconError(RuntimeError):
    """A word could not be given a pronunciation."""


@dataclass(frozen=True)
class Lexicon:
    """word -> phone list (stress removed) and the phone inventory (silence first)."""

    prons: dict[str, tuple[str, ...]]

    @property
    def phones(self) -> list[str]:
        found = sorted({p for pron in self.prons.values() for p in pron})
        return [SIL] + found

    def phones_of(self, words: list[str]) -> list[list[str]]:
        return [list(self.prons[w]) for w in words]


def valid_word(word: str) -> bool:
    return bool(_WORD_RE.match(word))


def festival_lookup(words: list[str], timeout: float = 600.0) -> dict[str, tuple[str, ...]]:
    """Ask festival (one process for all words) for each word's phones; words it cannot pronounce
    are left out of the result."""
    if shutil.which("festival") is None:
        raise LexiconError("festival is not installed: `apt-get install festival` (pronunciations come "
                           "from its CMU lexicon)")
    words = sorted(set(words))
    bad = [w for w in words if not valid_word(w)]
    if bad:
        raise LexiconError(f"cannot look up {bad[:5]}: words must be lower case letters and apostrophes")
    script = ['(lex.select "cmu")']
    for w in words:
        script.append(f'(print "{_SEP}")')
        script.append(f'(print (lex.lookup "{w}" nil))')
    out = subprocess.run(["festival", "--pipe"], input="\n".join(script) + "\n", capture_output=True,
                         text=True, timeout=timeout, check=False).stdout
    chunks = out.split(f'"{_SEP}"')[1:]
    if len(chunks) != len(words):
        raise LexiconError(f"festival returned {len(chunks)} lookups for {len(words)} words")
    prons: dict[str, tuple[str, ...]] = {}
    for w, chunk in zip(words, chunks):
        phones = [p for syl in _SYLLABLE_RE.findall(chunk) for p in syl.split()]
        if phones:
            prons[w] = tuple(phones)
    return prons


def build_lexicon(words: list[str], required: list[str] | None = None) -> Lexicon:
    """Pronunciations for `words`; every word in `required` (the vocabulary) must get one."""
    prons = festival_lookup(sorted(set(words) | set(required or [])))
    missing = [w for w in required or [] if w not in prons]
    if missing:
        raise LexiconError(f"festival's lexicon has no pronunciation for vocabulary words {missing}; "
                           "change those phrases in dialog/vocabulary.yaml")
    return Lexicon(prons=prons)
