"""Fixed vocabularies of the published ToMATO format (spec §3, §4.1, §4.2).

These are part of the released data's meaning, not seed lists: changing them changes the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

MENTAL_STATES = ("belief", "intention", "desire", "emotion", "knowledge")

# (first person, third person singular) verb of each mental state (§4.2)
STATE_VERBS = {
    "emotion": ("feel", "feels"),
    "belief": ("think", "thinks"),
    "intention": ("will", "will"),
    "desire": ("want", "wants"),
    "knowledge": ("know", "knows"),
}

BIG_FIVE_TRAITS = (
    "Openness to Experience",
    "Conscientiousness",
    "Extraversion",
    "Agreeableness",
    "Neuroticism",
)

# (High, Low) adjective of each trait, in trait order (§4.1)
PERSONALITY_WORDS = (
    ("an open", "a closed"),
    ("conscientious", "unconscientious"),
    ("extraversive", "introversive"),
    ("agreeable", "disagreeable"),
    ("neurotic", "stable"),
)

GREETING_A = "Hi!"
GREETING_B = "Hi, how are you?"

FIRST_ORDER_TAG = "1st-order"
SECOND_ORDER_TAG = "2nd-order-belief-about"


@dataclass(frozen=True)
class Pronouns:
    """All forms of one personal pronoun set; `plural` drives verb agreement ("they think")."""

    subject: str
    object: str
    possessive: str  # determiner: "his car"
    possessive_pronoun: str  # "the car is his"
    reflexive: str
    plural: bool
    label: str  # SOTOPIA's gender_pronoun string


PRONOUNS = {
    "he": Pronouns("he", "him", "his", "his", "himself", False, "He/him"),
    "she": Pronouns("she", "her", "her", "hers", "herself", False, "She/her"),
    "they": Pronouns("they", "them", "their", "theirs", "themselves", True, "They/them"),
}


def agree(pronouns: Pronouns, singular: str, plural: str) -> str:
    """The verb form that agrees with a pronoun: "she thinks" but "they think"."""
    return plural if pronouns.plural else singular


def state_verb(state: str, pronouns: Pronouns | None = None) -> str:
    """The mental-state verb agreeing with `pronouns`; None means a singular name ("Liam feels")."""
    first, third = STATE_VERBS[state]
    if pronouns is not None and pronouns.plural:
        return first
    return third


def thought_prefix(state: str, order: int, partner: Pronouns) -> str:
    """How a thought must begin: "I feel " (agent A) or "I think that she feels " (agent B)."""
    first, _ = STATE_VERBS[state]
    if order == 1:
        return f"I {first} "
    return f"I think that {partner.subject} {state_verb(state, partner)} "

# how prompts name each mental state ("think about your own feelings")
STATE_NOUNS = {
    "emotion": "feelings",
    "belief": "beliefs",
    "intention": "intentions",
    "desire": "desires",
    "knowledge": "knowledge",
}
