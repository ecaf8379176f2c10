"""Random utterance streams never crash the dialog and always end within a fixed bound."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialog import DialogManager, Heard, load_vocabulary
from dialog.manager import MAX_TURNS_PER_QUESTION
from rules import Outcome, load_questionnaire

Q = load_questionnaire()
VOCAB = load_vocabulary()
PHRASES = sorted({p for intent in VOCAB.spoken for p in VOCAB.phrases(intent)})
BOUND = (len(Q.questions) + 2) * MAX_TURNS_PER_QUESTION

utterance = st.one_of(
    st.sampled_from(PHRASES),
    st.lists(st.sampled_from(PHRASES + ["[unk]", "um", "not", "i mean"]), min_size=0, max_size=4).map(" ".join),
    st.text(max_size=30),
    st.just(""),
    st.none(),
)
confidence = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(utterance, confidence), max_size=400), st.floats(min_value=0.0, max_value=1.0))
def test_any_stream_ends_in_bounded_turns(stream, threshold):
    dm = DialogManager(Q, confidence_threshold=threshold)
    dm.start()
    turns = 0
    for text, conf in stream:
        if dm.finished:
            break
        dm.handle(Heard(text, conf))
        turns += 1
    # whatever was said, silence afterwards must end the session too
    while not dm.finished:
        dm.handle(Heard(""))
        turns += 1
        assert turns <= BOUND
    assert turns <= BOUND
    assert dm.result is not None and dm.result.outcome in set(Outcome)
    assert dm.transcript.outcome == dm.result.outcome.value
    safety = [dm.answers.get(s) for s in Q.safety_ids]
    if "yes" in safety:
        assert dm.result.outcome is Outcome.SEE_DOCTOR_FIRST
    elif "unsure" in safety:
        assert dm.result.outcome is Outcome.ASK_STAFF
