"""What the model must recognise (from dialog/vocabulary.yaml) and the texts it is trained and tested on.

The vocabulary is read from the YAML, never hard-coded: the spoken phrases of every intent plus the
spoken corrections. Negatives (out-of-vocabulary words) come from the seed article, the typed-only
phrases and fillers of the vocabulary, and festival's CMU dictionary; words that sound exactly like a
vocabulary word ("know" / "no") are removed from the negatives because no acoustic model can tell
them apart.
"""
from __future__ import annotations

import functools
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
# "garbage" holds no phrase, only the [unk] loop: the recogniser scores every answer against it
# (how far the words beat unknown speech is the answer's confidence; voice.recognizer).
CONTEXTS: dict[str, tuple[str, ...] | None] = {
    "all": None,
    "answer": ("yes", "no", "unsure", "repeat", "help", "back", "stop", "slower", "faster"),
    "start": ("start",),
    "garbage": (),
}
GARBAGE_CONTEXT = "garbage"
ANSWER_INTENTS = ("yes", "no", "unsure")   # as dialog/vocabulary.py (the build does not import the dialog)


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

    def phrase_groups(self, context: str = "all") -> list[list[str]]:
        """The context's phrases in the groups a run of phrases may not leave: the answers (yes, no,
        unsure and the corrections: "yes, sure", "no, i mean yes") together, each command's phrases
        on their own ("stop, stop"). The dialog ignores a command said with an answer, so a graph
        that allowed "yes again" only gave unknown words ("yesterday") more ways in."""
        mine = set(self.all_phrases(context))
        answers = {p for i in ANSWER_INTENTS for p in self.phrases.get(i, ())} | set(self.corrections)
        groups = [sorted(mine & answers)]
        groups += [sorted(mine & set(ps) - answers) for i, ps in sorted(self.phrases.items()) if i not in ANSWER_INTENTS]
        return [g for g in groups if g]

    def intent_of(self) -> dict[str, str]:
        """Each spoken phrase's intent (corrections have none)."""
        return {p: i for i, ps in self.phrases.items() for p in ps}

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


# Everyday words bench.accuracy holds out as unknown speech (plus a seeded dictionary sample, see
# heldout_oov_candidates). They are never drawn as single-word negatives or near-rhymes, so the
# benchmark does not test rejection on words trained as rejections (the seed article's sentences
# still contain "doctor", "music" and "shoulder").
HELDOUT_OOV_WORDS = ["elephant", "umbrella", "tomorrow", "kitchen", "football", "purple", "window", "coffee",
                     "doctor", "shoulder", "weather", "banana", "yesterday", "morning", "garden", "telephone",
                     "seven", "pillow", "music", "holiday", "yellow", "bottle", "sister", "paper", "orange",
                     "basket", "monday", "ticket", "jacket", "lemon"]
HELDOUT_OOV_SEED = 4242
HELDOUT_RANDOM_OOV = 40     # dictionary words bench.accuracy draws (its full run) besides the list above
VOWELS = frozenset("aa ae ah ao aw ax axr ay eh el em en er ey ih ix iy ow oy uh uw".split())
_CMU_ENTRY = re.compile(r'^\("([a-z]+)" \S+ \((.*)\)\)$')
_CMU_SYLLABLE = re.compile(r"\(\(([a-z ]+)\) (\d)\)")


@functools.lru_cache(maxsize=4)
def heldout_oov_candidates(n_random: int = HELDOUT_RANDOM_OOV) -> frozenset[str]:
    """Every word bench.accuracy may draw as unknown speech (`n_random` dictionary words at most)."""
    return frozenset(HELDOUT_OOV_WORDS) | frozenset(cmu_words(random.Random(HELDOUT_OOV_SEED), n_random))


@functools.lru_cache(maxsize=1)
def cmu_prons() -> dict[str, list[list[tuple[str, int]]]]:
    """Every pronunciation in festival's CMU dictionary: word -> [[(syllable phones, stress), ...], ...]."""
    prons: dict[str, list[list[tuple[str, int]]]] = {}
    if not CMU_DICT.exists():
        return prons
    for line in CMU_DICT.read_text(errors="ignore").splitlines():
        m = _CMU_ENTRY.match(line.strip())
        if m:
            prons.setdefault(m.group(1), []).append([(s, int(k)) for s, k in _CMU_SYLLABLE.findall(m.group(2))])
    return prons


def _skeleton(pron: tuple[str, ...]) -> tuple[str, ...]:
    """The pronunciation with every vowel alike: words that differ only in vowels ("yeh" / "yeah",
    "nah" / "no") may be one word in another accent."""
    return tuple("V" if p in VOWELS else p for p in pron)


@functools.lru_cache(maxsize=1)
def _flat_prons() -> dict[str, set[tuple[str, ...]]]:
    """Every dictionary word's pronunciations as flat phone tuples."""
    return {w: {tuple(p for s, _ in syls for p in s.split()) for syls in ps} for w, ps in cmu_prons().items()}


def _vocabulary_skeletons(vocab_words: set[str]) -> set[tuple[str, ...]]:
    flat = _flat_prons()
    return {_skeleton(p) for w in vocab_words for p in flat.get(w, ())}


def sounds_like_vocabulary(vocab_words: list[str] | set[str]) -> set[str]:
    """Dictionary words that are a vocabulary word in some accent: homophones ("know") and words
    that differ only in vowels ("yeh", "nah"). Never train these as unknown speech."""
    accents = _vocabulary_skeletons(set(vocab_words))
    return {w for w, ps in _flat_prons().items() if {_skeleton(p) for p in ps} & accents} - set(vocab_words)


def near_rhymes(vocab_words: list[str], rng: random.Random, per_word: int = 30,
                exclude: set[str] = frozenset()) -> list[str]:
    """Dictionary words that sound almost like a vocabulary word: the unknown speech a model most
    easily takes for an answer ("garden" for "pardon", "yesterday" for "yes", "rewrite" for "right").

    A word qualifies when, against some vocabulary word of two or more phones, it (a) differs by one
    consonant, (b) ends in the vocabulary word's stressed syllable and all that follows ("pillow" /
    "hello"), or (c) begins with the whole vocabulary word. Homophones of a vocabulary word are never
    included (no model can tell "know" from "no"), nor words that differ from one only in vowels
    ("yeh", "nah": another accent's "yeah", "no"), nor words in `exclude`. At most `per_word` per
    vocabulary word, drawn with `rng`.
    """
    dictionary = cmu_prons()
    flat = _flat_prons()
    vocab = set(vocab_words)
    accents = _vocabulary_skeletons(vocab)
    by_pron: dict[tuple[str, ...], set[str]] = {}     # candidates by whole pronunciation,
    by_end: dict[tuple[str, ...], set[str]] = {}      # by every proper ending of 2+ phones,
    by_start: dict[tuple[str, ...], set[str]] = {}    # by every beginning at most 4 phones short
    for w, ps in flat.items():
        if w in vocab or w in exclude or not 2 <= len(w) <= 12 or {_skeleton(p) for p in ps} & accents:
            continue
        for q in ps:
            by_pron.setdefault(q, set()).add(w)
            for k in range(2, len(q)):
                by_end.setdefault(q[-k:], set()).add(w)
            for k in range(max(1, len(q) - 4), len(q)):
                by_start.setdefault(q[:k], set()).add(w)
    consonants = sorted({p for ps in flat.values() for q in ps for p in q} - VOWELS)
    picked: set[str] = set()
    for word in sorted(vocab):
        for syls in dictionary.get(word, []):
            pron = tuple(p for s, _ in syls for p in s.split())
            if len(pron) < 2:
                continue
            stressed = max((i for i, (_, k) in enumerate(syls) if k > 0), default=len(syls) - 1)
            tail = tuple(p for s, _ in syls[stressed:] for p in s.split())
            found = set(by_start.get(pron, ())) | (set(by_end.get(tail, ())) if len(tail) >= 2 else set())
            for variant in _consonant_edits(pron, consonants):
                found |= by_pron.get(variant, set())
            found = sorted(found - picked)
            picked |= set(rng.sample(found, min(per_word, len(found))))
    return sorted(picked)


def _consonant_edits(pron: tuple[str, ...], consonants: list[str]) -> set[tuple[str, ...]]:
    """Every pronunciation one consonant away: one changed, added or dropped (vowels stay)."""
    out = set()
    for i in range(len(pron) + 1):
        out |= {pron[:i] + (c,) + pron[i:] for c in consonants}
        if i < len(pron) and pron[i] not in VOWELS:
            out.add(pron[:i] + pron[i + 1:])
            out |= {pron[:i] + (c,) + pron[i + 1:] for c in consonants if c != pron[i]}
    return out


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


FILLERS_YAML = Path(__file__).with_name("fillers.yaml")


class FillersError(ValueError):
    """models/build/fillers.yaml is malformed."""


def load_fillers(vocab: Vocabulary, path: Path = FILLERS_YAML) -> tuple[list[str], list[str]]:
    """The (before, after) filler phrases the graphs allow around answers (see fillers.yaml)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise FillersError(f"{path}: cannot read ({e})") from e
    except yaml.YAMLError as e:
        raise FillersError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(data, dict) or set(data) - {"before", "after"}:
        raise FillersError(f"{path}: expected the keys `before` and `after` (lists of phrases), got {data!r:.80}")
    words = set(vocab.words())      # every word of every spoken phrase
    out = []
    for key in ("before", "after"):
        items = data.get(key) or []
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise FillersError(f"{path}: `{key}` must be a list of phrases, like [um, uh]")
        for p in items:
            if not p.split() or not all(valid_word(w) for w in p.split()):
                raise FillersError(f"{path}: `{key}` phrase {p!r}: use lower case words (letters and apostrophes)")
            if words & set(p.split()):
                raise FillersError(f"{path}: `{key}` phrase {p!r} holds a word of dialog/vocabulary.yaml's spoken "
                                   "phrases; a filler must carry no meaning: remove it")
        out.append([str(p) for p in items])
    return out[0], out[1]
