"""The balanced test set (spec Step E): `per_level` portrayals of each moral level.

Only portrayals with a level (annotators agreed, a one-level split was adjudicated, or a top-up
design) are candidates; a portrayal not judged never is. Within an origin, candidates are ordered
round robin over (tone, completeness) strata, each stratum in a seeded order; each pick then takes,
among the candidates the caps allow, the first of the least used character, then of the least used
tone, then of the least used work: a small test set spans as many characters and works as the
candidates allow, and tone varies as little as possible with level. Caps keep a few famous
characters and books from dominating: at most `max_per_character` portrayals per (work, character)
and `max_per_book` per work, per level (a top-up scene is a work of its own).

Origins per level. Synthetic (top-up) portrayals only fill what the sources cannot. With
`origin_balance` (the default) every level takes the SAME number of synthetic portrayals, the
largest shortfall of the sources over the levels: otherwise, when the sources fill some levels and
the top-up the others, origin (a play vs an LLM-written scene) names the level and per-level scores
compare origins as much as levels (builders/moral_roleplay/shortcuts.py measures it). Without it,
each level takes sources first and synthetic for its own shortfall. A level that cannot be filled
is reported with its numbers, never padded.

Then a hill-climb by swaps moves each level towards the official trait counts (Step E.3,
data/trait_targets.json scaled to `per_level`): it sweeps the chosen portrayals in order and
replaces one with the unchosen candidate of the same level, origin and tone that lowers the trait
distance most (sum over the ten table traits of |count - target|), keeping the caps; it stops when
a sweep improves nothing. Same origin keeps synthetic portrayals to what sources cannot fill; same
tone keeps the tone stratification. Achieved counts, targets and the spec's tolerance (±15% or ±5
characters at full size, whichever is larger) are reported per level.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from builders.moral_roleplay.vocab import LEVELS

MAX_PER_CHARACTER = 4
MAX_PER_BOOK = 20
ORIGINS = ("source", "synthetic")
TARGETS = Path(__file__).resolve().parent / "data" / "trait_targets.json"


@dataclass(frozen=True)
class Candidate:
    id: str  # portrayal id, unique
    level: int
    tone: str
    completeness: int
    book: str  # the work, for caps and counts (a top-up scene is a work of its own)
    character: str
    origin: str  # "source" | "synthetic"
    traits: tuple[str, ...] = ()


@dataclass
class Selection:
    ids: list[str]  # chosen portrayal ids, by level then pick order
    # level -> wanted, source, synthetic, synthetic_wanted, missing, distinct_characters, distinct_books
    fill: dict[int, dict[str, int]]
    traits: dict[int, dict] = field(default_factory=dict)  # level -> the hill-climb's report (trait_report)


def select_test(candidates: list[Candidate], *, per_level: int, seed: int,
                max_per_character: int = MAX_PER_CHARACTER, max_per_book: int = MAX_PER_BOOK,
                hill_climb: bool = True, origin_balance: bool = True) -> Selection:
    caps = Caps(max_per_character, max_per_book)
    ordered = {(level, origin): _round_robin([c for c in candidates if (c.level, c.origin) == (level, origin)],
                                             seed, level, origin)
               for level in LEVELS for origin in ORIGINS}
    reach = {level: len(caps.take(ordered[(level, "source")], per_level)) for level in LEVELS}
    shared = max(per_level - reach[level] for level in LEVELS)  # the synthetic count every level takes
    targets = trait_targets(per_level)
    ids: list[str] = []
    fill: dict[int, dict[str, int]] = {}
    traits: dict[int, dict] = {}
    for level in LEVELS:
        synthetic_wanted = shared if origin_balance else per_level - reach[level]
        chosen = caps.take(ordered[(level, "source")], per_level - synthetic_wanted)
        chosen = caps.take(ordered[(level, "synthetic")], per_level, chosen)
        before = trait_distance(chosen, targets[level])
        swaps = 0
        if hill_climb:
            pool = sorted((c for c in candidates if c.level == level), key=lambda c: c.id)
            swaps = climb(chosen, pool, targets[level], max_per_character=max_per_character,
                          max_per_book=max_per_book)
        ids.extend(c.id for c in chosen)
        origins = Counter(c.origin for c in chosen)
        fill[level] = {"wanted": per_level, "source": origins["source"], "synthetic": origins["synthetic"],
                       "synthetic_wanted": synthetic_wanted, "missing": per_level - len(chosen),
                       "distinct_characters": len({(c.book, c.character) for c in chosen}),
                       "distinct_books": len({c.book for c in chosen})}
        traits[level] = trait_report(chosen, targets[level], per_level, before=before, swaps=swaps)
    return Selection(ids, fill, traits)


@dataclass(frozen=True)
class Caps:
    max_per_character: int
    max_per_book: int

    def take(self, ordered: list[Candidate], total: int, chosen: list[Candidate] | None = None) -> list[Candidate]:
        """`chosen` (a new list) extended up to `total` with candidates that keep the caps; each pick is
        the first in `ordered` of the least used character, then tone, then work."""
        chosen = list(chosen or [])
        per_character = Counter((c.book, c.character) for c in chosen)
        per_book = Counter(c.book for c in chosen)
        per_tone = Counter(c.tone for c in chosen)
        remaining = list(ordered)
        while len(chosen) < total:
            fitting = [(index, c) for index, c in enumerate(remaining)
                       if per_character[(c.book, c.character)] < self.max_per_character
                       and per_book[c.book] < self.max_per_book]
            if not fitting:
                break
            index, best = min(fitting, key=lambda item: (per_character[(item[1].book, item[1].character)],
                                                         per_tone[item[1].tone], per_book[item[1].book], item[0]))
            chosen.append(remaining.pop(index))
            per_character[(best.book, best.character)] += 1
            per_book[best.book] += 1
            per_tone[best.tone] += 1
        return chosen


# -- the trait hill-climb ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _official() -> dict:
    return json.loads(TARGETS.read_text(encoding="utf-8"))


def trait_targets(per_level: int) -> dict[int, dict[str, float]]:
    """The official counts per level, scaled from 200 test characters to `per_level`."""
    data = _official()
    scale = per_level / data["per_level"]
    return {level: {trait: counts[str(level)] * scale for trait, counts in data["counts"].items()}
            for level in LEVELS}


def tolerance(target: float, per_level: int) -> float:
    """The spec's: ±15% of the target or ±5 characters (at 200 per level; scaled), whichever is larger."""
    rule = _official()["tolerance"]
    return max(rule["share"] * target, rule["characters"] * per_level / _official()["per_level"])


def trait_distance(chosen: list[Candidate], targets: dict[str, float]) -> float:
    counts = Counter(t for c in chosen for t in c.traits)
    return sum(abs(counts[trait] - target) for trait, target in targets.items())


def climb(chosen: list[Candidate], pool: list[Candidate], targets: dict[str, float], *,
          max_per_character: int, max_per_book: int) -> int:
    """Swap chosen portrayals (in place) for same-origin, same-tone ones while the trait distance
    falls; returns the number of swaps. Deterministic: sweeps in order, ties go to the first id."""
    counts = Counter(t for c in chosen for t in c.traits)
    per_character = Counter((c.book, c.character) for c in chosen)
    per_book = Counter(c.book for c in chosen)
    taken = {c.id for c in chosen}
    swaps, improved = 0, True
    while improved:
        improved = False
        for position, out in enumerate(chosen):
            best, best_gain = None, 1e-9
            for candidate in pool:
                if candidate.id in taken or (candidate.origin, candidate.tone) != (out.origin, out.tone):
                    continue
                if not _fits_caps(candidate, out, per_character, per_book, max_per_character, max_per_book):
                    continue
                gain = _swap_gain(counts, targets, out.traits, candidate.traits)
                if gain > best_gain:
                    best, best_gain = candidate, gain
            if best is None:
                continue
            chosen[position] = best
            taken.discard(out.id)
            taken.add(best.id)
            counts.subtract(out.traits)
            counts.update(best.traits)
            per_character[(out.book, out.character)] -= 1
            per_character[(best.book, best.character)] += 1
            per_book[out.book] -= 1
            per_book[best.book] += 1
            swaps += 1
            improved = True
    return swaps


def _fits_caps(incoming: Candidate, outgoing: Candidate, per_character: Counter, per_book: Counter,
               max_per_character: int, max_per_book: int) -> bool:
    same_character = (incoming.book, incoming.character) == (outgoing.book, outgoing.character)
    same_book = incoming.book == outgoing.book
    return ((same_character or per_character[(incoming.book, incoming.character)] < max_per_character)
            and (same_book or per_book[incoming.book] < max_per_book))


def _swap_gain(counts: Counter, targets: dict[str, float], removed: tuple[str, ...], added: tuple[str, ...]) -> float:
    """How much the distance falls when `removed`'s traits leave and `added`'s arrive."""
    change = Counter(added)
    change.subtract(removed)
    gain = 0.0
    for trait, delta in change.items():
        if trait in targets and delta:
            gain += abs(counts[trait] - targets[trait]) - abs(counts[trait] + delta - targets[trait])
    return gain


def trait_report(chosen: list[Candidate], targets: dict[str, float], per_level: int, *, before: float,
                 swaps: int) -> dict:
    """Per table trait: target (scaled), achieved count and whether it is within the tolerance."""
    counts = Counter(t for c in chosen for t in c.traits)
    rows = {trait: {"target": round(target, 2), "achieved": counts[trait],
                    "within": abs(counts[trait] - target) <= tolerance(target, per_level)}
            for trait, target in targets.items()}
    return {"traits": rows, "distance_before": round(before, 2), "distance_after": round(trait_distance(chosen, targets), 2),
            "swaps": swaps, "within": sum(row["within"] for row in rows.values())}


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
