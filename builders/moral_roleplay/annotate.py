"""Moral annotation of one (scene, key character) portrayal (spec Step D and §6).

The model never picks a level. An annotation asks the model a few concrete yes/no questions about
the character in the scene (one call each; wording in prompts/moral_roleplay/question_user.j2) and
the PROGRAM turns the answers into a level with the decision list of data/level_rule.json
(`level_from_answers`). A small model can answer "does X harm someone here?" where it cannot apply
a four-level rubric; half the questions point to virtue when answered yes, so a yes-saying model is
not pushed towards one end of the scale. The answers are recorded in provenance.

Two annotations are made (two sample indices of one model, or the generator and --judge-model):
- both compute the same level: accepted ("agreed");
- one level apart: a third annotation (sample 2) decides when its level is one of the two
  ("adjudicated"), else the portrayal is dropped ("disputed");
- two or more apart: dropped ("disputed").
Traits are asked once the level is settled, for that level, with the sample index of the annotation
that settled it and a schema enum that leaves out the traits contradicting the level; they are
still checked in code (closed vocabulary after synonym mapping, 3-7 distinct, trait-level
consistency); a failing set is re-asked once with a new sample index (marked as a re-ask), then
the portrayal fails. Reply sizes and how much of the scene is shown come from the annotator's
profile (steps.Contract); the questions and the trait enum are the same for every contract.

Labels come only from annotators fit to judge (their model profile's `judge`; the build picks them,
build.annotators_of). When none is, a portrayal is NOT JUDGED: no question is asked, it is released
with no level and no traits (`not_judged`), the reason in its provenance, and it never enters the
level-balanced test set. A top-up character labelled by design (`label_by_design`) is no judgment:
its level and traits are the ones the program designed the scene around.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from builders.llm import RequestFailed
from builders.moral_roleplay.steps import (
    ASKS,
    REASK_OFFSET,
    Contract,
    call_provenance,
    contract_of,
    request,
    strict_object,
)
from builders.moral_roleplay.vocab import (
    LEVELS,
    MAX_TRAITS,
    MIN_TRAITS,
    check_traits,
    vocabulary,
)
from builders.resources import file_sha256

RULE_FILE = Path(__file__).resolve().parent / "data" / "level_rule.json"
ANSWER_SCHEMA = strict_object({"answer": {"enum": ["yes", "no"]}})
USABLE = ("agreed", "adjudicated", "designed")  # portrayals with a level: test candidates
NOT_JUDGED = "not judged"  # released without a level or traits: no annotator fit to judge


@dataclass(frozen=True)
class LevelRule:
    questions: tuple[str, ...]  # question ids, in the order asked
    lines: tuple[dict, ...]  # {"level", "all" | "any", "why"}: the first that holds gives the level
    sha256: str


@lru_cache(maxsize=1)
def level_rule() -> LevelRule:
    return load_level_rule(RULE_FILE)


def load_level_rule(path: Path) -> LevelRule:
    """Read and check a rule file: known questions only, levels 1-4, a fallback line last."""
    data = json.loads(path.read_text(encoding="utf-8"))
    questions = tuple(data["questions"])
    for line in data["rule"]:
        literals = line.get("all", line.get("any"))
        named = {literal.removeprefix("not ") for literal in literals or ()}
        if line.get("level") not in LEVELS or literals is None or not named <= set(questions):
            raise ValueError(f"{path}: bad rule line {line}; each needs a level 1-4 and 'all' or 'any' "
                             f"of literals '<id>' or 'not <id>' naming only the questions {list(questions)}")
    if data["rule"][-1].get("any") != []:
        raise ValueError(f"{path}: the last rule line must be the fallback (\"any\": [])")
    return LevelRule(questions, tuple(data["rule"]), file_sha256(path))


def level_from_answers(answers: dict[str, bool]) -> tuple[int, str]:
    """The level the rule gives for these yes/no answers, and the rule line's reason."""
    rule = level_rule()
    missing = [q for q in rule.questions if q not in answers]
    if missing:
        raise ValueError(f"answers lack the questions {missing}")
    for line in rule.lines:
        holds = (all(_literal(answers, lit) for lit in line["all"]) if "all" in line
                 else not line["any"] or any(_literal(answers, lit) for lit in line["any"]))
        if holds:
            return line["level"], line["why"]
    raise AssertionError("unreachable: the last rule line always holds")


def _literal(answers: dict[str, bool], literal: str) -> bool:
    """'<id>' holds when the answer was yes, 'not <id>' when it was no."""
    if literal.startswith("not "):
        return not answers[literal.removeprefix("not ")]
    return answers[literal]


def traits_schema(level: int) -> dict:
    """Traits for a known level: an enum of the vocabulary (synonyms included) minus every trait that
    contradicts the level, so even a tiny model can only answer in vocabulary and in keeping with
    the level. It is asked for at least 4 so that, after duplicates are merged, 3 usually remain."""
    vocab = vocabulary()
    allowed = [name for name in vocab.accepted_names()
               if vocab.synonyms.get(name, name) not in vocab.contradicts.get(level, ())]
    return strict_object({"key_traits": {"type": "array", "minItems": MIN_TRAITS + 1, "maxItems": MAX_TRAITS,
                                         "items": {"enum": allowed}}})


@dataclass(frozen=True)
class PortrayalContext:
    """What an annotator reads about one portrayal."""

    book: str
    name: str
    profile: str
    summary: str
    scenario: str
    thought: str
    lines: tuple  # the scene's lines (.speaker, .text)

    def variables(self, contract: Contract) -> dict:
        """The template variables, the scene shown as much as the annotator's profile allows."""
        return {"book": self.book, "character": self.name, "profile": self.profile, "summary": self.summary,
                "scenario": self.scenario, "thought": self.thought, "lines": contract.excerpt(self.lines)}


@dataclass
class Annotation:
    level: int
    answers: dict[str, bool]
    reason: str  # the rule line that gave the level
    sample: int


@dataclass
class Portrayal:
    name: str
    # "agreed" | "adjudicated" | "disputed" | "failed" | "not judged" (no annotator fit to judge);
    # top-up only (synthetic.py): "designed" (level and traits are the program's design, not
    # annotated) | "unconfirmed" (the annotation disagreed with the design)
    status: str
    level: int | None = None
    traits: list[str] = field(default_factory=list)
    pair: tuple[int, int] | None = None  # the two annotators' levels, when both answered
    annotations: list[dict] = field(default_factory=list)  # every annotation, for provenance
    problems: list[str] = field(default_factory=list)  # every re-ask or failure reason

    reason: str | None = None  # why a portrayal is not judged
    calls: int = 0

    @property
    def usable(self) -> bool:
        """Has a level: a candidate for the test set."""
        return self.status in USABLE

    @property
    def released(self) -> bool:
        """Becomes a record: labelled, or released as not judged."""
        return self.usable or self.status == NOT_JUDGED


def answers_schema(questions: tuple[str, ...]) -> dict:
    """One question: {"answer": yes|no}; several asked together: a yes|no per question id."""
    if len(questions) == 1:
        return ANSWER_SCHEMA
    return strict_object({question: {"enum": ["yes", "no"]} for question in questions})


async def answer_questions(llm, context: PortrayalContext, portrayal: Portrayal, *, sample: int, role: str,
                           temperature: float) -> tuple[dict[str, bool], list[dict]] | None:
    """The annotator's yes/no answer to every rule question, with each call's provenance; None when
    a call fails (the annotation cannot be computed without every answer). The questions are asked
    the profile's `questions_per_call` at a time: one each for the embedded model (every call then
    shares one prompt prefix its server caches), all together for a capable model."""
    contract = contract_of(llm)
    questions = level_rule().questions
    size = contract.limit("questions_per_call")
    answers, calls = {}, []
    for start in range(0, len(questions), size):
        group = questions[start:start + size]
        portrayal.calls += 1
        try:
            reply = await llm.chat(request("question", answers_schema(group), contract, sample=sample,
                                           max_tokens=contract.max_tokens("answer"), temperature=temperature,
                                           question=group[0], questions=list(group),
                                           **context.variables(contract)))
        except RequestFailed as error:
            portrayal.problems.append(f"{role}: question {', '.join(map(repr, group))} failed: {error.reason}")
            return None
        if len(group) == 1:
            answers[group[0]] = reply.data["answer"] == "yes"
            calls.append({"question": group[0], **call_provenance(reply)})
        else:
            answers.update({question: reply.data[question] == "yes" for question in group})
            calls.append({"questions": list(group), **call_provenance(reply)})
    return answers, calls


async def ask_traits(llm, context: PortrayalContext, portrayal: Portrayal, level: int, *, sample: int,
                     role: str, temperature: float) -> tuple[list[str], dict] | None:
    """Traits for `level`, re-asked once (a new sample, marked as a re-ask) when they fail the
    checks; None when both asks fail."""
    contract = contract_of(llm)
    for ask in range(ASKS):
        portrayal.calls += 1
        try:
            reply = await llm.chat(request("traits", traits_schema(level), contract,
                                           sample=sample + ask * REASK_OFFSET, reask=ask > 0,
                                           max_tokens=contract.max_tokens("traits"), temperature=temperature,
                                           level=level, **context.variables(contract)))
        except RequestFailed as error:
            portrayal.problems.append(f"{role}: traits request failed: {error.reason}")
            continue
        checked = check_traits(reply.data["key_traits"], level)
        if checked.problem:
            portrayal.problems.append(f"{role}: {checked.problem}")
            continue
        return checked.traits, call_provenance(reply)
    return None


async def annotate_once(llm, context: PortrayalContext, portrayal: Portrayal, *, sample: int, role: str,
                        choices: tuple[int, int] | None = None, temperature: float = 0.7) -> Annotation | None:
    """One annotator's level: its answers, turned into a level by the rule. With `choices` (an
    adjudicator), a level outside them settles nothing (None)."""
    answered = await answer_questions(llm, context, portrayal, sample=sample, role=role, temperature=temperature)
    if answered is None:
        return None
    answers, question_calls = answered
    level, reason = level_from_answers(answers)
    portrayal.annotations.append({"role": role, "answers": {q: ("yes" if a else "no") for q, a in answers.items()},
                                  "level": level, "rule": reason, "rule_sha256": level_rule().sha256[:16],
                                  "calls": question_calls})
    if choices is not None and level not in choices:
        portrayal.problems.append(f"{role}: computed level {level}, not one of {list(choices)}")
        return None
    return Annotation(level, answers, reason, sample)


async def annotate_portrayal(first_llm, second_llm, adjudicator, context: PortrayalContext, *,
                             temperature: float = 0.7) -> Portrayal:
    """Two annotations, then agreement, adjudication of a one-level split, or a drop; then the
    traits of the settled level.

    Sample indices: the first annotator uses 0, the second 1 (0 when it is another model), the
    adjudicator 2, so the three annotations are independent samples even with one model."""
    portrayal = Portrayal(name=context.name, status="failed")
    second_sample = 1 if second_llm is first_llm else 0
    first = await annotate_once(first_llm, context, portrayal, sample=0, role="annotator 1", temperature=temperature)
    second = await annotate_once(second_llm, context, portrayal, sample=second_sample, role="annotator 2",
                                 temperature=temperature)
    if first is None or second is None:
        return portrayal
    portrayal.pair = (first.level, second.level)
    gap = abs(first.level - second.level)
    settled, settled_by, status = None, None, "disputed"
    if gap == 0:
        settled, settled_by, status = first, first_llm, "agreed"
    elif gap == 1:
        choices = (min(first.level, second.level), max(first.level, second.level))
        third = await annotate_once(adjudicator, context, portrayal, sample=2, role="adjudicator",
                                    choices=choices, temperature=temperature)
        if third is not None:
            settled, settled_by, status = third, adjudicator, "adjudicated"
    if settled is None:
        portrayal.status = "disputed"
        return portrayal
    traits = await ask_traits(settled_by, context, portrayal, settled.level, sample=settled.sample,
                              role="traits", temperature=temperature)
    if traits is None:
        return portrayal  # "failed": no valid trait set for the settled level
    portrayal.status, portrayal.level, portrayal.traits = status, settled.level, traits[0]
    portrayal.annotations.append({"role": "traits", "level": settled.level, "key_traits": traits[0],
                                  "call": traits[1]})
    return portrayal


def label_by_design(name: str, level: int, traits: tuple[str, ...]) -> Portrayal:
    """A top-up character labelled by its design (synthetic.py): the level of the deed the program
    chose and the traits chosen with it (data/synthetic.json `design_traits`), both told to the
    writer. No model is asked: an annotator unfit to judge would add noise, not a judgment."""
    problem = check_traits(list(traits), level).problem
    if problem:
        raise ValueError(f"design traits {list(traits)} of level {level}: {problem}; fix data/synthetic.json")
    return Portrayal(name=name, status="designed", level=level, traits=list(traits),
                     annotations=[{"role": "design", "level": level, "key_traits": list(traits)}])


def not_judged(name: str, reason: str) -> Portrayal:
    """A portrayal no annotator fit to judge could label: released with no level and no traits."""
    return Portrayal(name=name, status=NOT_JUDGED, reason=reason)
