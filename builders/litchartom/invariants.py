"""Cross-field invariants (spec §3.4) the JSON schema cannot express; run by the pipeline after it."""

from __future__ import annotations

from builders.litchartom.records import LETTERS, ood_prompt, ood_prompt_fields
from builders.litchartom.triples import TripleError, parse_triple
from builders.litchartom.vocab import QA_TYPES, split_relation


def triples_well_formed(record: dict) -> str | None:
    """Every triple parses, has the record's character as subject and a base relation."""
    for text in record["triples"] + record.get("corresponding_triples", []):
        try:
            subject, relation, _ = parse_triple(text)
        except TripleError as error:
            return str(error)
        if subject != record["character"]:
            return f"triple subject {subject!r} is not the character {record['character']!r}"
        if split_relation(relation) is None:
            return f"triple relation {relation!r} has no base relation"
    return None


def structured_matches_strings(record: dict) -> str | None:
    live = [f"({t['subject']}, {t['relation']}, {t['object']})" for t in record["triples_structured"]
            if t["op"] != "retired"]
    if live != record["triples"]:
        return "triples_structured (without retired) does not match triples"
    return None


def corresponding_subset(record: dict) -> str | None:
    extra = set(record.get("corresponding_triples", [])) - set(record["triples"])
    return f"corresponding_triples not in triples: {sorted(extra)[:1]}" if extra else None


def options_distinct(record: dict) -> str | None:
    for body in _mcq_bodies(record):
        texts = [option[3:].strip().lower() for option in body["Options"]]
        if len(set(texts)) != 4:
            return f"options of {body['Question'][:60]!r} are not distinct"
    return None


def four_dimensions(record: dict) -> str | None:
    if record["record_type"] != "current":
        return None
    labels = [next(iter(item)) for item in record["qa_data"]["Target Character"]]
    return None if sorted(labels) == sorted(QA_TYPES) else f"qa_data dimensions {labels} are not the four"


def ood_prompt_consistent(record: dict) -> str | None:
    if record["record_type"] != "ood":
        return None
    messages = record["messages"]
    if messages[0]["role"] != "user":
        return "the first OOD message must be the user prompt"
    if len(messages) > 1 and messages[1]["content"] != f"Answer: {record['correct_answer']}":
        return "assistant message letter differs from correct_answer"
    prompt = messages[0]["content"]
    missing = [t for t in record["corresponding_triples"] if t not in prompt]
    return f"prompt lacks corresponding triple {missing[0][:60]!r}" if missing else None


def ood_prompt_renders(record: dict) -> str | None:
    """The OOD prompt renders again, byte for byte, from the record (spec section 15, test 6): what
    lets the answer key re-letter its options exactly as the builder wrote them."""
    if record["record_type"] != "ood":
        return None
    fields = ood_prompt_fields(record)
    if ood_prompt(**fields) != record["messages"][0]["content"]:
        return "the OOD prompt does not render again from the record's fields"
    shown = fields["options"][LETTERS.index(record["correct_answer"])][len("A. "):]
    if shown != record["provenance"]["mcq"]["answer"]:
        return f"the prompt's option {record['correct_answer']} is not the gold answer"
    return None


def provenance_names_the_key(record: dict) -> str | None:
    """Each question's per-option provenance agrees with its answer letter: `option_types` has
    "gold" at the gold's letter, and the distractor sources hold the other letters, with their kinds."""
    for letter, question in zip(_answer_letters(record), record["provenance"]["questions"]):
        types = question["option_types"]
        if types.index("gold") != LETTERS.index(letter) or types.count("gold") != 1:
            return f"option_types {types} do not put the gold at {letter}"
        sources = {source["option"]: source["kind"] for source in question["distractor_sources"]}
        if sources != {LETTERS[i]: kind for i, kind in enumerate(types) if kind != "gold"}:
            return f"distractor_sources {sorted(sources.items())} do not match option_types {types}"
    return None


def _answer_letters(record: dict) -> list[str]:
    if record["record_type"] == "ood":
        return [record["correct_answer"]]
    return [body["Correct Answer"] for body in _mcq_bodies(record)]


def _mcq_bodies(record: dict) -> list[dict]:
    if record["record_type"] == "current":
        return [next(body for body in item.values() if body is not None)
                for item in record["qa_data"]["Target Character"]]
    return []


CHECKS = (triples_well_formed, structured_matches_strings, corresponding_subset, options_distinct, four_dimensions,
          ood_prompt_consistent, ood_prompt_renders, provenance_names_the_key)
