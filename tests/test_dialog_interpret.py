"""Interpretation of real phrasings: synonyms, hedges, negations, corrections, commands."""
from __future__ import annotations

import pytest

from dialog import NOT_UNDERSTOOD, NOTHING_HEARD, Interpreter, interpret, load_vocabulary
from rules import RulesError

TABLE = [
    # plain answers and synonyms
    ("yes", "yes"), ("Yes.", "yes"), ("yeah", "yes"), ("yep", "yes"), ("correct", "yes"),
    ("that's right", "yes"), ("That’s right", "yes"), ("I do", "yes"), ("I have", "yes"),
    ("yes I do", "yes"), ("sure", "yes"), ("absolutely", "yes"), ("of course", "yes"),
    ("no", "no"), ("No!", "no"), ("nope", "no"), ("nah", "no"), ("never", "no"), ("I don't", "no"),
    ("I haven't", "no"), ("no I don't", "no"), ("not at all", "no"),
    # unsure is never no
    ("not sure", "unsure"), ("I'm not sure", "unsure"), ("I don't know", "unsure"), ("don't know", "unsure"),
    ("maybe", "unsure"), ("I have no idea", "unsure"), ("no idea", "unsure"), ("unsure", "unsure"),
    ("perhaps", "unsure"), ("I can't remember", "unsure"),
    # hedges and negations
    ("no, not really", "no"), ("not really", "no"), ("yes I think so", "yes"), ("I think so", "yes"),
    ("I don't think so", "no"), ("not right", "no"), ("definitely not", "no"), ("of course not", "no"),
    ("no I have not", "no"), ("maybe yes", "unsure"), ("yes, maybe", "unsure"), ("no, not sure", "unsure"),
    # fillers around an answer
    ("um yes", "yes"), ("well, no", "no"), ("uh I think so", "yes"), ("yes please", "yes"),
    ("okay yes thanks", "yes"),
    # corrections: the last word after a marker wins
    ("yes, I mean no", "no"), ("no, actually yes", "yes"), ("yes sorry no", "no"), ("no wait yes", "yes"),
    # mixed without correction: not understood, never guessed
    ("yes no", NOT_UNDERSTOOD), ("no yes", NOT_UNDERSTOOD), ("yeah nope", NOT_UNDERSTOOD),
    # commands
    ("repeat", "repeat"), ("say that again", "repeat"), ("pardon?", "repeat"), ("what?", "repeat"),
    ("sorry, what?", "repeat"), ("help", "help"), ("what does that mean", "help"),
    ("go back", "back"), ("back", "back"), ("previous question", "back"), ("stop", "stop"),
    ("quit", "stop"), ("stop again", "stop"), ("please stop", "stop"), ("slower", "slower"), ("slow down please", "slower"),
    ("faster", "faster"), ("speed up", "faster"), ("check my symptoms", "start"), ("hello", "start"),
    ("repeat help", NOT_UNDERSTOOD),
    # nothing / garbage
    ("", NOTHING_HEARD), ("   ", NOTHING_HEARD), (None, NOTHING_HEARD), ("[unk]", NOT_UNDERSTOOD),
    ("um", NOT_UNDERSTOOD), ("the weather is nice", NOT_UNDERSTOOD), ("banana", NOT_UNDERSTOOD),
    ("[unk] yes", "yes"),
    # in their own words (issue 32; typed only: the built-in model has no words for them)
    ("I think not", "no"), ("I agree", "yes"), ("that's correct", "yes"), ("I don't agree", "no"),
    ("no I think not", "no"), ("yes I agree", "yes"),
]


@pytest.mark.parametrize("text,intent", TABLE)
def test_interpretation_table(text, intent):
    assert interpret(text).intent == intent


def test_confidence_is_carried():
    assert interpret("yes", 0.42).confidence == 0.42


def test_not_understood_says_why():
    assert interpret("yes no").reason == "both yes and no"
    assert interpret("[unk]").reason == "only unrecognised words"


@pytest.mark.parametrize("text", ["stop no", "quit yes", "no, stop", "cancel i don't know", "yes again quit",
                                  "goodbye not really"])
def test_stop_with_an_answer_is_asked_again_not_obeyed(text):
    """A misheard hesitation ("uh, no" heard as "stop no") must not end the screening."""
    meaning = interpret(text)
    assert meaning.intent == NOT_UNDERSTOOD and meaning.reason == "stop together with an answer"


def test_spoken_words_are_a_small_closed_vocabulary():
    vocab = load_vocabulary()
    words = vocab.words()
    assert {"yes", "no", "not", "sure", "repeat", "help", "back", "stop", "slower", "faster"} <= set(words)
    assert all(w == w.lower() and " " not in w for w in words)
    assert len(words) < 80
    # restricting to answers drops command words
    answers_only = vocab.words(("yes", "no", "unsure"))
    assert "repeat" not in answers_only and "yes" in answers_only


def test_spoken_phrases_all_interpret_to_their_intent():
    vocab = load_vocabulary()
    interp = Interpreter(vocab)
    for intent, phrases in vocab.spoken.items():
        for phrase in phrases:
            assert interp(phrase).intent == intent, phrase


def test_vocabulary_errors_name_line(tmp_path):
    bad = tmp_path / "vocab.yaml"
    bad.write_text("version: 1\nintents:\n  yes:\n    spoken: [\"Yes\"]\nnegators: []\n"
                   "corrections: {spoken: []}\nfillers: []\n")
    with pytest.raises(RulesError) as info:
        load_vocabulary(bad)
    assert info.value.line == 4 and "lower case" in info.value.problem


def test_vocabulary_phrase_in_two_intents_is_refused(tmp_path):
    text = (load_vocabulary().path and open(load_vocabulary().path).read())
    text = text.replace('spoken: ["repeat", "say that again"', 'spoken: ["repeat", "yes", "say that again"')
    bad = tmp_path / "vocab.yaml"
    bad.write_text(text)
    with pytest.raises(RulesError, match="belongs to both 'yes' and 'repeat'"):
        load_vocabulary(bad)
