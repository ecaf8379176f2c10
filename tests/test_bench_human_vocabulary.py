"""The human-speech benchmark classifies clips with today's spoken vocabulary, and reads the intents
`yes:`/`no:` as the strings the dialog uses (YAML 1.1 would make them booleans)."""
from __future__ import annotations

from bench.human_speech import Vocabulary
from dialog import interpret


def test_yes_and_no_intents_are_strings_that_match_the_interpreter() -> None:
    vocab = Vocabulary.load()
    assert vocab.classify("yes") == (True, "yes", ["yes"])
    assert vocab.classify("oh no") == (True, "no", ["no"])
    assert interpret("yes").intent == vocab.classify("yes")[1]
    assert all(isinstance(i, str) for i in vocab.phrase_intent.values())


def test_typed_only_phrases_count_as_out_of_vocabulary_speech() -> None:
    in_vocabulary, intent, inside = Vocabulary.load().classify("i have")
    assert (in_vocabulary, intent) == (False, None)
    assert "i have" not in inside
