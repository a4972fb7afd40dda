"""Triple generation for one timestep, in the generator's contract (contract.py).

Strict (the embedded model). A 135M model asked for a whole triple set returned empty objects and
invented relations, and offered a choice of relations it took the first one (measured: 4 relation
strings in 31 triples, one per dimension). So the program plans the asks, each meaning one relation:
- one request per ask, each for ONE triple: the general state of each dimension (BelievesThat,
  DesiresTo, Feels, IntendsTo first in its enum, the dimension's other bases after), and, when the
  plot has other key characters, what the character believes about one of them
  (BelievesAbout<Name>) and feels towards one of them (FeelsTowards<Name>); six triples where the
  plot allows (the original has 6.3 a record), their relations as varied as the plot's cast;
- the object is held by a pattern to a few plain words (`object_pattern`, its word counts from
  the profile), so the grammar cannot emit an empty, numeric or markup object;
- the object comes before the relation in the reply: having written the relation first, the model
  repeated it as the object ("Believes, Believes, Believes"); asked object first, 17 of 36 asks
  gave a valid triple where 9 of 36 did (King Lear, six timesteps, one sample each).
An ask whose reply fails is re-asked with a new sample index, up to `attempts` times.

Natural (capable models). One request for the whole set, as the spec's step 7 asks: for each
dimension one or two triples, about six in all; the relation an enum of the dimension's bases and
their forms qualified by the plot's other key characters, plus an optional `about`: the verb or
topic (1-3 words) that qualifies a DesiresTo / IntendsTo / BelievesAbout / FeelsAbout relation
(spec section 4: "DesiresToHear", "BelievesAboutTeachings"); the object free prose of the
original's length. The set is asked again (a re-ask) only when too few valid triples remain. What
the released string form "(Subject, Relation, object)" cannot hold is normalised, not re-asked:
line breaks are joined, parentheses around or opening an object are removed, words echoing the
relation at its start ("believes that ...") and a sentence's final full stop are dropped, an
`about` too long to be a qualifier is left off (`TripleOutcome.normalised` counts each).

Either way the subject is never asked for (it is the target character), "DesiresToKnow" is never
offered, and every pair goes through triples.make_triple (vocabulary, qualifier, subject), the
object bound (contract.OBJECT_WORDS, 3-12 words, checked after normalisation), the release's own
checks (no relation name echoed inside the object, no object that only restates the ask or only
names characters, no desire that is only to know something), the
no-future-leakage check and the wording rules (as the generator's profile sets them, wording.py);
the timestep keeps its valid triples when at least MIN_TRIPLES survive covering MIN_DIMENSIONS
dimensions; otherwise it fails with every reason recorded.
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
    split_relation,
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
# Bases that take a verb or topic as qualifier under the natural contract ("DesiresToHear").
TOPIC_BASES = ("BelievesAbout", "FeelsAbout", "DesiresTo", "IntendsTo")
# Never offered: asked what a character wants, the embedded model answered "to know" (13 of 20 records
# in issue 20's build; 7 of 8 desires over 12 King Lear timesteps), a wish that fits any character. It stays in the vocabulary (spec
# section 4: twelve bases), and a desire only to know something is refused (`generic_desire`).
NOT_OFFERED = ("DesiresToKnow",)
MAX_NAMED_OTHERS = 4
# What each request asks, per dimension: the sentence that opens the ask and what the object says.
ASKS = {
    "belief": ("What does {c} believe in this plot?", "what {c} believes"),
    "desire": ("What does {c} want to happen, or to do, in this plot?", "what {c} wants"),
    "intention": ("What does {c} intend to do next?", "what {c} plans to do"),
    "emotion": ("How does {c} feel in this plot?", "what {c} feels and about whom"),
}
# The strict asks about another key character: dimension -> (base, the ask, what the object says).
PERSON_ASKS = {
    "belief": ("BelievesAbout", "What does {c} believe about {o}?", "what {c} believes about {o}"),
    "emotion": ("FeelsTowards", "How does {c} feel towards {o}?", "what {c} feels towards {o}"),
}
# The relation each strict general ask means, offered first (the dimension's other bases follow).
STRICT_FIRST = {"belief": "BelievesThat", "desire": "DesiresTo", "emotion": "Feels", "intention": "IntendsTo"}
# A desire that is only a wish to know: "to know the truth", "find out what happened".
_TO_KNOW = re.compile(r"(?i)^(to\s+)?(know|learn|find\s+out|discover|understand)\b")
_BASE_NAMES = frozenset(base.lower() for base in BASE_RELATIONS)
_COMPOUND_BASES = tuple(base.lower() for base in BASE_RELATIONS if len(re.findall("[A-Z]", base)) > 1)
# Words that carry no content of their own in an object, and the ask's verbs in their other forms.
_FUNCTION_WORDS = frozenset("a an the of to and or in on at for with about as by his her their its he she they him "
                            "them himself herself themselves itself is are was be that this what who whom do does "
                            "s".split())
_ASK_WORDS = frozenset("believe believes belief beliefs want wants wish wishes desire desires feel feels feeling "
                       "feelings intend intends intention intentions plan plans thought thoughts mind".split())
_FILLER_WORDS = frozenset({"a", "an", "the", "his", "her", "their", "its", "my", "your", "our", "this", "that", "to"})


@dataclass(frozen=True)
class Ask:
    """One strict request: a dimension, the relations offered (first: the one meant) and the words of the ask."""

    dimension: Dimension
    relations: list[str]
    ask: str  # "What does Edmund believe about Kent?"
    what: str  # "what Edmund believes about Kent"
    label: str  # names the ask in reasons: "belief", "belief about Kent"


@dataclass
class TripleOutcome:
    triples: list[Triple]  # valid, deduplicated; empty when the timestep failed
    attempts: int  # requests made, over all dimensions
    problems: list[str] = field(default_factory=list)  # every dropped reply and failed request, with reasons
    provenance: dict = field(default_factory=dict)  # {"request_hashes": of the accepted replies, in dimension order}
    normalised: Counter = field(default_factory=Counter)  # what the program changed in accepted objects -> how often


def relation_choices(step: Timestep, dimension: Dimension) -> list[str]:
    """The dimension's base relations (not those NOT_OFFERED), then the person bases qualified by the
    plot's other key characters."""
    bases = [base for base, dim in BASE_RELATIONS.items() if dim == dimension.name and base not in NOT_OFFERED]
    qualified = [f"{base}{qualifier}" for base in bases if base in PERSON_BASES
                 for qualifier in other_qualifiers(step)]
    return sorted(bases, key=len) + qualified


def other_characters(step: Timestep) -> list[tuple[str, str]]:
    """(display name, CamelCase qualifier) of the plot's other resolved key characters whose names
    make a qualifier (at most MAX_QUALIFIER_WORDS words): those who speak first, most lines first."""
    turns = Counter(u.speaker_id for u in step.plot.conversation)
    found: dict[str, tuple[str, str]] = {}
    for key in step.plot.key_characters:
        qualifier = camel_case(key.name)
        if (key.id and key.id != step.character_id and key.id not in found
                and len(re.findall(r"[A-Z][a-z0-9]*", qualifier)) <= MAX_QUALIFIER_WORDS):
            found[key.id] = (key.name, qualifier)
    ranked = sorted(found, key=lambda char_id: -turns[char_id])  # stable: cast order among equals
    return list(dict.fromkeys(found[char_id] for char_id in ranked))[:MAX_NAMED_OTHERS]


def other_qualifiers(step: Timestep) -> list[str]:
    """The CamelCase qualifiers of `other_characters`."""
    return list(dict.fromkeys(qualifier for _, qualifier in other_characters(step)))


def strict_asks(step: Timestep) -> list[Ask]:
    """The strict requests of one timestep, in dimension order: each dimension's general state, and
    for belief and emotion one about another key character (belief: the one with most lines;
    emotion: the next one, or the same when the plot has only one)."""
    others = other_characters(step)
    asks = []
    for dimension in DIMENSIONS.values():
        ask, what = (text.format(c=step.character) for text in ASKS[dimension.name])
        first = STRICT_FIRST[dimension.name]
        rest = [r for r in relation_choices(step, dimension) if r != first and split_relation(r)[0] not in PERSON_BASES]
        asks.append(Ask(dimension, [first, *rest], ask, what, dimension.name))
        if dimension.name in PERSON_ASKS and others:
            name, qualifier = others[min(len(others) - 1, 0 if dimension.name == "belief" else 1)]
            base, ask, what = PERSON_ASKS[dimension.name]
            asks.append(Ask(dimension, [f"{base}{qualifier}"], ask.format(c=step.character, o=name),
                            what.format(c=step.character, o=name), f"{dimension.name} about {name}"))
    return asks


def object_pattern(words: tuple[int, int]) -> str:
    """The strict object: `words` plain words (a comma may follow a word)."""
    low, high = words
    return f"^{OBJECT_WORD}(,? {OBJECT_WORD}){{{low - 1},{high - 1}}}$"


def triple_schema(relations: list[str], contract: Contract) -> dict:
    """The strict reply: one triple, its object before its relation (the grammar keeps this order: a
    model that has just written "Believes" goes on writing it, see the module doc)."""
    pattern = object_pattern(contract.object_words)
    return {"type": "object",
            "properties": {"object": {"type": "string", "pattern": pattern,
                                      "maxLength": STRICT_CHARS_PER_WORD * contract.object_words[1]},
                           "relation": {"enum": relations}},
            "required": ["object", "relation"], "additionalProperties": False}


def _prompt(step: Timestep, contract: Contract, earlier: list[str], **variables) -> str:
    return render(TEMPLATE, title=step.work.title, character=step.character,
                  summary=step.plot.summary, scenario=step.plot.scenario,
                  excerpt=excerpt(step.plot, step.character_id, max_chars=contract.triple_excerpt_chars),
                  earlier_triples=earlier, natural=contract.natural, object_words=contract.object_words,
                  **variables)


def triple_messages(step: Timestep, ask: Ask, earlier_triples: list[Triple], contract: Contract) -> list[dict]:
    """The strict ask: one triple, the last two triples of its dimension before this plot as context."""
    earlier = [format_triple(t) for t in earlier_triples if t.dimension == ask.dimension.name][-2:]
    prompt = _prompt(step, contract, earlier, ask=ask.ask, what=ask.what, relations=ask.relations)
    return [{"role": "user", "content": prompt}]


def validate_pairs(pairs: list[dict], step: Timestep, leak_check: FutureLeakCheck,
                   wording: Wording | None = None, *,
                   object_words: tuple[int, int] | None = None) -> tuple[list[Triple], list[str]]:
    """Structured triples from the model's pairs, and a reason for each pair dropped. `object_words`
    bounds an object's words once normalised (a bound the request met can fail after the relation
    words it echoed are dropped)."""
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
        problem = object_problem(triple, object_words) or bare_names(triple, step)
        if problem:
            problems.append(f"triple rejected: {problem}")
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


def object_problem(triple: Triple, object_words: tuple[int, int] | None) -> str | None:
    """Why a parsed triple's object cannot be released, or None: outside the word bound, echoing a
    relation name, or (a desire) only a wish to know something."""
    if object_words is not None:
        runaway = words_outside(triple.object, object_words, f"the {triple.relation} object")
        if runaway:
            return runaway
    echoed = echoed_relation(triple.object)
    if echoed:
        return (f"the {triple.relation} object repeats the relation name {echoed!r} instead of saying what the "
                "character thinks")
    if restates_the_ask(triple):
        return f"the {triple.relation} object {triple.object!r} only restates the question"
    if generic_desire(triple):
        return (f"{triple.relation} {triple.object!r} is a desire only to know something, which fits any character: "
                "a desire says what the character wants to happen or to do")
    return None


def echoed_relation(obj: str) -> str | None:
    """A relation name written inside an object, as the embedded model copies it from the ask:
    capitalised ("to, Desires To Know") or glued to other letters ("feelsabouttheme"); "he feels
    about ..." is prose."""
    words = re.findall(r"[A-Za-z]+", obj)
    for start, word in enumerate(words):
        if word.lower().startswith(_COMPOUND_BASES):
            return word
        if word[0].isupper():
            for end in range(start + 1, min(start + 3, len(words)) + 1):
                if "".join(words[start:end]).lower() in _BASE_NAMES:
                    return " ".join(words[start:end])
    return None


def restates_the_ask(triple: Triple) -> bool:
    """Whether the object says nothing but the ask's own words: "King Lear believes about Kent",
    "King Lear's plans" (the embedded model answers the question with the question)."""
    ask = " ".join(text.format(c=triple.subject) for text in ASKS[triple.dimension])
    given = {w.lower() for w in re.findall(r"[A-Za-z]+", f"{ask} {triple.subject} {triple.relation}")}
    given |= {w.lower() for w in re.findall(r"[A-Z][a-z]*", triple.relation)} | _ASK_WORDS
    said = {w.lower() for w in re.findall(r"[A-Za-z]+", triple.object)} - _FUNCTION_WORDS
    return not said - given


def bare_names(triple: Triple, step: Timestep) -> str | None:
    """Why an object that only names characters ("The King Lear", "Kent, King Lear") is no state of
    mind, or None."""
    names = {word.lower() for character in step.work.characters.values()
             for name in (character.name, *character.aliases) for word in re.findall(r"[A-Za-z]+", name)}
    said = {w.lower() for w in re.findall(r"[A-Za-z]+", triple.object)} - _FUNCTION_WORDS
    if said and said <= names:
        return f"the {triple.relation} object {triple.object!r} only names characters"
    return None


def generic_desire(triple: Triple) -> bool:
    """A desire that is only a wish to know: DesiresToKnow, or an object such as "to know the truth"."""
    if triple.dimension != "desire":
        return False
    return triple.base_relation in NOT_OFFERED or bool(_TO_KNOW.match(triple.object))


async def ask_triple(llm, step: Timestep, ask: Ask, earlier_triples: list[Triple], leak_check: FutureLeakCheck,
                     wording: Wording | None, outcome: TripleOutcome, contract: Contract, *,
                     attempts: int) -> Triple | None:
    """Strict: one valid triple for `ask`, or None after `attempts` requests (reasons go to `outcome`)."""
    messages = triple_messages(step, ask, earlier_triples, contract)
    for sample in range(attempts):
        outcome.attempts += 1
        try:
            reply = await llm.chat(ChatRequest(messages=messages, schema=triple_schema(ask.relations, contract),
                                               temperature=0.5, max_tokens=contract.triple_max_tokens, sample=sample,
                                               step=STEP, prompt_hash=template_hash(TEMPLATE),
                                               repeat_penalty=REPEAT_PENALTY, reask=sample > 0))
        except RequestFailed as error:
            outcome.problems.append(f"{ask.label} triple request failed: {error.reason}")
            continue
        triples, problems = validate_pairs([reply.data], step, leak_check, wording,
                                           object_words=contract.triple_object_words)
        outcome.problems.extend(f"{ask.label} (sample {sample}): {p}" for p in problems)
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
    for ask in strict_asks(step):
        triple = await ask_triple(llm, step, ask, earlier_triples, leak_check, wording, outcome, contract,
                                  attempts=attempts)
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
    """{"belief": [{"relation", "about", "object"}, ...], ...}: one or two triples per dimension, the
    relation an enum of the dimension's choices, `about` the verb or topic qualifying it (or ""),
    the object free prose of the original's length."""
    low, high = contract.targets.triples_per_dimension
    words = contract.triple_object_words
    about = {"type": "string",
             "description": f"1 to {MAX_QUALIFIER_WORDS} words completing a {', '.join(TOPIC_BASES)} relation: "
                            "a verb (\"hear\" makes DesiresToHear) or a topic (\"the storm\"); \"\" for the others."}
    properties = {}
    for dimension in DIMENSIONS.values():
        what = ASKS[dimension.name][1].format(c=step.character)
        item = {"type": "object",
                "properties": {"relation": {"enum": relation_choices(step, dimension)},
                               "about": about,
                               "object": {"type": "string", "minLength": 1,
                                          "description": f"{what[0].upper()}{what[1:]}: a phrase of about "
                                                         f"{contract.targets.triple_object} words "
                                                         f"({words[0]} to {words[1]})."}},
                "required": ["relation", "about", "object"], "additionalProperties": False}
        properties[dimension.name] = {"type": "array", "minItems": low, "maxItems": high, "items": item}
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def natural_messages(step: Timestep, earlier_triples: list[Triple], contract: Contract) -> list[dict]:
    """The whole-set ask; the character's previous set as context."""
    asks = [{"name": d.name, "what": ASKS[d.name][1].format(c=step.character),
             "relations": relation_choices(step, d)} for d in DIMENSIONS.values()]
    low, high = contract.targets.triples_per_dimension
    prompt = _prompt(step, contract, [format_triple(t) for t in earlier_triples], dimensions=asks,
                     targets=contract.targets, object_bounds=contract.triple_object_words,
                     triples_in_all=round(len(asks) * (low + high) / 2), topic_bases=TOPIC_BASES,
                     qualifier_words=MAX_QUALIFIER_WORDS)
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
        triples, notes, problems = [], [], []
        for pair, changes in normalised_pairs(reply.data):
            valid, invalid = validate_pairs([pair], step, leak_check, wording,
                                            object_words=contract.triple_object_words)
            triples += valid
            problems += invalid
            notes += changes if valid else []  # what the program changed in what is released
        triples = dedup_triples(triples)
        outcome.problems.extend(f"sample {sample}: {p}" for p in problems)
        if _enough(triples):
            outcome.triples = triples
            outcome.normalised.update(notes)
            outcome.provenance["request_hashes"] = [reply.provenance.get("request_hash", "")]
            return outcome
        outcome.problems.append(f"sample {sample}: {_too_thin(triples)}")
    return outcome


def normalised_pairs(data: dict) -> list[tuple[dict, list[str]]]:
    """The reply's triples in dimension order as {relation, object} pairs, `about` joined to the
    relation as its qualifier, the object normalised; each with what was changed."""
    found = []
    for dimension in DIMENSIONS.values():
        for pair in data[dimension.name]:
            obj, changes = normalise_object(pair["object"])
            relation, obj, qualified = with_topic(pair["relation"], pair.get("about") or "", obj)
            found.append(({"relation": relation, "object": obj}, changes + qualified))
    return found


def with_topic(relation: str, about: str, obj: str) -> tuple[str, str, list[str]]:
    """(relation, object, changes): a TOPIC_BASES relation qualified by `about` in CamelCase
    ("DesiresTo" + "hear" -> "DesiresToHear"), the object without `about` repeated at its start.
    Any other relation ignores `about`, as the prompt asks; an `about` that makes no qualifier of 1 to
    MAX_QUALIFIER_WORDS words is left off (recorded)."""
    words = topic_words(about)
    if relation not in TOPIC_BASES or not about.strip():
        return relation, obj, []
    if not 1 <= len(words) <= MAX_QUALIFIER_WORDS:
        return relation, obj, [f"'about' of {len(words)} words left off"]
    spoken = " ".join(about.split()).removeprefix("to ").strip()
    if spoken and obj.lower().startswith(spoken.lower() + " "):
        obj = obj[len(spoken) + 1:]
    return relation + camel_case(" ".join(words)), obj, []


def topic_words(about: str) -> list[str]:
    """The words of a qualifier, without articles, possessives and a leading "to" ("to hear" -> ["hear"],
    "the king's land" -> ["king", "land"])."""
    plain = re.sub(r"['’]s\b", "", about)
    return [word for word in re.findall(r"[A-Za-z]+", plain) if word.lower() not in _FILLER_WORDS]


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
