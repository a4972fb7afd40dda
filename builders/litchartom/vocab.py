"""The closed vocabularies of LitCharToM: the four dimensions and the twelve base relations (spec §4, §7)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    name: str  # "belief"
    label: str  # the released `qa_type` / qa_data key
    definition: str  # given to generators and judges
    question_start: str  # the question begins "<start> <character> <verb>"
    question_verb: str
    option_verb: str  # every option begins "<character> <option_verb> " (one frame for all four)


DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("belief", "Belief Multiple Choice Question",
              "what the character holds to be true about people, events or the world at this moment; it may be false",
              "What does", "believe", "believes"),
    Dimension("desire", "Desire Multiple Choice Question",
              "what the character wants or wishes for, whether or not they act on it",
              "What does", "want", "wants"),
    Dimension("emotion", "Emotion Multiple Choice Question",
              "what the character feels at this moment, and towards whom or what",
              "How does", "feel", "feels"),
    Dimension("intention", "Intention Multiple Choice Question",
              "what the character has decided or plans to do next",
              "What does", "intend", "intends to"),
)}
DIMENSION_BY_LABEL = {d.label: d for d in DIMENSIONS.values()}
QA_TYPES = tuple(d.label for d in DIMENSIONS.values())  # Belief, Desire, Emotion, Intention

# The twelve base relations, longest first so a prefix match finds the most specific base
# ("DesiresToKnow" before "DesiresTo" before "Desires").
BASE_RELATIONS: dict[str, str] = {
    "FeelsTowards": "emotion", "FeelsAbout": "emotion", "BelievesAbout": "belief", "BelievesThat": "belief",
    "BelievesIn": "belief", "DesiresToKnow": "desire", "DesiresTo": "desire", "IntendsTo": "intention",
    "Intends": "intention", "Feels": "emotion", "Believes": "belief", "Desires": "desire",
}
_BASES_LONGEST_FIRST = sorted(BASE_RELATIONS, key=len, reverse=True)
MAX_QUALIFIER_WORDS = 3
_CAMEL_WORD = re.compile(r"[A-Z][a-z0-9]*")


def relation_dimension(base: str) -> str:
    return BASE_RELATIONS[base]


def split_relation(relation: str) -> tuple[str, str] | None:
    """(base, qualifier) by the longest base prefix, or None when no base relation starts it.
    "BelievesAboutCordelia" -> ("BelievesAbout", "Cordelia"); "Feels" -> ("Feels", "")."""
    for base in _BASES_LONGEST_FIRST:
        if relation.startswith(base):
            return base, relation[len(base):]
    return None


def qualifier_words(qualifier: str) -> list[str] | None:
    """The CamelCase words of a qualifier ("KingLear" -> ["King", "Lear"]), or None when it is not CamelCase."""
    if not qualifier:
        return []
    words = _CAMEL_WORD.findall(qualifier)
    return words if "".join(words) == qualifier else None


def camel_case(text: str) -> str:
    """ "King Lear" / "the kingdom" -> "KingLear" / "TheKingdom" (letters and digits only)."""
    return "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", text))
