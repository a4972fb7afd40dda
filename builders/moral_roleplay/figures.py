"""This release's figures next to the original Moral RolePlay's (builders/figures.py).

The original's numbers are in data/original.json with the spec section each comes from. A record
is one portrayal carrying its whole scene, so scene figures (scenario, messages, turns, Environment
share, key characters) are measured once per scene (`case_key`), portrayal figures (profile,
thought, traits) once per record; level shares over the `test` records. Count figures say how far
a build spreads (works, scenes, characters, portrayals per level) next to the original's full pool
and test set; a character is a (work, name) pair, a top-up scene's characters belong to that scene.
"""

from __future__ import annotations

from pathlib import Path

from builders.figures import Figure, load_original, mean, share, words
from builders.moral_roleplay.coser import ENVIRONMENT
from builders.moral_roleplay.vocab import LEVELS

ORIGINAL = load_original(Path(__file__).resolve().parent)


def scenes_of(records: list[dict]) -> list[dict]:
    """One record per scene (the first), in release order."""
    seen, scenes = set(), []
    for record in records:
        if record["case_key"] not in seen:
            seen.add(record["case_key"])
            scenes.append(record)
    return scenes


def own_key_character(record: dict) -> dict:
    return next(key for key in record["key_characters"] if key["name"] == record["name"])


def character_of(record: dict) -> tuple[str, str]:
    """A character: (work, name); a top-up scene's characters are its own (the scene is the work)."""
    work = record["case_key"] if record["origin"] == "synthetic" else record["book"]
    return work, record["name"]


def counts(records: list[dict]) -> list[Figure]:
    """How far the release spreads, next to the original's full pool and test set."""
    test = [record for record in records if record["test"]]
    judged = [record for record in records if record["level"] is not None]
    size = ORIGINAL["pool_size"]
    return [
        Figure("source works", len({r["book"] for r in records if r["origin"] == "source"}), None,
               ORIGINAL["works"]["text"], kind="count"),
        Figure("top-up scenes", len({r["case_key"] for r in records if r["origin"] == "synthetic"}), None,
               "none (book scenes only)", kind="count"),
        Figure("scenes", len({r["case_key"] for r in records}), size["scenes"], size["text"], kind="count"),
        Figure("portrayals", len(records), size["portrayals"], size["text"], kind="count"),
        Figure("characters", len({character_of(r) for r in records}), None, ORIGINAL["characters"]["text"],
               kind="count"),
        Figure("portrayals not judged (no level)", len(records) - len(judged), ORIGINAL["not_judged"]["count"],
               ORIGINAL["not_judged"]["text"], kind="count"),
        *(Figure(f"test portrayals at level {level}", sum(r["level"] == level for r in test),
                 ORIGINAL["test_per_level"]["count"], ORIGINAL["test_per_level"]["text"], kind="count")
          for level in LEVELS),
        Figure("test characters", len({character_of(r) for r in test}), None, ORIGINAL["characters"]["text"],
               kind="count"),
        *(Figure(f"level {level} share of portrayals with a level", share(r["level"] == level for r in judged),
                 ORIGINAL["pool_level_shares"]["shares"][str(level)], ORIGINAL["pool_level_shares"]["text"],
                 kind="share") for level in LEVELS),
    ]


def figures(records: list[dict]) -> list[Figure]:
    scenes = scenes_of(records)
    turns = [turn for scene in scenes for turn in scene["dialogues"]]
    test = [record for record in records if record["test"]]
    return [
        *counts(records),
        _length("scenario words (mean)", mean(words(s["scenario"]) for s in scenes), "scenario_words"),
        _length("profile words (mean)", mean(words(r["character_profiles"][r["name"]]) for r in records),
                "profile_words"),
        _length("thought words (mean)", mean(words(own_key_character(r)["thought"]) for r in records),
                "thought_words"),
        _length("message words (mean)", mean(words(t["message"]) for t in turns), "message_words"),
        _other("turns per scene (mean)", mean(len(s["dialogues"]) for s in scenes), "turns_per_scene", "count"),
        _other("key characters per scene (mean)", mean(len(s["key_characters"]) for s in scenes),
               "key_characters_per_scene", "count"),
        Figure("traits per character (mean)", mean(len(r["key_traits"]) for r in records if r["level"] is not None), None,
               ORIGINAL["traits_per_character"]["text"], kind="count"),
        *(Figure(f"test level {level} share", share(r["level"] == level for r in test),
                 ORIGINAL["test_level_shares"]["shares"][str(level)], ORIGINAL["test_level_shares"]["text"],
                 kind="share") for level in LEVELS),
        Figure("Environment turn share", share(t["character"] == ENVIRONMENT for t in turns),
               ORIGINAL["environment_turn_share"]["share"], ORIGINAL["environment_turn_share"]["text"], kind="share"),
    ]


def _length(name: str, value: float | None, key: str) -> Figure:
    return Figure(name, value, ORIGINAL[key]["mean"], ORIGINAL[key]["text"], kind="length")


def _other(name: str, value: float | None, key: str, kind: str) -> Figure:
    return Figure(name, value, ORIGINAL[key]["mean"], ORIGINAL[key]["text"], kind=kind)
