"""Hard distractors from the same work (spec section 6, step 4 and section 7).

`rank_distractors` orders every allowed character of the work, hardest first, in three tiers:

1. "same_scene": characters present in the item's scene, nearest first. In a play or script: who
   speaks within SAME_SCENE_WINDOW turns of the item in the same scene, or enters in the scene's
   stage directions. In a novel, whose chapter is its scene (the unit items are capped by) and has
   no entrances: who speaks in the chapter or is spoken to there (PDNC addressees), at their
   nearest quotation to the item. Within SAME_SCENE_WINDOW quotations most items of a novel had
   only the two speakers of the exchange, so the distractors were mostly picked outside the scene
   (22-45% same-scene on five PDNC novels, against 62% on Hamlet);
2. "similar_speech": the SIMILAR_POOL characters whose own lines are closest to the gold's
   (cosine similarity of tf-idf word vectors; the profiles are written from these lines);
3. "random": everyone else, in a seeded order.

Never allowed: the gold, Character1, anyone who is the gold or Character1 under another name
(`names.same_person`), anyone named in the shown turns (a named person is easy to rule out), and
anyone outside the eligible characters (generic, collective and joint roles, fewer than 5 lines).
The builder takes the first ranked characters whose profile it could write.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass

from builders.personaeval.instances import SAME_SCENE_WINDOW, Instance
from builders.personaeval.names import (
    character_names,
    is_pronoun,
    names_in,
    same_person,
)
from builders.sources import Work

SIMILAR_POOL = 6
KINDS = ("same_scene", "similar_speech", "random")

_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Ranked:
    char_id: str
    kind: str  # one of KINDS


class SpeechSimilarity:
    """tf-idf vectors of each character's own lines (evaluation turns left out), compared by cosine."""

    def __init__(self, work: Work, characters: list[str], excluded_turns: set[str] = frozenset()):
        counts = {char_id: Counter() for char_id in characters}
        for turn in work.turns:
            if turn.speaker in counts and turn.id not in excluded_turns:
                counts[turn.speaker].update(_WORD.findall(turn.text.lower()))
        document_frequency = Counter(word for counter in counts.values() for word in counter)
        total = max(1, len(counts))
        self._vectors = {}
        for char_id, counter in counts.items():
            vector = {w: n * math.log(total / document_frequency[w]) for w, n in counter.items()}
            norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
            self._vectors[char_id] = {w: v / norm for w, v in vector.items() if v}

    def similarity(self, a: str, b: str) -> float:
        first, second = self._vectors.get(a, {}), self._vectors.get(b, {})
        if len(first) > len(second):
            first, second = second, first
        return sum(v * second.get(w, 0.0) for w, v in first.items())


def excluded_characters(work: Work, instance: Instance, eligible: list[str]) -> dict[str, str]:
    """char id -> why it can never be a distractor for this instance."""
    excluded = {instance.gold: "gold", instance.character1: "Character1"}
    gold, first = work.characters[instance.gold], work.characters[instance.character1]
    shown = [turn.text for turn in instance.shown_turns]
    mentioned = {char_id for turn in instance.shown_turns for mention in turn.mentions
                 if not is_pronoun(mention.text) for char_id in mention.characters}
    for char_id in eligible:
        if char_id in excluded:
            continue
        character = work.characters[char_id]
        if same_person(character, gold) or same_person(character, first):
            excluded[char_id] = "alias of the gold or Character1"
        elif char_id in mentioned or any(names_in(text, character_names(work, char_id)) for text in shown):
            excluded[char_id] = "named in the dialogue"
    return excluded


def rank_distractors(work: Work, instance: Instance, eligible: list[str], similarity: SpeechSimilarity,
                     seed: int) -> list[Ranked]:
    """Every allowed distractor, hardest first (see the module docstring)."""
    excluded = excluded_characters(work, instance, eligible)
    allowed = [char_id for char_id in eligible if char_id not in excluded]
    scene = _scene_distances(work, instance)
    same_scene = sorted((c for c in allowed if c in scene), key=lambda c: (scene[c], c))
    rest = [c for c in allowed if c not in scene]
    similar = sorted(rest, key=lambda c: (-similarity.similarity(instance.gold, c), c))[:SIMILAR_POOL]
    others = sorted(c for c in rest if c not in similar)
    random.Random(f"personaeval-distractors:{seed}:{work.id}:{instance.second.id}").shuffle(others)
    return ([Ranked(c, "same_scene") for c in same_scene] + [Ranked(c, "similar_speech") for c in similar]
            + [Ranked(c, "random") for c in others])


def _scene_distances(work: Work, instance: Instance) -> dict[str, int]:
    """Who is present in the item's scene, at their distance in turns (see the module docstring)."""
    distances: dict[str, int] = {}
    target = instance.index + 1
    window = len(work.turns) if work.kind == "novel" else SAME_SCENE_WINDOW
    low, high = max(0, target - window), min(len(work.turns), target + window + 1)
    for position in range(low, high):
        turn = work.turns[position]
        if turn.section != instance.section:
            continue
        distance = abs(position - target)
        for char_id in filter(None, (turn.speaker, *turn.addressees)):
            distances[char_id] = min(distance, distances.get(char_id, distance))
    for direction in work.directions:
        if direction.section == instance.section and direction.text.lower().startswith("enter"):
            for char_id in work.characters:
                if char_id not in distances and names_in(direction.text, character_names(work, char_id)):
                    distances[char_id] = SAME_SCENE_WINDOW + 1
    return distances
