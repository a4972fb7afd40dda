"""The balanced test set (spec Step E): `per_level` portrayals of each moral level.

Only usable portrayals (annotators agreed, or a one-level split was adjudicated) are candidates.
Per level, source portrayals are taken before synthetic ones (these only fill what the sources
cannot); within an origin, candidates are stratified on (tone, completeness) and taken round robin
over the strata, each stratum in a seeded order, so tone varies as little as possible with level.
Caps keep a few famous characters and books from dominating: at most `max_per_character` portrayals
per (book, character) and `max_per_book` per book, per level. A level that cannot be filled is
reported with its numbers, never padded.

Not done: the spec's hill-climb towards the official per-level trait counts (Step E.3).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass

from builders.moral_roleplay.vocab import LEVELS

MAX_PER_CHARACTER = 4
MAX_PER_BOOK = 20
ORIGINS = ("source", "synthetic")


@dataclass(frozen=True)
class Candidate:
    id: str  # portrayal id, unique
    level: int
    tone: str
    completeness: int
    book: str
    character: str
    origin: str  # "source" | "synthetic"


@dataclass
class Selection:
    ids: list[str]  # chosen portrayal ids, by level then pick order
    fill: dict[int, dict[str, int]]  # level -> wanted, source, synthetic, missing, distinct_characters


def select_test(candidates: list[Candidate], *, per_level: int, seed: int,
                max_per_character: int = MAX_PER_CHARACTER, max_per_book: int = MAX_PER_BOOK) -> Selection:
    ids: list[str] = []
    fill: dict[int, dict[str, int]] = {}
    for level in LEVELS:
        chosen: list[Candidate] = []
        per_character: Counter = Counter()
        per_book: Counter = Counter()
        for origin in ORIGINS:
            pool = [c for c in candidates if c.level == level and c.origin == origin]
            for candidate in _round_robin(pool, seed, level, origin):
                if len(chosen) == per_level:
                    break
                if per_character[(candidate.book, candidate.character)] >= max_per_character:
                    continue
                if per_book[candidate.book] >= max_per_book:
                    continue
                chosen.append(candidate)
                per_character[(candidate.book, candidate.character)] += 1
                per_book[candidate.book] += 1
        ids.extend(c.id for c in chosen)
        origins = Counter(c.origin for c in chosen)
        fill[level] = {"wanted": per_level, "source": origins["source"], "synthetic": origins["synthetic"],
                       "missing": per_level - len(chosen), "distinct_characters": len(per_character)}
    return Selection(ids, fill)


def _round_robin(pool: list[Candidate], seed: int, level: int, origin: str) -> list[Candidate]:
    """Candidates interleaved over tones, and within a tone over completeness bands; each
    (tone, completeness) stratum in a seeded order."""
    strata: dict[tuple, list[Candidate]] = defaultdict(list)
    for candidate in sorted(pool, key=lambda c: c.id):
        strata[(candidate.tone, candidate.completeness)].append(candidate)
    for key, members in strata.items():
        random.Random(f"{seed}:{level}:{origin}:{key}").shuffle(members)
    tones = sorted({tone for tone, _ in strata})
    per_tone = [_interleave([strata[key] for key in sorted(strata) if key[0] == tone]) for tone in tones]
    return _interleave(per_tone)


def _interleave(queues: list[list[Candidate]]) -> list[Candidate]:
    queues = [list(queue) for queue in queues]
    ordered = []
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.pop(0))
    return ordered
