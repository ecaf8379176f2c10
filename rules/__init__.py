"""The questionnaire and outcome rules: pure data and logic, no audio."""
from .engine import Evaluation, evaluate, next_question, reachable_paths, should_ask, validate_answers
from .loader import DEFAULT_RULES, load_questionnaire
from .model import ANSWERS, MISSING, Outcome, Question, Questionnaire, Rule
from .yamlsource import RulesError

__all__ = [
    "ANSWERS", "DEFAULT_RULES", "Evaluation", "MISSING", "Outcome", "Question", "Questionnaire", "Rule",
    "RulesError", "evaluate", "load_questionnaire", "next_question", "reachable_paths", "should_ask",
    "validate_answers",
]
