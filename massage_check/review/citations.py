"""Why an outcome was reached: fired rule ids -> their wording and `source` citation.

Rules come from the questionnaire (rules/massage.yaml via the `rules` package).
If it cannot be loaded, or a stored session names a rule that no longer exists,
the id is still shown: a review page must never fail because the rules moved on.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class RuleInfo:
    id: str
    outcome: str | None
    explain: str | None
    source: str | None


@dataclass(frozen=True)
class RulesInfo:
    rules: dict[str, RuleInfo]
    questions: dict[str, str]       # question id -> full prompt
    sha256: str | None
    problem: str | None             # why the rules could not be loaded, if they could not

    def rule(self, rule_id: str) -> RuleInfo:
        return self.rules.get(rule_id) or RuleInfo(rule_id, None, None, None)

    def same_rules(self, session: dict[str, Any]) -> bool | None:
        """Were these rules the ones the session was evaluated with? None = cannot tell."""
        if not self.sha256 or not session.get("rules_sha256"):
            return None
        return self.sha256 == session["rules_sha256"]


@lru_cache(maxsize=4)
def load_rules_info(path: str | None = None) -> RulesInfo:
    """Load once per process; any failure gives an empty RulesInfo that explains itself."""
    try:
        from rules import load_questionnaire
        q = load_questionnaire(path)
    except Exception as exc:  # noqa: BLE001 - any failure only degrades the page
        return RulesInfo({}, {}, None, f"rules could not be loaded ({exc}); showing rule ids only")
    rules = {r.id: RuleInfo(r.id, getattr(r.outcome, "value", str(r.outcome)), r.explain, r.source)
             for r in q.rules}
    return RulesInfo(rules, {qq.id: qq.prompt for qq in q.questions}, q.sha256, None)
