"""Moral annotation of one (scene, key character) portrayal (spec Step D and §6), and the scene's tone.

The model never picks a level. An annotation asks the model a few concrete yes/no questions about
the character in the scene (one call each on the embedded model; wording in
prompts/moral_roleplay/question_user.j2) and the PROGRAM turns the answers into a level with the
decision list of data/level_rule.json (`level_from_answers`). A small model can answer "does X harm
someone here?" where it cannot apply a four-level rubric. Answers that cannot all be true of one
portrayal (the rule's `contradictions`: one question is asked from both sides, so a model that says
yes, or no, to everything contradicts itself) give NO level: the annotation is asked once more (a
re-ask), and a portrayal whose annotator still contradicts itself is released NOT JUDGED, with the
contradiction as the reason. The answers are recorded in provenance.

Two annotations are made (two sample indices of one model, or the generator and --judge-model):
- both compute the same level: accepted ("agreed");
- one level apart: a third annotation (sample 2) decides when its level is one of the two
  ("adjudicated"), else the portrayal is dropped ("disputed");
- two or more apart: dropped ("disputed").
Whether agreed labels are released at all is decided over the whole build (agreement.chance_verdict,
build.py): annotators agreeing only at chance label nothing.
Traits are asked once the level is settled, for that level, with the sample index of the annotation
that settled it and a schema enum that leaves out the traits contradicting the level; they are
still checked in code (closed vocabulary after synonym mapping, 3-7 distinct, trait-level
consistency, a villain's malice and negative traits: vocab.check_traits); a failing set is re-asked
once with a new sample index (marked as a re-ask), then the portrayal fails. Reply sizes and how much
of the scene is shown come from the annotator's profile (steps.Contract); the questions and the trait
enum are the same for every contract.

The scene's tone (Positive, Neutral, Negative) is annotated the same way, never by the model that
wrote the scene: two annotations, a third on a split that must pick one of the two, else not judged
(`annotate_tone`).

Labels come only from annotators fit to judge (their model profile's `judge`; the build picks them,
build.annotators_of). When none is, a portrayal is NOT JUDGED: no question is asked, it is released
with no level and no traits (`not_judged`), the reason in its provenance, and it never enters the
level-balanced test set; the scene's tone is not judged either. A top-up character labelled by
design (`label_by_design`) is no judgment: its level and traits are the ones the program designed
the scene around.
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
    level_requirement,
    vocabulary,
)
from builders.resources import file_sha256

RULE_FILE = Path(__file__).resolve().parent / "data" / "level_rule.json"
ANSWER_SCHEMA = strict_object({"answer": {"enum": ["yes", "no"]}})
TONES = ("Positive", "Neutral", "Negative")
TONE_SCHEMA = strict_object({"tone": {"enum": list(TONES)}})
USABLE = ("agreed", "adjudicated", "designed")  # portrayals with a level: test candidates
NOT_JUDGED = "not judged"  # released without a level or traits: no annotator fit to judge, or none judged coherently


@dataclass(frozen=True)
class LevelRule:
    questions: tuple[str, ...]  # question ids, in the order asked
    contradictions: tuple[dict, ...]  # {"all", "why"}: answers that cannot all be true; one holding gives no level
    lines: tuple[dict, ...]  # {"level", "all" | "any", "why"}: the first that holds gives the level
    sha256: str


@lru_cache(maxsize=1)
def level_rule() -> LevelRule:
    return load_level_rule(RULE_FILE)


def load_level_rule(path: Path) -> LevelRule:
    """Read and check a rule file: known questions only, levels 1-4, a fallback line last, and
    contradictions that catch an annotator answering every question alike."""
    data = json.loads(path.read_text(encoding="utf-8"))
    questions = tuple(data["questions"])
    contradictions = tuple(data.get("contradictions", ()))
    for line in data["rule"]:
        literals = line.get("all", line.get("any"))
        if line.get("level") not in LEVELS or literals is None or not _named(literals) <= set(questions):
            raise ValueError(f"{path}: bad rule line {line}; each needs a level 1-4 and 'all' or 'any' "
                             f"of literals '<id>' or 'not <id>' naming only the questions {list(questions)}")
    for line in contradictions:
        if not line.get("all") or not _named(line["all"]) <= set(questions) or not line.get("why"):
            raise ValueError(f"{path}: bad contradiction {line}; each needs 'all' (literals naming only the questions "
                             f"{list(questions)}) and 'why'")
    if data["rule"][-1].get("any") != []:
        raise ValueError(f"{path}: the last rule line must be the fallback (\"any\": [])")
    rule = LevelRule(questions, contradictions, tuple(data["rule"]), file_sha256(path))
    for uniform in (True, False):
        if _contradiction(rule, dict.fromkeys(questions, uniform)) is None:
            raise ValueError(f"{path}: answering every question {'yes' if uniform else 'no'} contradicts nothing, so "
                             "it would compute a level; add a contradiction that catches it (a question asked from "
                             "both sides)")
    return rule


def _named(literals) -> set[str]:
    return {literal.removeprefix("not ") for literal in literals}


def level_from_answers(answers: dict[str, bool]) -> tuple[int | None, str]:
    """The level the rule gives for these yes/no answers and the rule line's reason; (None, what
    the answers contradict) when they cannot all be true of one portrayal."""
    rule = level_rule()
    missing = [q for q in rule.questions if q not in answers]
    if missing:
        raise ValueError(f"answers lack the questions {missing}")
    contradiction = _contradiction(rule, answers)
    if contradiction is not None:
        return None, contradiction
    for line in rule.lines:
        holds = (all(_literal(answers, lit) for lit in line["all"]) if "all" in line
                 else not line["any"] or any(_literal(answers, lit) for lit in line["any"]))
        if holds:
            return line["level"], line["why"]
    raise AssertionError("unreachable: the last rule line always holds")


def _contradiction(rule: LevelRule, answers: dict[str, bool]) -> str | None:
    for line in rule.contradictions:
        if all(_literal(answers, lit) for lit in line["all"]):
            return f"self-contradictory answers: the character {line['why']}"
    return None


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
    level: int | None  # None: the answers contradict each other (`reason` says how)
    answers: dict[str, bool]
    reason: str  # the rule line that gave the level, or the contradiction
    sample: int


@dataclass
class Portrayal:
    name: str
    # "agreed" | "adjudicated" | "disputed" | "failed" | "not judged" (no annotator fit to judge, an
    # annotator contradicting itself, or labels withdrawn for agreement at chance);
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
    def answered(self) -> bool:
        """An annotator answered the level questions about it (a design or an unfit build asks none)."""
        return any("answers" in annotation for annotation in self.annotations)

    @property
    def released(self) -> bool:
        """Becomes a record: labelled, or released as not judged."""
        return self.usable or self.status == NOT_JUDGED

    def withdraw(self, reason: str) -> None:
        """The label came from annotators whose judgment cannot be trusted: released not judged,
        every annotation kept in provenance."""
        self.status, self.level, self.traits, self.reason = NOT_JUDGED, None, [], reason


def answers_schema(questions: tuple[str, ...]) -> dict:
    """One question: {"answer": yes|no}; several asked together: a yes|no per question id."""
    if len(questions) == 1:
        return ANSWER_SCHEMA
    return strict_object({question: {"enum": ["yes", "no"]} for question in questions})


async def answer_questions(llm, context: PortrayalContext, portrayal: Portrayal, *, sample: int, role: str,
                           temperature: float, reask: bool = False) -> tuple[dict[str, bool], list[dict]] | None:
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
            reply = await llm.chat(request("question", answers_schema(group), contract, sample=sample, reask=reask,
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
                                           level=level, requirement=level_requirement(level),
                                           **context.variables(contract)))
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
    """One annotator's level: its answers, turned into a level by the rule. Answers that contradict
    each other are asked once more (sample + REASK_OFFSET, a re-ask); an annotation that still
    contradicts itself comes back with level None. None when a call fails, or (an adjudicator,
    `choices`) when the level is outside them."""
    for ask in range(ASKS):
        asked = sample + ask * REASK_OFFSET
        answered = await answer_questions(llm, context, portrayal, sample=asked, role=role, temperature=temperature,
                                          reask=ask > 0)
        if answered is None:
            return None
        answers, question_calls = answered
        level, reason = level_from_answers(answers)
        portrayal.annotations.append({"role": role, "answers": {q: ("yes" if a else "no") for q, a in answers.items()},
                                      "level": level, "rule": reason, "rule_sha256": level_rule().sha256[:16],
                                      "calls": question_calls})
        if level is not None:
            break
        portrayal.problems.append(f"{role}: {reason}")
    if choices is not None and level not in choices:
        portrayal.problems.append(f"{role}: computed level {level}, not one of {list(choices)}")
        return None
    return Annotation(level, answers, reason, asked)


async def annotate_portrayal(first_llm, second_llm, adjudicator, context: PortrayalContext, *,
                             temperature: float = 0.7) -> Portrayal:
    """Two annotations, then agreement, adjudication of a one-level split, or a drop; then the
    traits of the settled level. An annotator contradicting itself (twice) judged nothing: the
    third annotation stands in for it and must compute the other's level ("adjudicated"); when
    both contradict themselves, or the third does too, the portrayal is released not judged, the
    answers and the contradictions in provenance.

    Sample indices: the first annotator uses 0, the second 1 (0 when it is another model), the
    adjudicator 2, so the three annotations are independent samples even with one model."""
    portrayal = Portrayal(name=context.name, status="failed")
    second_sample = 1 if second_llm is first_llm else 0
    first = await annotate_once(first_llm, context, portrayal, sample=0, role="annotator 1", temperature=temperature)
    second = await annotate_once(second_llm, context, portrayal, sample=second_sample, role="annotator 2",
                                 temperature=temperature)
    if first is None or second is None:
        return portrayal
    if first.level is None or second.level is None:
        settled = await _stand_in_for_incoherent(first, second, adjudicator, context, portrayal, temperature)
        settled_by, status = adjudicator, "adjudicated"
    else:
        settled, settled_by, status = await _settle_pair(first, second, first_llm, adjudicator, context, portrayal,
                                                         temperature)
    if settled is None:
        if portrayal.status != NOT_JUDGED:
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


async def _settle_pair(first: Annotation, second: Annotation, first_llm, adjudicator, context: PortrayalContext,
                       portrayal: Portrayal, temperature: float) -> tuple[Annotation | None, object, str]:
    """Two levels: the same is agreed, a one-level split goes to the adjudicator, anything else is
    disputed (None)."""
    portrayal.pair = (first.level, second.level)
    gap = abs(first.level - second.level)
    if gap == 0:
        return first, first_llm, "agreed"
    if gap == 1:
        choices = (min(first.level, second.level), max(first.level, second.level))
        third = await annotate_once(adjudicator, context, portrayal, sample=2, role="adjudicator",
                                    choices=choices, temperature=temperature)
        if third is not None:
            return third, adjudicator, "adjudicated"
    return None, None, "disputed"


async def _stand_in_for_incoherent(first: Annotation, second: Annotation, adjudicator, context: PortrayalContext,
                                   portrayal: Portrayal, temperature: float) -> Annotation | None:
    """One or both annotators contradicted themselves: a third annotation replaces the one that
    did, and settles the level only when it computes the other's. Both incoherent, or the third
    too: not judged."""
    incoherent = [f"{role}: {a.reason}" for role, a in (("annotator 1", first), ("annotator 2", second))
                  if a.level is None]
    if len(incoherent) == 2:
        portrayal.withdraw("; ".join(incoherent))
        return None
    kept = first if first.level is not None else second
    third = await annotate_once(adjudicator, context, portrayal, sample=2, role="adjudicator", temperature=temperature)
    if third is None:
        return None
    if third.level is None:
        portrayal.withdraw("; ".join([*incoherent, f"adjudicator: {third.reason}"]))
        return None
    portrayal.pair = (kept.level, third.level)
    if third.level != kept.level:
        portrayal.problems.append(f"adjudicator: computed level {third.level}, not the coherent annotator's "
                                  f"{kept.level}")
        return None
    return third


@dataclass
class ToneLabel:
    """A scene's tone: settled by the annotators, or None (not judged) with the reason."""

    tone: str | None
    status: str  # "agreed" | "adjudicated" | "disputed" | "failed" | "not judged"
    pair: tuple[str, str] | None = None
    annotations: list[dict] = field(default_factory=list)
    reason: str | None = None

    def provenance(self, writer_rating: str | None = None) -> dict:
        return {"tone": self.tone, "status": self.status, "pair": list(self.pair) if self.pair else None,
                "annotations": self.annotations, **({"reason": self.reason} if self.reason else {}),
                # what the writer said when it rated its own scene for completeness: never the label
                **({"writer_rating": writer_rating} if writer_rating else {})}

    def withdraw(self, reason: str) -> None:
        self.tone, self.status, self.reason = None, NOT_JUDGED, reason


async def ask_tone(llm, scene: dict, *, sample: int, role: str, temperature: float) -> tuple[str | None, dict]:
    """One annotator's tone for the scene (None when the request failed) and its provenance."""
    contract = contract_of(llm)
    try:
        reply = await llm.chat(request("tone", TONE_SCHEMA, contract, sample=sample,
                                       max_tokens=contract.max_tokens("rating"), temperature=temperature,
                                       book=scene["book"], scenario=scene["scenario"],
                                       lines=contract.excerpt(scene["lines"])))
    except RequestFailed as error:
        return None, {"role": role, "failed": error.reason}
    return reply.data["tone"], {"role": role, "tone": reply.data["tone"], "call": call_provenance(reply)}


async def annotate_tone(first_llm, second_llm, adjudicator, scene: dict, *, temperature: float = 0.7,
                        ruled_out: str | None = None) -> ToneLabel:
    """The scene's tone from two annotations (samples as for levels), a third settling a split when
    it picks one of the two. `ruled_out`: a tone the scene's design contradicts (a top-up scene built
    around a deed of level 3 or 4 is not Positive); settling on it leaves the tone not judged.
    `scene`: book, scenario and lines (anything with .speaker and .text)."""
    second_sample = 1 if second_llm is first_llm else 0
    first, first_record = await ask_tone(first_llm, scene, sample=0, role="annotator 1", temperature=temperature)
    second, second_record = await ask_tone(second_llm, scene, sample=second_sample, role="annotator 2",
                                           temperature=temperature)
    label = ToneLabel(None, "failed", annotations=[first_record, second_record])
    if first is None or second is None:
        label.reason = "a tone request failed"
        return label
    label.pair, label.status, tone = (first, second), "agreed", first
    if first != second:
        third, third_record = await ask_tone(adjudicator, scene, sample=2, role="adjudicator", temperature=temperature)
        label.annotations.append(third_record)
        if third not in label.pair:
            label.status, label.reason = "disputed", f"annotators said {first} and {second}, and no third settled it"
            return label
        tone, label.status = third, "adjudicated"
    if tone == ruled_out:
        label.withdraw(f"annotators called the scene {tone}, which the deed the program wrote into it rules out")
        return label
    label.tone = tone
    return label


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
