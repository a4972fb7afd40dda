"""Agent cards: name, age, occupation, pronouns and a Big Five profile, sampled from the seed lists.

Personality patterns are balanced: patterns are dealt from seeded shuffles of all 32 High/Low
combinations, so every run of 32 consecutive agents covers each pattern exactly once.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Iterator

from builders.tomato.ids import ulid_from_card
from builders.tomato.seeds import Seeds
from builders.tomato.vocab import BIG_FIVE_TRAITS, PERSONALITY_WORDS, PRONOUNS, Pronouns

BigFive = tuple[bool, bool, bool, bool, bool]  # True = High, in BIG_FIVE_TRAITS order

ALL_PATTERNS: tuple[BigFive, ...] = tuple(itertools.product((True, False), repeat=5))


@dataclass(frozen=True)
class Agent:
    first_name: str
    last_name: str
    age: int
    occupation: str
    pronoun: str  # key of vocab.PRONOUNS
    big_five: BigFive

    @property
    def pronouns(self) -> Pronouns:
        return PRONOUNS[self.pronoun]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def big_five_text(self) -> str:
        return big_five_text(self.big_five)

    @property
    def personality_sentence(self) -> str:
        return personality_sentence(self.big_five)

    def card(self) -> dict:
        """The SOTOPIA agent-profile fields; the id is a hash of exactly this."""
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "age": self.age,
            "occupation": self.occupation,
            "gender_pronoun": self.pronouns.label,
            "big_five": self.big_five_text,
        }

    @property
    def id(self) -> str:
        return ulid_from_card(self.card())


def big_five_text(pattern: BigFive) -> str:
    """The released `big_five` string, e.g. "Openness to Experience - High; ...; Neuroticism - Low"."""
    return "; ".join(f"{trait} - {'High' if high else 'Low'}" for trait, high in zip(BIG_FIVE_TRAITS, pattern))


def personality_sentence(pattern: BigFive) -> str:
    """"an open, conscientious, ... and stable person" (spec §4.1), for the role-play prompt."""
    words = [high_low[0] if high else high_low[1] for high_low, high in zip(PERSONALITY_WORDS, pattern)]
    return f"{', '.join(words[:-1])} and {words[-1]} person"


def balanced_patterns(seed: int) -> Iterator[BigFive]:
    """All 32 patterns in a seeded order, then again in a fresh seeded order, forever."""
    for round_index in itertools.count():
        patterns = list(ALL_PATTERNS)
        random.Random(f"tomato-big-five:{seed}:{round_index}").shuffle(patterns)
        yield from patterns


def sample_agent(rng: random.Random, seeds: Seeds, pattern: BigFive, avoid_first_names: set[str]) -> Agent:
    """One agent with the given personality; `avoid_first_names` keeps the two agents of a combo apart."""
    first = rng.choice([n for n in seeds.first_names if n.name not in avoid_first_names])
    occupation = rng.choice(seeds.occupations)
    return Agent(
        first_name=first.name,
        last_name=rng.choice(seeds.last_names),
        age=rng.randint(occupation.min_age, occupation.max_age),
        occupation=occupation.title,
        pronoun=first.pronoun,
        big_five=pattern,
    )
