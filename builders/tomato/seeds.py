"""Loads and checks the seed lists in builders/tomato/data/ (names, occupations, scenario seeds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builders.tomato.vocab import PRONOUNS

DATA_DIR = Path(__file__).parent / "data"


class SeedDataError(ValueError):
    """A seed file is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class FirstName:
    name: str
    pronoun: str  # key of vocab.PRONOUNS


@dataclass(frozen=True)
class Occupation:
    title: str
    min_age: int
    max_age: int


@dataclass(frozen=True)
class ScenarioSeed:
    id: str
    scenario: str
    goals: tuple[str, str]


@dataclass(frozen=True)
class Seeds:
    first_names: tuple[FirstName, ...]
    last_names: tuple[str, ...]
    occupations: tuple[Occupation, ...]
    scenarios: tuple[ScenarioSeed, ...]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeedDataError(f"{path}: seed file missing; restore it from the repository") from None
    except json.JSONDecodeError as error:
        raise SeedDataError(f"{path}: not valid JSON ({error}); fix the file") from None


def _require(condition: bool, path: Path, problem: str) -> None:
    if not condition:
        raise SeedDataError(f"{path}: {problem}")


def load_first_names(path: Path) -> tuple[FirstName, ...]:
    rows = _read_json(path)
    _require(isinstance(rows, list) and rows, path, "expected a non-empty list of {name, pronoun}")
    names = []
    for row in rows:
        _require(row.get("pronoun") in PRONOUNS, path,
                 f"entry {row!r}: pronoun must be one of {sorted(PRONOUNS)}")
        _require(bool(row.get("name", "").strip()), path, f"entry {row!r}: empty name")
        names.append(FirstName(row["name"].strip(), row["pronoun"]))
    _require(len({n.name for n in names}) == len(names), path, "first names must be unique")
    return tuple(names)


def load_last_names(path: Path) -> tuple[str, ...]:
    rows = _read_json(path)
    _require(isinstance(rows, list) and all(isinstance(r, str) and r.strip() for r in rows) and rows,
             path, "expected a non-empty list of last-name strings")
    return tuple(r.strip() for r in rows)


def load_occupations(path: Path) -> tuple[Occupation, ...]:
    rows = _read_json(path)
    _require(isinstance(rows, list) and rows, path, "expected a list of {title, min_age, max_age}")
    occupations = []
    for row in rows:
        ok = isinstance(row.get("title"), str) and isinstance(row.get("min_age"), int) \
            and isinstance(row.get("max_age"), int) and 16 <= row["min_age"] <= row["max_age"]
        _require(ok, path, f"entry {row!r}: needs a title and 16 <= min_age <= max_age")
        occupations.append(Occupation(row["title"], row["min_age"], row["max_age"]))
    return tuple(occupations)


def load_scenario_seeds(path: Path) -> tuple[ScenarioSeed, ...]:
    rows = _read_json(path)
    _require(isinstance(rows, list) and rows, path, "expected a list of {id, scenario, goals}")
    seeds = []
    for row in rows:
        goals = row.get("goals")
        ok = isinstance(row.get("id"), str) and isinstance(row.get("scenario"), str) \
            and isinstance(goals, list) and len(goals) == 2 and all(isinstance(g, str) for g in goals) \
            and goals[0].strip() != goals[1].strip()
        _require(ok, path, f"entry {row.get('id')!r}: needs an id, a scenario and two distinct goals")
        seeds.append(ScenarioSeed(row["id"], row["scenario"].strip(), (goals[0].strip(), goals[1].strip())))
    _require(len({s.id for s in seeds}) == len(seeds), path, "scenario ids must be unique")
    return tuple(seeds)


@lru_cache(maxsize=None)
def load_seeds(data_dir: Path = DATA_DIR) -> Seeds:
    return Seeds(
        first_names=load_first_names(data_dir / "first_names.json"),
        last_names=load_last_names(data_dir / "last_names.json"),
        occupations=load_occupations(data_dir / "occupations.json"),
        scenarios=load_scenario_seeds(data_dir / "scenarios.json"),
    )
