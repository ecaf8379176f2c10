"""Labels and speaker ids of the game voice sources of the human-speech benchmark, read from
file names and the game's own comments (no download needed)."""
from __future__ import annotations

from bench.human_speech import (MEGAGLEST_LABELS, Vocabulary, kajongg_words, ktuberling_word,
                                megaglest_labels, megaglest_speaker, tuxpaint_description,
                                warzone_labels, warzone_speaker)

CFG = """
/*Tutorial Stuff*/
\taudio\t"pcv430.ogg" \toneshot\t100 1800  /*Not possible. Try again*/
\taudio\t"pcv431.ogg" \toneshot\t100 1800  /*No*/
\taudio\t"pcv463.ogg" \toneshot\t100 1800  /*10 Minutes Remaining*/
\taudio\t"pcv397.ogg"\toneshot\t100 1800  /*LZ 1*/
\taudio\t"col011a.ogg" \toneshot\t100 1800  /*Cleanse & Destroy*/
\taudio\t"v-eloc2.ogg"   oneshot\t100 1800  /*Enemy located*/
\taudio\t"7.ogg" \t\toneshot\t100 1800
\taudio\t"beep1.ogg"\t\toneshot  30 1800
"""


def test_warzone_labels_come_from_the_config_comments_with_fixes() -> None:
    labels = warzone_labels(CFG)
    assert labels["pcv431.ogg"] == "no"
    assert labels["pcv430.ogg"] == "not possible try again"
    assert labels["pcv463.ogg"] == "ten minutes remaining"
    assert labels["col011a.ogg"] == "cleanse and destroy"
    assert labels["v-eloc2.ogg"] == "enemy located"
    assert labels["7.ogg"] == "seven"  # commander digit, no comment in the config
    assert "pcv397.ogg" not in labels  # "LZ 1": unclear reading
    assert "beep1.ogg" not in labels  # no comment: not speech
    assert "0.ogg" not in labels  # "zero" or "oh"
    assert Vocabulary.load().classify(labels["pcv431.ogg"]) == (True, "no", ["no"])


def test_warzone_speakers_are_told_apart_by_file_name() -> None:
    assert warzone_speaker("pcv431.ogg") == "warzone-computer"
    assert warzone_speaker("com039.ogg") == "warzone-commander"
    assert warzone_speaker("7.ogg") == "warzone-commander"
    assert warzone_speaker("t-gogogo.ogg") == "warzone-transport-pilot"
    assert warzone_speaker("v-eloc2.ogg") == "warzone-vtol-pilot2"
    assert warzone_speaker("col011a.ogg") == "warzone-collective"


def test_ktuberling_words_drop_the_theme_prefix() -> None:
    assert ktuberling_word("nose") == "nose"
    assert ktuberling_word("pizzeria_onion") == "onion"
    assert ktuberling_word("egypt_palmtree") == "palm tree"
    assert ktuberling_word("egypt_sphynx") == "sphinx"
    assert ktuberling_word("moon_sign") is None


def test_kajongg_words_read_calls_and_tiles_and_skip_unsure_ones() -> None:
    assert kajongg_words("nochoice") == "no choice"
    assert kajongg_words("violatesoriginalcall") == "violates original call"
    assert kajongg_words("b3") == "bamboo three"
    assert kajongg_words("c9") == "character nine"
    assert kajongg_words("s2") is None  # "stone two" or "circle two"?
    assert kajongg_words("we") is None  # "east" or "east wind"?
    assert Vocabulary.load().classify("no choice") == (False, None, ["no"])


def test_tuxpaint_descriptions_only_when_the_text_names_the_stamp() -> None:
    assert tuxpaint_description("koala", "A koala.") == "koala"  # the sound says the noun alone
    assert tuxpaint_description("owl", "An owl.") == "owl"
    assert tuxpaint_description("mountaingoat", "A mountaingoat.") == "mountain goat"
    assert tuxpaint_description("kangaroo", "A red kangaroo.") is None  # text changed after recording
    assert tuxpaint_description("nandou", "A rhea.") is None


def test_megaglest_labels_and_speakers() -> None:
    labels = megaglest_labels(MEGAGLEST_LABELS.read_text())
    assert labels["commondata/sounds/archer_ack13.wav"] == "yes"
    assert len(labels) > 200 and all(words and "#" not in path for path, words in labels.items())
    assert megaglest_speaker("commondata/sounds/archer_select1.wav") == "megaglest-archer"
    assert megaglest_speaker("factions/norsemen/units/spearman/sounds/spearman_ack2.wav") == \
        "megaglest-norsemen-spearman"
