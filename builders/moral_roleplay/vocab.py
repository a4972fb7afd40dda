"""The closed trait vocabulary (77 traits), its synonym map, polarity and trait-level consistency.

Everything comes from data/traits.json (spec §4.2-4.3 and Step D). A model's traits are mapped
through the synonyms, de-duplicated in order, and checked: out-of-vocabulary names and traits that
contradict the level are reasons to re-ask, never silently dropped into a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "traits.json"
MIN_TRAITS, MAX_TRAITS = 3, 7
LEVELS = (1, 2, 3, 4)
LEVEL_NAMES = {1: "Moral Paragon", 2: "Flawed-but-Good", 3: "Egoist", 4: "Villain"}


@dataclass(frozen=True)
class Vocabulary:
    traits: tuple[str, ...]
    synonyms: dict[str, str]
    polarity: dict[str, str]
    contradicts: dict[int, frozenset[str]]

    def accepted_names(self) -> list[str]:
        """What a reply may contain: the 77 traits plus the mapped synonyms (for a JSON-schema enum)."""
        return list(self.traits) + sorted(self.synonyms)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    traits = tuple(data["traits"])
    if len(traits) != 77 or len(set(traits)) != 77:
        raise ValueError(f"{DATA}: expected 77 distinct traits, found {len(set(traits))}")
    unknown = [t for t in [*data["synonyms"].values(), *data["polarity"]] if t not in traits]
    if unknown or set(data["polarity"]) != set(traits):
        raise ValueError(f"{DATA}: synonym targets and polarity keys must be vocabulary traits; bad: {unknown}")
    return Vocabulary(traits=traits, synonyms=dict(data["synonyms"]), polarity=dict(data["polarity"]),
                      contradicts={int(k): frozenset(v) for k, v in data["contradicts_level"].items()})


@dataclass(frozen=True)
class TraitCheck:
    traits: list[str]  # mapped, de-duplicated, in the order given
    problem: str | None  # why the set must be re-asked, or None


def check_traits(raw: list[str], level: int) -> TraitCheck:
    """Map synonyms, de-duplicate, and check vocabulary, count (3-7) and consistency with `level`."""
    vocab = vocabulary()
    mapped: list[str] = []
    outside: list[str] = []
    for name in raw:
        name = vocab.synonyms.get(name.strip(), name.strip())
        if name not in vocab.traits:
            outside.append(name)
        elif name not in mapped:
            mapped.append(name)
    if outside:
        return TraitCheck(mapped, f"out of vocabulary: {', '.join(outside)}")
    if not MIN_TRAITS <= len(mapped) <= MAX_TRAITS:
        return TraitCheck(mapped, f"trait count: {len(mapped)} distinct traits (need {MIN_TRAITS}-{MAX_TRAITS})")
    clashing = [t for t in mapped if t in vocab.contradicts.get(level, ())]
    if clashing:
        return TraitCheck(mapped, f"contradicts level: level {level} cannot hold {', '.join(clashing)}")
    return TraitCheck(mapped, None)


def polarity_of(traits: list[str]) -> list[str]:
    table = vocabulary().polarity
    return [table[t] for t in traits]
