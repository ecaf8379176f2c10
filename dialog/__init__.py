"""The conversation: interpretation of what was heard, the state machine, the transcript. No audio."""
from .interpret import NOT_UNDERSTOOD, NOTHING_HEARD, Interpretation, Interpreter, interpret
from .manager import DialogManager, Heard, Prompt
from .transcript import Transcript, Turn
from .vocabulary import ANSWER_INTENTS, COMMAND_INTENTS, INTENTS, Vocabulary, load_vocabulary

__all__ = [
    "ANSWER_INTENTS", "COMMAND_INTENTS", "DialogManager", "Heard", "INTENTS", "Interpretation", "Interpreter",
    "NOTHING_HEARD", "NOT_UNDERSTOOD", "Prompt", "Transcript", "Turn", "Vocabulary", "interpret",
    "load_vocabulary",
]
