"""Moral annotation of one (scene, key character) portrayal (spec Step D and §6).

Two annotations are asked (two sample indices of one model, or the generator and --judge-model).
- Both give the same level: accepted ("agreed").
- One level apart: a third call, restricted by its schema to the two levels, decides ("adjudicated").
- Two or more apart: the portrayal is dropped ("disputed").
An annotation is two calls: the level (with a one-sentence rationale), then the traits for that
level, whose schema enum leaves out the traits that contradict it. Traits are still checked in code
(closed vocabulary after synonym mapping, 3-7 distinct, trait-level consistency); a failing set is
re-asked once with a new sample index, then the annotation is dropped.
The rationale of every call goes to provenance only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builders.llm import RequestFailed
from builders.moral_roleplay.steps import (
    call_provenance,
    excerpt,
    request,
    strict_object,
    text_field,
)
from builders.moral_roleplay.vocab import (
    LEVELS,
    MAX_TRAITS,
    MIN_TRAITS,
    check_traits,
    vocabulary,
)

REASK_OFFSET = 10  # the re-ask of sample k is sample k + 10: distinct cache keys, still reproducible
ASKS_PER_ANNOTATION = 2  # the first ask and one re-ask


def level_schema(levels=LEVELS) -> dict:
    """The level (an enum: only 1-4, or the two levels an adjudicator decides between) and a reason."""
    return strict_object({"level": {"enum": list(levels)}, "rationale": text_field(5, 120)})


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


@dataclass
class Annotation:
    level: int
    traits: list[str]
    rationale: str
    provenance: dict


@dataclass
class Portrayal:
    name: str
    status: str  # "agreed" | "adjudicated" | "disputed" | "failed"
    level: int | None = None
    traits: list[str] = field(default_factory=list)
    pair: tuple[int, int] | None = None  # the two annotators' levels, when both answered
    annotations: list[dict] = field(default_factory=list)  # every accepted call, for provenance
    problems: list[str] = field(default_factory=list)  # every re-ask or failure reason
    calls: int = 0

    @property
    def usable(self) -> bool:
        return self.status in ("agreed", "adjudicated")


async def annotate_once(llm, context: PortrayalContext, portrayal: Portrayal, *, sample: int, role: str,
                        choices: tuple[int, int] | None = None, temperature: float = 0.7) -> Annotation | None:
    """One annotator's label: the level, then traits for that level (re-asked once when they fail
    the checks). None when a call fails or the traits fail twice."""
    variables = dict(choices=list(choices) if choices else None, book=context.book, character=context.name,
                     profile=context.profile, summary=context.summary, scenario=context.scenario,
                     thought=context.thought, lines=excerpt(context.lines))
    portrayal.calls += 1
    try:
        judged = await llm.chat(request("annotate", level_schema(choices or LEVELS), sample=sample, max_tokens=80,
                                        temperature=temperature, **variables))
    except RequestFailed as error:
        portrayal.problems.append(f"{role}: level request failed: {error.reason}")
        return None
    level = judged.data["level"]
    for ask in range(ASKS_PER_ANNOTATION):
        portrayal.calls += 1
        try:
            reply = await llm.chat(request("traits", traits_schema(level), sample=sample + ask * REASK_OFFSET,
                                           max_tokens=80, temperature=temperature, level=level, **variables))
        except RequestFailed as error:
            portrayal.problems.append(f"{role}: traits request failed: {error.reason}")
            continue
        checked = check_traits(reply.data["key_traits"], level)
        if checked.problem:
            portrayal.problems.append(f"{role}: {checked.problem}")
            continue
        annotation = Annotation(level, checked.traits, judged.data["rationale"],
                                {**call_provenance(judged), "role": role,
                                 "traits_call": call_provenance(reply)})
        portrayal.annotations.append({"role": role, "level": level, "key_traits": checked.traits,
                                      "rationale": annotation.rationale, **annotation.provenance})
        return annotation
    return None


async def annotate_portrayal(first_llm, second_llm, adjudicator, context: PortrayalContext, *,
                             temperature: float = 0.7) -> Portrayal:
    """Two annotations, then agreement, adjudication of a one-level split, or a drop.

    Sample indices: the first annotator uses 0, the second 1 (0 when it is another model), the
    adjudicator 2, so the three calls are independent samples even with one model."""
    portrayal = Portrayal(name=context.name, status="failed")
    second_sample = 1 if second_llm is first_llm else 0
    first = await annotate_once(first_llm, context, portrayal, sample=0, role="annotator 1", temperature=temperature)
    second = await annotate_once(second_llm, context, portrayal, sample=second_sample, role="annotator 2",
                                 temperature=temperature)
    if first is None or second is None:
        return portrayal
    portrayal.pair = (first.level, second.level)
    gap = abs(first.level - second.level)
    if gap == 0:
        portrayal.status, portrayal.level, portrayal.traits = "agreed", first.level, first.traits
    elif gap == 1:
        choices = (min(first.level, second.level), max(first.level, second.level))
        third = await annotate_once(adjudicator, context, portrayal, sample=2, role="adjudicator",
                                    choices=choices, temperature=temperature)
        if third is not None:
            portrayal.status, portrayal.level, portrayal.traits = "adjudicated", third.level, third.traits
        else:
            portrayal.status = "disputed"
    else:
        portrayal.status = "disputed"
    return portrayal
