"""Load and strictly validate a questionnaire file (rules/massage.yaml).

Every problem is a RulesError naming the file, the line and the fix: clinic
staff may edit this file, and a silent mistake here changes medical advice.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from .model import (
    ANSWER_STATES,
    AllOf,
    Always,
    AnyOf,
    AnswerIs,
    Condition,
    Guidance,
    Not,
    Outcome,
    OutcomeText,
    Question,
    Questionnaire,
    Rule,
    Script,
    SessionIs,
    StaffTold,
)
from .yamlsource import LDict, LList, RulesError, Source, line_of, load_yaml

DEFAULT_RULES = Path(__file__).with_name("massage.yaml")

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_PROMPT_WORDS = 30  # about one breath when spoken at a calm rate

QUESTION_KEYS = {"id": True, "prompt": True, "short": True, "help": True, "safety": True,
                 "confirm_yes": True, "confirm_no": True, "source": True, "ask_if": False}
RULE_KEYS = {"id": True, "priority": True, "outcome": True, "when": True, "say": True,
             "explain": True, "source": True}
GUIDANCE_KEYS = {"id": True, "say": True, "text": True, "source": True}
OUTCOME_KEYS = {"say": True, "text": True, "guidance": True}
SCRIPT_KEYS = {"greeting": True, "privacy": True, "instructions": True, "goodbye": True,
               "stopped": True, "ask_staff_failures": True}
STAFF_TOLD_KEYS = {"notice": True, "source": True, "script": False, "outcomes": False, "rules": False}
TOP_KEYS = {"version": True, "script": True, "questions": True, "rules": True,
            "outcomes": True, "guidance": True, "staff_told": False}


def load_questionnaire(path: str | Path | None = None) -> Questionnaire:
    """Load, validate and return the questionnaire (the packaged one by default)."""
    p = Path(path) if path else DEFAULT_RULES
    data, src = load_yaml(p)
    return _Builder(src).build(data)


class _Builder:
    def __init__(self, src: Source) -> None:
        self.src = src

    # ---- small checkers -------------------------------------------------
    def err(self, line: int | None, problem: str, fix: str = "") -> RulesError:
        return self.src.error(line, problem, fix)

    def mapping(self, value: Any, what: str, line: int | None) -> LDict:
        if not isinstance(value, LDict):
            raise self.err(line_of(value) or line, f"{what} must be a mapping (key: value lines)")
        return value

    def sequence(self, value: Any, what: str, line: int | None) -> LList:
        if not isinstance(value, LList):
            raise self.err(line_of(value) or line, f"{what} must be a list (lines starting with '- ')")
        return value

    def keys(self, m: LDict, spec: dict[str, bool], what: str) -> None:
        for key in m:
            if key not in spec:
                allowed = ", ".join(sorted(spec))
                raise self.err(m.key_lines[key], f"unknown key {key!r} in {what}",
                               f"remove it or use one of: {allowed}")
        for key, required in spec.items():
            if required and key not in m:
                raise self.err(m.line, f"{what} is missing required key {key!r}", f"add '{key}: ...'")

    def text(self, m: LDict, key: str, what: str) -> str:
        value = m[key]
        if not isinstance(value, str) or not value.strip():
            raise self.err(m.key_lines[key], f"{what}: {key!r} must be non-empty text")
        return " ".join(value.split())

    def entry(self, raw: Any, line: int, spec: dict[str, bool], kind: str, seen: dict[str, int]) -> tuple[LDict, str]:
        """One list entry (question, rule, guidance): a mapping with known keys and a new id."""
        m = self.mapping(raw, f"a {kind}", line)
        self.keys(m, spec, f"a {kind}")
        ident = self.ident(m, "id", kind)
        if ident in seen:
            raise self.err(m.key_lines["id"], f"duplicate {kind} id {ident!r} (first on line {seen[ident]})",
                           f"give each {kind} its own id")
        seen[ident] = m.key_lines["id"]
        return m, ident

    def ident(self, m: LDict, key: str, what: str) -> str:
        value = m[key]
        if not isinstance(value, str) or not ID_RE.match(value):
            raise self.err(m.key_lines[key], f"{what}: {key} {value!r} is not a valid id",
                           "use lower case letters, digits and underscores, starting with a letter")
        return value

    # ---- the document ---------------------------------------------------
    def build(self, data: Any) -> Questionnaire:
        top = self.mapping(data, "the rules file", 1)
        self.keys(top, TOP_KEYS, "the rules file")
        if top["version"] != 1:
            raise self.err(top.key_lines["version"], f"unsupported version {top['version']!r}",
                           "this program reads version: 1")
        script = self.build_script(self.mapping(top["script"], "script", top.key_lines["script"]))
        questions = self.build_questions(top)
        by_id = {q.id: q for q in questions}
        guidance = self.build_guidance(top)
        outcomes = self.build_outcomes(top, guidance)
        rules = self.build_rules(top, by_id)
        self.check_skip_logic(questions)
        self.check_priorities(rules)
        staff_told = self.build_staff_told(top, {r.id for r in rules}) if "staff_told" in top else None
        digest = hashlib.sha256(self.src.text.encode("utf-8")).hexdigest()
        return Questionnaire(path=str(self.src.path), sha256=digest, questions=tuple(questions),
                             rules=tuple(sorted(rules, key=lambda r: (-r.priority, r.line))),
                             outcomes=outcomes, guidance=guidance, script=script, by_id=by_id,
                             staff_told=staff_told)

    def build_script(self, m: LDict) -> Script:
        self.keys(m, SCRIPT_KEYS, "script")
        return Script(**{k: self.text(m, k, "script") for k in SCRIPT_KEYS})

    def build_staff_told(self, top: LDict, rule_ids: set[str]) -> StaffTold:
        """Replacements said when the staff have been told: each names a real script key, outcome or rule."""
        m = self.mapping(top["staff_told"], "staff_told", top.key_lines["staff_told"])
        self.keys(m, STAFF_TOLD_KEYS, "staff_told")
        names = [o.value for o in Outcome]
        parts: dict[str, dict[str, str]] = {}
        sections = (("script", "script key", list(SCRIPT_KEYS)), ("outcomes", "outcome", names),
                    ("rules", "rule id", sorted(rule_ids)))
        for section, kind, known in sections:
            parts[section] = {}
            if section not in m:
                continue
            entries = self.mapping(m[section], f"staff_told {section}", m.key_lines[section])
            for key in entries:
                if key not in known:
                    raise self.err(entries.key_lines[key], f"staff_told {section}: unknown {kind} {key!r}",
                                   f"use one of: {', '.join(known)}")
                parts[section][key] = self.text(entries, key, f"staff_told {section}")
        return StaffTold(notice=self.text(m, "notice", "staff_told"), source=self.text(m, "source", "staff_told"),
                         script=parts["script"], outcomes={Outcome(k): v for k, v in parts["outcomes"].items()},
                         rules=parts["rules"])

    def build_questions(self, top: LDict) -> list[Question]:
        items = self.sequence(top["questions"], "questions", top.key_lines["questions"])
        if not items:
            raise self.err(items.line, "there are no questions", "add at least one question")
        questions: list[Question] = []
        seen: dict[str, int] = {}
        for raw, line in zip(items, items.item_lines):
            m, qid = self.entry(raw, line, QUESTION_KEYS, "question", seen)
            what = f"question {qid!r}"
            if not isinstance(m["safety"], bool):
                raise self.err(m.key_lines["safety"], f"{what}: safety must be true or false")
            prompt = self.text(m, "prompt", what)
            if len(prompt.split()) > MAX_PROMPT_WORDS:
                raise self.err(m.key_lines["prompt"],
                               f"{what}: prompt has {len(prompt.split())} words, too long to say in one breath",
                               f"keep it under {MAX_PROMPT_WORDS} words; move detail into 'help'")
            questions.append(Question(
                id=qid, prompt=prompt, short=self.text(m, "short", what), help=self.text(m, "help", what),
                safety=m["safety"], confirm_yes=self.text(m, "confirm_yes", what),
                confirm_no=self.text(m, "confirm_no", what), source=self.text(m, "source", what),
                ask_if=None, line=m.line,
            ))
        # Conditions may refer to any question id; resolve once all ids are known.
        known = {q.id for q in questions}
        resolved = []
        for q, raw in zip(questions, items):
            if "ask_if" in raw:
                cond = self.condition(raw["ask_if"], raw.key_lines["ask_if"], known, f"ask_if of {q.id!r}",
                                      allow_session=False)
                q = Question(**{**q.__dict__, "ask_if": cond})
            resolved.append(q)
        return resolved

    def build_guidance(self, top: LDict) -> dict[str, Guidance]:
        items = self.sequence(top["guidance"], "guidance", top.key_lines["guidance"])
        out: dict[str, Guidance] = {}
        seen: dict[str, int] = {}
        for raw, line in zip(items, items.item_lines):
            m, gid = self.entry(raw, line, GUIDANCE_KEYS, "guidance", seen)
            what = f"guidance {gid!r}"
            out[gid] = Guidance(gid, self.text(m, "say", what), self.text(m, "text", what),
                                self.text(m, "source", what))
        return out

    def build_outcomes(self, top: LDict, guidance: dict[str, Guidance]) -> dict[Outcome, OutcomeText]:
        m = self.mapping(top["outcomes"], "outcomes", top.key_lines["outcomes"])
        names = [o.value for o in Outcome]
        out: dict[Outcome, OutcomeText] = {}
        for key in m:
            if key not in names:
                raise self.err(m.key_lines[key], f"unknown outcome {key!r}", f"use one of: {', '.join(names)}")
        for name in names:
            if name not in m:
                raise self.err(m.line, f"outcomes is missing {name!r}", f"add the spoken and written text for {name}")
            entry = self.mapping(m[name], f"outcome {name!r}", m.key_lines[name])
            self.keys(entry, OUTCOME_KEYS, f"outcome {name!r}")
            refs = self.sequence(entry["guidance"], f"outcome {name!r} guidance", entry.key_lines["guidance"])
            for ref, line in zip(refs, refs.item_lines):
                if ref not in guidance:
                    raise self.err(line, f"outcome {name!r} refers to unknown guidance {ref!r}",
                                   f"use one of: {', '.join(guidance)}")
            out[Outcome(name)] = OutcomeText(Outcome(name), self.text(entry, "say", name),
                                             self.text(entry, "text", name), tuple(refs))
        return out

    def build_rules(self, top: LDict, by_id: dict[str, Question]) -> list[Rule]:
        items = self.sequence(top["rules"], "rules", top.key_lines["rules"])
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        names = [o.value for o in Outcome]
        for raw, line in zip(items, items.item_lines):
            m, rid = self.entry(raw, line, RULE_KEYS, "rule", seen)
            what = f"rule {rid!r}"
            if m["outcome"] not in names:
                raise self.err(m.key_lines["outcome"], f"{what}: unknown outcome {m['outcome']!r}",
                               f"use one of: {', '.join(names)}")
            if not isinstance(m["priority"], int) or isinstance(m["priority"], bool):
                raise self.err(m.key_lines["priority"], f"{what}: priority must be a whole number")
            when = self.condition(m["when"], m.key_lines["when"], set(by_id), what, allow_session=True)
            rules.append(Rule(rid, m["priority"], Outcome(m["outcome"]), when, self.text(m, "say", what),
                              self.text(m, "explain", what), self.text(m, "source", what), line=m.line))
        if not rules:
            raise self.err(items.line, "there are no rules", "add at least one rule per outcome")
        if not any(isinstance(r.when, Always) for r in rules):
            raise self.err(items.line, "no rule applies when nothing else does",
                           "add a rule with 'when: {always: true}' (usually no_clear_need)")
        return rules

    # ---- conditions -----------------------------------------------------
    def condition(self, raw: Any, line: int, known: set[str], what: str, allow_session: bool) -> Condition:
        line = line_of(raw) or line
        if not isinstance(raw, LDict) or not raw:
            raise self.err(line, f"{what}: a condition must be a mapping",
                           "use {q: ID, is: yes}, {all: [...]}, {any: [...]}, {not: ...} or {always: true}")
        keys = set(raw)
        if keys == {"q", "is"}:
            qid = raw["q"]
            if qid not in known:
                raise self.err(raw.key_lines["q"], f"{what} refers to unknown question {qid!r}",
                               "check the spelling against the question ids")
            states = raw["is"] if isinstance(raw["is"], list) else [raw["is"]]
            for s in states:
                if s not in ANSWER_STATES:
                    raise self.err(raw.key_lines["is"], f"{what}: unknown answer {s!r}",
                                   f"use {', '.join(ANSWER_STATES)}")
            return AnswerIs(qid, frozenset(states))
        if len(keys) != 1:
            raise self.err(line, f"{what}: a condition has unexpected keys {sorted(keys)}",
                           "use exactly one of q+is, all, any, not, always, session")
        (key,) = keys
        value = raw[key]
        if key in ("all", "any"):
            parts = self.sequence(value, f"{what} {key}", raw.key_lines[key])
            if not parts:
                raise self.err(raw.key_lines[key], f"{what}: '{key}' needs at least one condition")
            built = tuple(self.condition(p, l, known, what, allow_session) for p, l in zip(parts, parts.item_lines))
            return AllOf(built) if key == "all" else AnyOf(built)
        if key == "not":
            return Not(self.condition(value, raw.key_lines[key], known, what, allow_session))
        if key == "always":
            if value is not True:
                raise self.err(raw.key_lines[key], f"{what}: 'always' must be true")
            return Always()
        if key == "session":
            if not allow_session:
                raise self.err(raw.key_lines[key], f"{what}: 'session' can only be used in rules",
                               "skip logic can only look at earlier answers")
            if value not in ("complete", "incomplete"):
                raise self.err(raw.key_lines[key], f"{what}: session must be complete or incomplete")
            return SessionIs(value == "complete")
        if key in ("q", "is"):
            raise self.err(line, f"{what}: 'q' and 'is' go together", "write {q: ID, is: yes}")
        raise self.err(raw.key_lines[key], f"{what}: unknown condition {key!r}",
                       "use q+is, all, any, not, always or session")

    # ---- whole-file checks ----------------------------------------------
    def check_skip_logic(self, questions: list[Question]) -> None:
        order = {q.id: i for i, q in enumerate(questions)}
        deps = {q.id: (q.ask_if.questions() if q.ask_if else set()) for q in questions}
        cycle = _find_cycle(deps)
        if cycle:
            first = next(q for q in questions if q.id == cycle[0])
            raise self.err(first.line, "skip logic has a cycle: " + " -> ".join(cycle),
                           "a question can only depend on questions asked before it")
        for q in questions:
            for dep in sorted(deps[q.id]):
                if dep == q.id or order[dep] > order[q.id]:
                    raise self.err(q.line, f"ask_if of {q.id!r} depends on {dep!r}, which is asked later",
                                   f"move {dep!r} above {q.id!r} or change the condition")
        for q in questions:
            if not _reachable(questions, order[q.id]):
                raise self.err(q.line, f"question {q.id!r} can never be asked: no answers to earlier "
                               "questions satisfy its ask_if", "fix the ask_if conditions or remove the question")

    def check_priorities(self, rules: list[Rule]) -> None:
        """A higher outcome must always win: its rules need strictly higher priorities."""
        for a in rules:
            for b in rules:
                if a.outcome.rank < b.outcome.rank and a.priority <= b.priority:
                    raise self.err(a.line, f"rule {a.id!r} ({a.outcome.value}, priority {a.priority}) does not "
                                   f"outrank rule {b.id!r} ({b.outcome.value}, priority {b.priority})",
                                   f"give {a.outcome.value} rules higher priorities than {b.outcome.value} rules")


def _find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {k: WHITE for k in deps}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(deps.get(node, ())):
            if colour.get(nxt) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in deps:
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def _reachable(questions: list[Question], target: int) -> bool:
    """Is there an answer path on which questions[target] is asked?

    Depth-first over earlier questions, pruning with three-valued evaluation of
    the target's ask_if, so it stays fast for realistic files.
    """
    goal = questions[target].ask_if
    if goal is None:
        return True

    def search(i: int, known: dict[str, str]) -> bool:
        verdict = goal.partial(known, done=False)
        if verdict is False:
            return False
        if i == target:
            return goal.partial(known, done=True) is True
        q = questions[i]
        asked = q.ask_if is None or q.ask_if.partial(known, done=True)
        if not asked:
            return search(i + 1, {**known, q.id: "missing"})
        return any(search(i + 1, {**known, q.id: a}) for a in ("yes", "no", "unsure"))

    return search(0, {})
