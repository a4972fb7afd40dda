"""Triple generation for one timestep, in the generator's contract (contract.py).

Strict (the embedded model). A 135M model asked for a whole triple set returned empty objects and
invented relations, so the ask is split and narrowed:
- each request asks for ONE triple of one dimension; its relation is an enum of that dimension's
  base relations, plus "<base><Name>" qualified forms for the other key characters of the plot
  (computed here, so a qualifier is always a real name of the scene);
- the object is held by a pattern to a few plain words (`object_pattern`, its word counts from
  the profile), so the grammar cannot emit an empty, numeric or markup object.
A dimension whose reply fails is re-asked with a new sample index, up to `attempts` times.

Natural (capable models). One request for the whole set, as the spec's step 7 asks: for each
dimension one or two (relation, object) pairs (the original has 6.3 triples a record), the
relation an enum of the same choices, the object free prose of the original's length. The set is
asked again (a re-ask) only when too few valid triples remain. What the released string form
"(Subject, Relation, object)" cannot hold is normalised, not re-asked: line breaks are joined,
parentheses around or opening an object are removed, words echoing the relation at its start
("believes that ...") and a sentence's final full stop are dropped (`TripleOutcome.normalised`
counts each).

Either way the subject is never asked for (it is the target character), every pair goes through
triples.make_triple (vocabulary, qualifier, subject, object length), the no-future-leakage check
and the wording rules (as the generator's profile sets them, wording.py), and the timestep keeps
its valid triples when at least MIN_TRIPLES survive covering MIN_DIMENSIONS dimensions; otherwise
it fails with every reason recorded.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from builders.litchartom.context import REPEAT_PENALTY, excerpt
from builders.litchartom.contract import Contract, contract_of, words_outside
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.triples import (
    Triple,
    TripleError,
    dedup_triples,
    format_triple,
    make_triple,
)
from builders.litchartom.vocab import (
    BASE_RELATIONS,
    DIMENSIONS,
    MAX_QUALIFIER_WORDS,
    Dimension,
    camel_case,
)
from builders.litchartom.wording import Wording
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash

TEMPLATE = "litchartom/triple.j2"
STEP = "litchartom.triples"
MIN_TRIPLES = 3
MIN_DIMENSIONS = 3
# The strict grammar's plain word (an apostrophe or a comma may follow it): no numeric or markup objects.
OBJECT_WORD = "[A-Za-z][a-z']{0,15}"
STRICT_CHARS_PER_WORD = 10  # the strict object's character bound: its most words at 10 characters each
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
    normalised: Counter = field(default_factory=Counter)  # what the program changed in accepted objects -> how often


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


def object_pattern(words: tuple[int, int]) -> str:
    """The strict object: `words` plain words (a comma may follow a word)."""
    low, high = words
    return f"^{OBJECT_WORD}(,? {OBJECT_WORD}){{{low - 1},{high - 1}}}$"


def triple_schema(relations: list[str], contract: Contract) -> dict:
    """The strict reply: one triple of one dimension."""
    pattern = object_pattern(contract.object_words)
    return {"type": "object",
            "properties": {"relation": {"enum": relations},
                           "object": {"type": "string", "pattern": pattern,
                                      "maxLength": STRICT_CHARS_PER_WORD * contract.object_words[1]}},
            "required": ["relation", "object"], "additionalProperties": False}


def _prompt(step: Timestep, contract: Contract, earlier: list[str], **variables) -> str:
    return render(TEMPLATE, title=step.work.title, character=step.character,
                  summary=step.plot.summary, scenario=step.plot.scenario,
                  excerpt=excerpt(step.plot, step.character_id, max_chars=contract.triple_excerpt_chars),
                  earlier_triples=earlier, natural=contract.natural, object_words=contract.object_words,
                  **variables)


def triple_messages(step: Timestep, dimension: Dimension, relations: list[str], earlier_triples: list[Triple],
                    contract: Contract) -> list[dict]:
    """The strict ask: one dimension, its last two triples before this plot as context."""
    ask, what = (text.format(c=step.character) for text in ASKS[dimension.name])
    earlier = [format_triple(t) for t in earlier_triples if t.dimension == dimension.name][-2:]
    prompt = _prompt(step, contract, earlier, ask=ask, what=what, relations=relations)
    return [{"role": "user", "content": prompt}]


def validate_pairs(pairs: list[dict], step: Timestep, leak_check: FutureLeakCheck,
                   wording: Wording | None = None) -> tuple[list[Triple], list[str]]:
    """Structured triples from the model's pairs, and a reason for each pair dropped."""
    wording = wording or Wording()
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
        problem = wording.phrase_problem(triple.object)
        if problem:
            problems.append(f"triple rejected: {problem}")
            continue
        triples.append(triple)
    return dedup_triples(triples), problems


async def dimension_triple(llm, step: Timestep, dimension: Dimension, earlier_triples: list[Triple],
                           leak_check: FutureLeakCheck, wording: Wording | None, outcome: TripleOutcome,
                           contract: Contract, *, attempts: int) -> Triple | None:
    """Strict: one valid triple of `dimension`, or None after `attempts` requests (reasons go to `outcome`)."""
    relations = relation_choices(step, dimension)
    messages = triple_messages(step, dimension, relations, earlier_triples, contract)
    for sample in range(attempts):
        outcome.attempts += 1
        try:
            reply = await llm.chat(ChatRequest(messages=messages, schema=triple_schema(relations, contract),
                                               temperature=0.5, max_tokens=contract.triple_max_tokens, sample=sample,
                                               step=STEP, prompt_hash=template_hash(TEMPLATE),
                                               repeat_penalty=REPEAT_PENALTY, reask=sample > 0))
        except RequestFailed as error:
            outcome.problems.append(f"{dimension.name} triple request failed: {error.reason}")
            continue
        triples, problems = validate_pairs([reply.data], step, leak_check, wording)
        outcome.problems.extend(f"{dimension.name} (sample {sample}): {p}" for p in problems)
        if triples:
            outcome.provenance.setdefault("request_hashes", []).append(reply.provenance.get("request_hash", ""))
            return triples[0]
    return None


async def generate_triples(llm, step: Timestep, earlier_triples: list[Triple], leak_check: FutureLeakCheck,
                           wording: Wording | None = None, *, contract: Contract | None = None,
                           attempts: int = 2) -> TripleOutcome:
    """The timestep's triples in `contract` (default: that of `llm`'s profile); deterministic order."""
    contract = contract or contract_of(llm)
    wording = wording or Wording(enabled=contract.wording_checks)
    if contract.natural:
        return await whole_set(llm, step, earlier_triples, leak_check, wording, contract, attempts=attempts)
    outcome = TripleOutcome(triples=[], attempts=0)
    found = []
    for dimension in DIMENSIONS.values():
        triple = await dimension_triple(llm, step, dimension, earlier_triples, leak_check, wording, outcome,
                                        contract, attempts=attempts)
        if triple is not None:
            found.append(triple)
    triples = dedup_triples(found)
    if _enough(triples):
        outcome.triples = triples
    else:
        outcome.problems.append(_too_thin(triples))
    return outcome


def _enough(triples: list[Triple]) -> bool:
    return len(triples) >= MIN_TRIPLES and len({t.dimension for t in triples}) >= MIN_DIMENSIONS


def _too_thin(triples: list[Triple]) -> str:
    return f"triple set too thin: {len(triples)} valid, {len({t.dimension for t in triples})} dimensions"


# -- the natural contract: the whole set in one reply ---------------------------------------------


def natural_schema(step: Timestep, contract: Contract) -> dict:
    """{"belief": [{"relation", "object"}, ...], ...}: one or two pairs per dimension, the relation
    an enum of the dimension's choices, the object free prose of the original's length."""
    low, high = contract.targets.triples_per_dimension
    properties = {}
    for dimension in DIMENSIONS.values():
        what = ASKS[dimension.name][1].format(c=step.character)
        item = {"type": "object",
                "properties": {"relation": {"enum": relation_choices(step, dimension)},
                               "object": {"type": "string", "minLength": 1,
                                          "description": f"{what[0].upper()}{what[1:]}: a phrase of about "
                                                         f"{contract.targets.triple_object} words."}},
                "required": ["relation", "object"], "additionalProperties": False}
        properties[dimension.name] = {"type": "array", "minItems": low, "maxItems": high, "items": item}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def natural_messages(step: Timestep, earlier_triples: list[Triple], contract: Contract) -> list[dict]:
    """The whole-set ask; the character's previous set as context."""
    asks = [{"name": d.name, "what": ASKS[d.name][1].format(c=step.character),
             "relations": relation_choices(step, d)} for d in DIMENSIONS.values()]
    prompt = _prompt(step, contract, [format_triple(t) for t in earlier_triples], dimensions=asks,
                     targets=contract.targets)
    return [{"role": "user", "content": prompt}]


async def whole_set(llm, step: Timestep, earlier_triples: list[Triple], leak_check: FutureLeakCheck,
                    wording: Wording | None, contract: Contract, *, attempts: int) -> TripleOutcome:
    """Natural: the timestep's triples from one reply, asked again only while too few are valid."""
    outcome = TripleOutcome(triples=[], attempts=0)
    request = {"messages": natural_messages(step, earlier_triples, contract),
               "schema": natural_schema(step, contract), "temperature": 0.5,
               "max_tokens": contract.triple_max_tokens, "step": STEP, "prompt_hash": template_hash(TEMPLATE)}
    for sample in range(attempts):
        outcome.attempts += 1
        try:
            reply = await llm.chat(ChatRequest(sample=sample, reask=sample > 0, **request))
        except RequestFailed as error:
            outcome.problems.append(f"triple request failed: {error.reason}")
            continue
        pairs, notes, problems = _normalised_pairs(reply.data, contract)
        triples, invalid = validate_pairs(pairs, step, leak_check, wording)
        outcome.problems.extend(f"sample {sample}: {p}" for p in problems + invalid)
        if _enough(triples):
            outcome.triples = triples
            outcome.normalised.update(notes)
            outcome.provenance["request_hashes"] = [reply.provenance.get("request_hash", "")]
            return outcome
        outcome.problems.append(f"sample {sample}: {_too_thin(triples)}")
    return outcome


def _normalised_pairs(data: dict, contract: Contract) -> tuple[list[dict], list[str], list[str]]:
    """The reply's pairs in dimension order with their objects normalised; what was changed; and
    the objects dropped for running past the profile's word bound."""
    pairs, notes, problems = [], [], []
    for dimension in DIMENSIONS.values():
        for pair in data[dimension.name]:
            obj, changes = normalise_object(pair["object"])
            runaway = words_outside(obj, contract.object_words, f"the {pair['relation']} object")
            if runaway:
                problems.append(f"triple rejected: {runaway}")
                continue
            notes.extend(changes)
            pairs.append({"relation": pair["relation"], "object": obj})
    return pairs, notes, problems


def normalise_object(text: str) -> tuple[str, list[str]]:
    """An object the released string form can hold, and what was changed: line breaks joined,
    parentheses removed when they open or close it, relation words echoed at its start and a final
    full stop dropped."""
    changes = []
    obj = " ".join(text.split())
    if any(char in text for char in "\n\r\t"):
        changes.append("line breaks joined")
    if obj.startswith("(") or obj.endswith(")"):
        obj = " ".join(obj.replace("(", " ").replace(")", " ").split())
        changes.append("parentheses removed")
    echoless = without_echo(obj)
    if echoless != obj and echoless:
        obj = echoless
        changes.append("relation words at the start dropped")
    if obj.endswith("."):  # an object is a phrase inside "( ... )": no sentence stop (make_triple drops it too)
        obj = obj.rstrip(" .")
        changes.append("final full stop dropped")
    return obj, changes


def without_echo(obj: str) -> str:
    """The object without the relation verbs it opens with: the embedded model echoes the ask
    ("Believes that Banquo is a king", "Believes that, Believes that"); what follows is the object.
    A reply that is nothing but echoes is left empty, and make_triple refuses it."""
    words = obj.split()
    while words and _ECHO.fullmatch(words[0]):
        words = words[1:]
    return " ".join(words)
