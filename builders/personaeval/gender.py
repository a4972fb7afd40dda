"""The gender shortcut (spec section 6, step 4): can an item be solved by gender alone?

Distractors are not forced to share the gold's gender. That leaves a shortcut: when Character1
calls Character2 "madam" and the gold is the only woman among the candidates, no profile needs
reading. This module measures how often that happens; it never changes which items are built.

Genders of characters, most reliable first:
- `source`: the annotators' label (PDNC `Gender` M/F);
- `title`: a gendered title in the name ("Lady Macbeth", "KING LEAR", "Player Queen");
- `addressed`: how the others address the character: over every speech right before one of
  theirs, at least MIN_ADDRESS_CUES gendered vocatives, AGREEMENT of them one way;
- otherwise unknown.

The item's cue is the gender of the vocatives in Character1's shown turns ("sir", "madam", "good
my lord", set off by punctuation: spoken to Character2). Pronouns are not cues: in speech, "he"
and "she" are about somebody else. The word lists live in data/gender_cues.json.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builders.sources import Work

CUES_FILE = Path(__file__).with_name("data") / "gender_cues.json"
MIN_ADDRESS_CUES = 3
AGREEMENT = 0.75
GENDERS = ("M", "F")

# The values of the released `gender_shortcut` column
NO_CUE = "no gender cue"
ONLY_GOLD = "only the gold fits the cue"
DISTRACTOR_TOO = "a distractor fits the cue too"
GOLD_MISFIT = "the cue does not fit the gold"
UNKNOWN = "genders unknown"
SHORTCUT_VALUES = (NO_CUE, ONLY_GOLD, DISTRACTOR_TOO, GOLD_MISFIT, UNKNOWN)

@dataclass(frozen=True)
class CharacterGender:
    gender: str | None  # "M", "F" or None
    basis: str  # "source", "title", "addressed" or "unknown"


@lru_cache(maxsize=1)
def _cues() -> dict:
    return json.loads(CUES_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _vocative_patterns() -> dict[str, re.Pattern]:
    """A vocative stands between punctuation: "Sir, ...", "..., good my lord." (not "the lady is")."""
    cues = _cues()
    courtesy = "|".join(re.escape(word) for word in cues["courtesy_words"])
    patterns = {}
    for gender in GENDERS:
        terms = "|".join(re.escape(term) for term in sorted(cues["vocatives"][gender], key=len, reverse=True))
        patterns[gender] = re.compile(rf"(?:^|[,;:!?.(]|--)\s*(?:(?:{courtesy})\s+){{0,3}}(?:{terms})\s*(?=[,;:!?.)]|--|$)",
                                      re.IGNORECASE | re.MULTILINE)
    return patterns


def address_cues(text: str) -> Counter:
    """Gendered vocatives in one speech: Counter({"M": 2}) for "Good my lord, hear me, sir."."""
    found = Counter({gender: len(pattern.findall(text)) for gender, pattern in _vocative_patterns().items()})
    return +found  # drop zero counts


def cue_gender(cues: Counter) -> str | None:
    """One gender when the cues point only one way, else None (no cue, or mixed)."""
    present = [gender for gender in GENDERS if cues.get(gender)]
    return present[0] if len(present) == 1 else None


def title_gender(name: str) -> str | None:
    """A gendered title anywhere in the name: "Lady Macbeth", "KING LEAR", "Player Queen"."""
    words = set(re.split(r"[\s.']+", name.strip().lower()))
    found = [gender for gender in GENDERS if words & set(_cues()["titles"][gender])]
    return found[0] if len(found) == 1 else None


def character_genders(work: Work) -> dict[str, CharacterGender]:
    """Every character's gender with the basis it rests on (see the module docstring)."""
    addressed = _addressed_cues(work)
    genders = {}
    for char_id, character in work.characters.items():
        if character.gender in GENDERS:
            genders[char_id] = CharacterGender(character.gender, "source")
        elif (by_title := title_gender(character.name)) is not None:
            genders[char_id] = CharacterGender(by_title, "title")
        elif (by_address := _majority(addressed.get(char_id, Counter()))) is not None:
            genders[char_id] = CharacterGender(by_address, "addressed")
        else:
            genders[char_id] = CharacterGender(None, "unknown")
    return genders


def _addressed_cues(work: Work) -> dict[str, Counter]:
    """Per character: the terms of address in the speeches that come right before theirs."""
    cues: dict[str, Counter] = {}
    for before, turn in zip(work.turns, work.turns[1:]):
        if turn.speaker and before.speaker and before.speaker != turn.speaker and before.section == turn.section:
            cues.setdefault(turn.speaker, Counter()).update(address_cues(before.text))
    return cues


def _majority(cues: Counter) -> str | None:
    total = sum(cues.values())
    if total < MIN_ADDRESS_CUES:
        return None
    gender, count = cues.most_common(1)[0]
    return gender if count >= AGREEMENT * total else None


def shortcut(cue: str | None, gold: CharacterGender, distractors: list[CharacterGender]) -> str:
    """Which of SHORTCUT_VALUES one item is, given its cue and its candidates' genders."""
    if cue is None:
        return NO_CUE
    if gold.gender is not None and gold.gender != cue:
        return GOLD_MISFIT
    if any(d.gender == cue for d in distractors):
        return DISTRACTOR_TOO
    if gold.gender == cue and all(d.gender is not None for d in distractors):
        return ONLY_GOLD
    return UNKNOWN
