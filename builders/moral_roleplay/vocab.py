"""The closed trait vocabulary (77 traits), its synonym map, polarity and trait-level consistency.

Everything comes from data/traits.json (spec §4.2-4.3 and Step D). A model's traits are mapped
through the synonyms, de-duplicated in order, and checked: out-of-vocabulary names, traits that
contradict the level and a set that lacks what its level requires (a Villain's malice, mostly
negative traits) are reasons to re-ask, never silently dropped into a record.
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
    requires: dict[int, dict]  # level -> {"any_of": [traits], "min_negative_share": share}

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
    requires = {int(k): v for k, v in data.get("requires_level", {}).items()}
    unknown = [t for rule in requires.values() for t in rule.get("any_of", ()) if t not in traits]
    if unknown:
        raise ValueError(f"{DATA}: requires_level names traits outside the vocabulary: {unknown}")
    return Vocabulary(traits=traits, synonyms=dict(data["synonyms"]), polarity=dict(data["polarity"]),
                      contradicts={int(k): frozenset(v) for k, v in data["contradicts_level"].items()},
                      requires=requires)


def level_requirement(level: int) -> str:
    """What a trait set of `level` must hold, in words for a prompt ("" when nothing)."""
    rule = vocabulary().requires.get(level, {})
    parts = []
    if rule.get("any_of"):
        names = rule["any_of"]
        parts.append(f"at least one of {', '.join(names[:-1])} or {names[-1]}")
    if rule.get("min_negative_share"):
        parts.append(f"at least {_share_words(rule['min_negative_share'])} of them negative "
                     f"({', '.join(negative_traits())})")
    return " and ".join(parts)


def _share_words(share: float) -> str:
    return {0.5: "half", 0.25: "a quarter"}.get(share, f"{share:.0%}")


def negative_traits() -> list[str]:
    """The Negative traits of the polarity table, in vocabulary order."""
    vocab = vocabulary()
    return [t for t in vocab.traits if vocab.polarity[t] == "Negative"]


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
    return TraitCheck(mapped, _missing_requirement(mapped, level))


def _missing_requirement(traits: list[str], level: int) -> str | None:
    rule = vocabulary().requires.get(level, {})
    wanted = rule.get("any_of")
    if wanted and not set(wanted) & set(traits):
        return f"contradicts level: level {level} needs one of {', '.join(wanted)}"
    negative = polarity_of(traits).count("Negative")
    if negative < rule.get("min_negative_share", 0) * len(traits):
        return (f"contradicts level: level {level} needs at least {_share_words(rule['min_negative_share'])} of its "
                f"traits negative, has {negative} of {len(traits)}")
    return None


def polarity_of(traits: list[str]) -> list[str]:
    table = vocabulary().polarity
    return [table[t] for t in traits]
