"""Triple generation for one timestep (one call, re-asked a bounded number of times).

The model returns {relation, object} pairs; the subject is always the target character (it is
not asked for). Every pair goes through triples.make_triple (vocabulary, qualifier, object length)
and the no-future-leakage check; invalid pairs are dropped with a reason. The set is re-asked
(new sample index) while fewer than MIN_TRIPLES survive or fewer than MIN_DIMENSIONS dimensions
are covered; after the last attempt a set of at least MIN_TRIPLES valid triples is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from builders.litchartom.context import excerpt
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.triples import (
    Triple,
    TripleError,
    dedup_triples,
    format_triple,
    make_triple,
)
from builders.litchartom.vocab import camel_case
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash

TEMPLATE = "litchartom/triples.j2"
STEP = "litchartom.triples"
MIN_TRIPLES = 3
MIN_DIMENSIONS = 3
RELATION_PATTERN = "^(Believes|Desires|Intends|Feels)[A-Za-z]{0,30}$"

TRIPLES_SCHEMA = {
    "type": "object",
    "properties": {"triples": {"type": "array", "minItems": 3, "maxItems": 5, "items": {
        "type": "object",
        "properties": {"relation": {"type": "string", "pattern": RELATION_PATTERN, "maxLength": 40},
                       "object": {"type": "string", "minLength": 3, "maxLength": 60}},
        "required": ["relation", "object"], "additionalProperties": False}}},
    "required": ["triples"], "additionalProperties": False,
}


@dataclass
class TripleOutcome:
    triples: list[Triple]  # valid, deduplicated; empty when the timestep failed
    attempts: int
    problems: list[str] = field(default_factory=list)  # every dropped pair and failed attempt, with reasons
    provenance: dict = field(default_factory=dict)


def triple_messages(step: Timestep, earlier_triples: list[Triple], *, excerpt_chars: int) -> list[dict]:
    others = [k.name for k in step.plot.key_characters if k.id != step.character_id]
    prompt = render(TEMPLATE, title=step.work.title, character=step.character,
                    earlier=step.earlier[-2:], earlier_triples=[format_triple(t) for t in earlier_triples[-6:]],
                    summary=step.plot.summary, scenario=step.plot.scenario,
                    excerpt=excerpt(step.plot, step.character_id, max_chars=excerpt_chars),
                    qualifier_example=camel_case(others[0]) if others else "Someone")
    return [{"role": "user", "content": prompt}]


def validate_pairs(pairs: list[dict], step: Timestep, leak_check: FutureLeakCheck) -> tuple[list[Triple], list[str]]:
    """Structured triples from the model's pairs, and a reason for each pair dropped."""
    names = step.work.aliases.names_of(step.character_id)
    until = step.plot.span[1]
    triples, problems = [], []
    for pair in pairs:
        try:
            triple = make_triple(step.character, pair["relation"], pair["object"], step.plot.index,
                                 character=step.character, subject_names=names)
        except TripleError as error:
            problems.append(f"triple rejected: {error}")
            continue
        qualifier_words = " ".join(re.findall(r"[A-Z][a-z0-9]*", triple.qualifier))
        leaked = leak_check.leaks(f"{qualifier_words} {triple.object}", until=until)
        if leaked:
            problems.append(f"triple rejected: future leakage: {', '.join(leaked)} first appear after plot "
                            f"{step.plot.index}")
            continue
        triples.append(triple)
    return dedup_triples(triples), problems


async def generate_triples(llm, step: Timestep, earlier_triples: list[Triple], leak_check: FutureLeakCheck, *,
                           attempts: int = 2, excerpt_chars: int = 1500, max_tokens: int = 300) -> TripleOutcome:
    messages = triple_messages(step, earlier_triples, excerpt_chars=excerpt_chars)
    outcome = TripleOutcome(triples=[], attempts=0)
    best: list[Triple] = []
    for sample in range(attempts):
        outcome.attempts = sample + 1
        try:
            reply = await llm.chat(ChatRequest(messages=messages, schema=TRIPLES_SCHEMA, temperature=0.5,
                                               max_tokens=max_tokens, sample=sample, step=STEP,
                                               prompt_hash=template_hash(TEMPLATE)))
        except RequestFailed as error:
            outcome.problems.append(f"triples request failed: {error.reason}")
            continue
        triples, problems = validate_pairs(reply.data["triples"], step, leak_check)
        outcome.problems.extend(problems)
        if len(triples) > len(best):
            best, outcome.provenance = triples, {**reply.provenance, "cached": reply.cached}
        covered = {t.dimension for t in triples}
        if len(triples) >= MIN_TRIPLES and len(covered) >= MIN_DIMENSIONS:
            break
        outcome.problems.append(f"triple set too thin: {len(triples)} valid, {len(covered)} dimensions (sample {sample})")
    outcome.triples = best if len(best) >= MIN_TRIPLES else []
    return outcome
