"""What the model must recognise (from dialog/vocabulary.yaml) and the texts it is trained and tested on.

The vocabulary is read from the YAML, never hard-coded: the spoken phrases of every intent plus the
spoken corrections. Negatives (out-of-vocabulary words) come from the seed article, the typed-only
phrases and fillers of the vocabulary, and festival's CMU dictionary; words that sound exactly like a
vocabulary word ("know" / "no") are removed from the negatives because no acoustic model can tell
them apart.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from models.build.lexicon import valid_word

REPO = Path(__file__).resolve().parents[2]
VOCABULARY_YAML = REPO / "dialog" / "vocabulary.yaml"
CMU_DICT = Path("/usr/share/festival/dicts/cmu/cmudict-0.4.out")
SEED_ARTICLE_CANDIDATES = [REPO.parent / "shared" / "seed" / "medical-massage-article.txt",
                           Path("/work/shared/seed/medical-massage-article.txt")]

# Contexts: which intents a graph accepts. "answer" is what the patient may say to a question,
# "start" what starts a session (the idle kiosk listens for nothing else: with "stop" in the same
# graph, British "start" without its r was heard as "stop"). "all" accepts every phrase.
CONTEXTS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "answer": ("yes", "no", "unsure", "repeat", "help", "back", "stop", "slower", "faster"),
    "start": ("start",),
}


class VocabularyError(ValueError):
    """dialog/vocabulary.yaml is missing something the model needs."""


@dataclass
class Vocabulary:
    """Spoken phrases by intent, plus the spoken correction markers."""

    phrases: dict[str, list[str]]          # intent -> phrases ("that's right")
    corrections: list[str]
    unspoken: list[str] = field(default_factory=list)  # typed-only phrases and fillers (negatives)

    def all_phrases(self, context: str = "all") -> list[str]:
        """Phrases a graph for `context` accepts; corrections only where yes/no answers are."""
        intents = CONTEXTS[context]
        out = [p for i, ps in self.phrases.items() if intents is None or i in intents for p in ps]
        if intents is None or "yes" in intents:
            out += self.corrections
        return sorted(set(out))

    def words(self) -> list[str]:
        return sorted({w for p in self.all_phrases() for w in p.split()})


def load_vocabulary(path: Path = VOCABULARY_YAML, only_intents: list[str] | None = None,
                    first_phrase_only: bool = False) -> Vocabulary:
    """Spoken phrases per intent. `only_intents` / `first_phrase_only` shrink it (the --tiny build)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise VocabularyError(f"{path}: cannot read ({e})") from e
    intents = data.get("intents") if isinstance(data, dict) else None
    if not isinstance(intents, dict) or not intents:
        raise VocabularyError(f"{path}: no `intents` mapping; each intent needs a `spoken` list")
    phrases: dict[str, list[str]] = {}
    unspoken: list[str] = []
    for key, spec in intents.items():
        # YAML 1.1 reads the bare keys `yes:` / `no:` as booleans
        name = {True: "yes", False: "no"}.get(key, str(key)) if isinstance(key, bool) else str(key)
        spoken = (spec or {}).get("spoken") or []
        if only_intents is not None and name not in only_intents:
            continue
        phrases[name] = [str(p).lower() for p in spoken][: 1 if first_phrase_only else None]
        unspoken += [str(p).lower() for p in (spec or {}).get("typed") or []]
    corr = data.get("corrections") or {}
    corrections = [] if only_intents is not None else [str(p).lower() for p in corr.get("spoken") or []]
    unspoken += [str(p).lower() for p in corr.get("typed") or []]
    unspoken += [str(p).lower() for p in data.get("fillers") or []]
    for p in [p for ps in phrases.values() for p in ps] + corrections:
        for w in p.split():
            if not valid_word(w):
                raise VocabularyError(f"{path}: spoken phrase {p!r} has word {w!r}; use lower case letters "
                                      "and apostrophes only")
    if not any(phrases.values()):
        raise VocabularyError(f"{path}: no spoken phrases found")
    return Vocabulary(phrases=phrases, corrections=corrections, unspoken=unspoken)


def seed_article_words() -> list[str]:
    for cand in SEED_ARTICLE_CANDIDATES:
        if cand.exists():
            text = cand.read_text(errors="ignore").lower()
            return [w.strip("'") for w in re.findall(r"[a-z']+", text) if len(w.strip("'")) > 1]
    return []


def cmu_words(rng: random.Random, n: int) -> list[str]:
    """A random sample of plain dictionary words (3-9 letters) from festival's CMU dictionary."""
    if not CMU_DICT.exists():
        return []
    words = []
    for line in CMU_DICT.read_text(errors="ignore").splitlines():
        m = re.match(r'^\("([a-z]+)" ', line)
        if m and 3 <= len(m.group(1)) <= 9:
            words.append(m.group(1))
    words = sorted(set(words))
    return rng.sample(words, min(n, len(words)))


def sentences(words: list[str], rng: random.Random, n: int, lo: int = 3, hi: int = 8) -> list[list[str]]:
    """Consecutive word runs from a running text (keeps natural co-articulation of real sentences)."""
    if len(words) < hi:
        return []
    out = []
    for _ in range(n):
        k = rng.randint(lo, hi)
        i = rng.randrange(0, len(words) - k)
        out.append(words[i:i + k])
    return out
