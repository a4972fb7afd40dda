"""Triple generation for one timestep: one small request per dimension, re-asked a bounded number of times.

A 135M model asked for a whole triple set returned empty objects and invented relations, so the
ask is split and narrowed:
- the subject is never asked for: it is the target character (the program sets it);
- each request asks for ONE triple of one dimension; its relation is an enum of that dimension's
  base relations, plus "<base><Name>" qualified forms for the other key characters of the plot
  (computed here, so a qualifier is always a real name of the scene);
- the object is held by a pattern to 3-12 plain words (`OBJECT_PATTERN`), so the grammar cannot
  emit an empty, numeric or markup object.
Every reply still goes through triples.make_triple (vocabulary, qualifier, subject, object length)
the no-future-leakage check and the wording check (wording.py). A dimension whose reply fails is re-asked with a new sample
index, up to `attempts` times. The timestep keeps its valid triples when at least MIN_TRIPLES
survive covering MIN_DIMENSIONS dimensions; otherwise it fails with every reason recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from builders.litchartom.context import REPEAT_PENALTY, excerpt
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.triples import (
    Triple,
    TripleError,
    dedup_triples,
    format_triple,
    make_triple,
)
from builders.litchartom.wording import SourceVocabulary, repetition_problem, unfinished_problem
from builders.litchartom.vocab import BASE_RELATIONS, DIMENSIONS, MAX_QUALIFIER_WORDS, Dimension, camel_case
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash

TEMPLATE = "litchartom/triple.j2"
STEP = "litchartom.triples"
MIN_TRIPLES = 3
MIN_DIMENSIONS = 3
# 3-12 words of letters (an apostrophe or a comma may follow a word): no empty, numeric or markup objects.
OBJECT_PATTERN = "^[A-Za-z][a-z']{0,15}(,? [A-Za-z][a-z']{0,15}){2,11}$"
# A word that restates a relation at the start of an object: "Believes", "believes,", "that", "Desire".
_ECHO = re.compile(r"(?i)(believes?|beliefs?|desires?|wants?|intends?|intentions?|feels?|feelings?|that)[,.:]?")
# Bases that take a person as qualifier ("FeelsTowardsKent"); the others stand alone.
PERSON_BASES = ("FeelsTowards", "BelievesAbout")
MAX_NAMED_OTHERS = 4
# What each request asks, per dimension: the sentence that opens the ask and what the object says.
ASKS = {
    "belief": ("What does {c} believe in this plot?", "what {c} believes"),
    "desire": ("What does {c} want in this plot?", "what {c} wants"),
    "intention": ("What does {c} intend to do next?", "what {c} plans to do"),
    "emotion": ("How does {c} feel in this plot?", "what {c} feels and about whom"),
}


@dataclass
class TripleOutcome:
    triples: list[Triple]  # valid, deduplicated; empty when the timestep failed
    attempts: int  # requests made, over all dimensions
    problems: list[str] = field(default_factory=list)  # every dropped reply and failed request, with reasons
    provenance: dict = field(default_factory=dict)  # {"request_hashes": of the accepted replies, in dimension order}


def relation_choices(step: Timestep, dimension: Dimension) -> list[str]:
    """The dimension's base relations, then the person bases qualified by the plot's other key characters."""
    bases = [base for base, dim in BASE_RELATIONS.items() if dim == dimension.name]
    qualified = [f"{base}{qualifier}" for base in bases if base in PERSON_BASES
                 for qualifier in other_qualifiers(step)]
    return sorted(bases, key=len) + qualified


def other_qualifiers(step: Timestep) -> list[str]:
    """CamelCase names (at most MAX_QUALIFIER_WORDS words) of the plot's other resolved key characters."""
    names = []
    for key in step.plot.key_characters:
        qualifier = camel_case(key.name)
        if key.id and key.id != step.character_id and len(re.findall(r"[A-Z][a-z0-9]*", qualifier)) <= MAX_QUALIFIER_WORDS:
            names.append(qualifier)
    return list(dict.fromkeys(names))[:MAX_NAMED_OTHERS]


def triple_schema(relations: list[str]) -> dict:
    return {"type": "object",
            "properties": {"relation": {"enum": relations},
                           "object": {"type": "string", "pattern": OBJECT_PATTERN, "maxLength": 120}},
            "required": ["relation", "object"], "additionalProperties": False}


def triple_messages(step: Timestep, dimension: Dimension, relations: list[str], earlier_triples: list[Triple], *,
                    excerpt_chars: int) -> list[dict]:
    ask, what = (text.format(c=step.character) for text in ASKS[dimension.name])
    prompt = render(TEMPLATE, title=step.work.title, character=step.character,
                    summary=step.plot.summary, scenario=step.plot.scenario,
                    excerpt=excerpt(step.plot, step.character_id, max_chars=excerpt_chars),
                    earlier_triples=[format_triple(t) for t in earlier_triples if t.dimension == dimension.name][-2:],
                    ask=ask, what=what, relations=relations)
    return [{"role": "user", "content": prompt}]


def validate_pairs(pairs: list[dict], step: Timestep, leak_check: FutureLeakCheck,
                   vocabulary: SourceVocabulary | None = None) -> tuple[list[Triple], list[str]]:
    """Structured triples from the model's pairs, and a reason for each pair dropped."""
    names = step.work.aliases.names_of(step.character_id)
    until = step.plot.span[1]
    triples, problems = [], []
    for pair in pairs:
        try:
            triple = make_triple(step.character, pair["relation"], without_echo(pair["object"]), step.plot.index,
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
        wording = ((vocabulary.problem(triple.object) if vocabulary else None) or repetition_problem(triple.object)
                   or unfinished_problem(triple.object))
        if wording:
            problems.append(f"triple rejected: {wording}")
            continue
        triples.append(triple)
    return dedup_triples(triples), problems


async def dimension_triple(llm, step: Timestep, dimension: Dimension, earlier_triples: list[Triple],
                           leak_check: FutureLeakCheck, vocabulary: SourceVocabulary | None, outcome: TripleOutcome,
                           *, attempts: int,
                           excerpt_chars: int, max_tokens: int) -> Triple | None:
    """One valid triple of `dimension`, or None after `attempts` requests (reasons go to `outcome`)."""
    relations = relation_choices(step, dimension)
    messages = triple_messages(step, dimension, relations, earlier_triples, excerpt_chars=excerpt_chars)
    for sample in range(attempts):
        outcome.attempts += 1
        try:
            reply = await llm.chat(ChatRequest(messages=messages, schema=triple_schema(relations), temperature=0.5,
                                               max_tokens=max_tokens, sample=sample, step=STEP,
                                               prompt_hash=template_hash(TEMPLATE),
                                               repeat_penalty=REPEAT_PENALTY))
        except RequestFailed as error:
            outcome.problems.append(f"{dimension.name} triple request failed: {error.reason}")
            continue
        triples, problems = validate_pairs([reply.data], step, leak_check, vocabulary)
        outcome.problems.extend(f"{dimension.name} (sample {sample}): {p}" for p in problems)
        if triples:
            outcome.provenance.setdefault("request_hashes", []).append(reply.provenance.get("request_hash", ""))
            return triples[0]
    return None


async def generate_triples(llm, step: Timestep, earlier_triples: list[Triple], leak_check: FutureLeakCheck,
                           vocabulary: SourceVocabulary | None = None, *, attempts: int = 2, excerpt_chars: int = 700,
                           max_tokens: int = 64) -> TripleOutcome:
    """The timestep's triples, one per dimension, asked in the fixed dimension order (deterministic)."""
    outcome = TripleOutcome(triples=[], attempts=0)
    found = []
    for dimension in DIMENSIONS.values():
        triple = await dimension_triple(llm, step, dimension, earlier_triples, leak_check, vocabulary, outcome,
                                        attempts=attempts, excerpt_chars=excerpt_chars, max_tokens=max_tokens)
        if triple is not None:
            found.append(triple)
    triples = dedup_triples(found)
    covered = {t.dimension for t in triples}
    if len(triples) >= MIN_TRIPLES and len(covered) >= MIN_DIMENSIONS:
        outcome.triples = triples
    else:
        outcome.problems.append(f"triple set too thin: {len(triples)} valid, {len(covered)} dimensions")
    return outcome


def without_echo(obj: str) -> str:
    """The object without the relation verbs it opens with: the embedded model echoes the ask
    ("Believes that Banquo is a king", "Believes that, Believes that"); what follows is the object.
    A reply that is nothing but echoes is left empty, and make_triple refuses it."""
    words = obj.split()
    while words and _ECHO.fullmatch(words[0]):
        words = words[1:]
    return " ".join(words)
