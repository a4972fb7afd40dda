"""This release's figures next to the original Moral RolePlay's (builders/figures.py).

The original's numbers are in data/original.json with the spec section each comes from. A record
is one portrayal carrying its whole scene, so scene figures (scenario, messages, turns, Environment
share, key characters) are measured once per scene (`case_key`), portrayal figures (profile,
thought, traits) once per record; level shares over the `test` records. Count figures say how far
a build spreads (works, scenes, characters, portrayals per level) next to the original's full pool
and test set; a character is a (work, name) pair, a top-up scene's characters belong to that scene.

Level by origin: how many portrayals of each level (1-4, or not judged) come from source works and
how many from model-written top-up scenes, in the test set and over every released portrayal
(`level_origin_counts`). The original's portrayals all come from book scenes; here a level filled by
one origin while the other fills other levels makes per-level scores compare origins as much as
moral levels (`confounded_levels`). The cells are figures named by `cell_name`, so the card
(cards/moral_roleplay.md) draws the table from the release's own records.
"""

from __future__ import annotations

from pathlib import Path

from builders.figures import Figure, load_original, mean, share, words
from builders.moral_roleplay.coser import ENVIRONMENT
from builders.moral_roleplay.vocab import LEVELS

ORIGINAL = load_original(Path(__file__).resolve().parent)
ORIGINS = {"source": "source works", "synthetic": "top-up scenes"}
ROWS = (*LEVELS, None)  # None: not judged


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
        *level_origin_figures(records),
        Figure("test characters", len({character_of(r) for r in test}), None, ORIGINAL["characters"]["text"],
               kind="count"),
        *(Figure(f"level {level} share of portrayals with a level", share(r["level"] == level for r in judged),
                 ORIGINAL["pool_level_shares"]["shares"][str(level)], ORIGINAL["pool_level_shares"]["text"],
                 kind="share") for level in LEVELS),
    ]


def level_origin_counts(records: list[dict], *, test: bool) -> dict:
    """{level or None: {origin: portrayals}} over the test portrayals, or over every record."""
    rows = [r for r in records if r["test"]] if test else records
    return {level: {origin: sum(r["level"] == level and r["origin"] == origin for r in rows) for origin in ORIGINS}
            for level in ROWS}


def confounded_levels(counts: dict) -> dict[int, str]:
    """Levels (1-4) that one origin alone fills while the other origin fills some other level:
    level -> that origin. Empty when every level mixes origins or the set holds one origin only."""
    labelled = {level: row for level, row in counts.items() if level is not None and sum(row.values())}
    used = {origin for row in labelled.values() for origin, n in row.items() if n}
    if len(used) < 2:
        return {}
    return {level: next(origin for origin, n in row.items() if n) for level, row in labelled.items()
            if sum(1 for n in row.values() if n) == 1}


def cell_name(level: int | None, origin: str, *, test: bool) -> str:
    """The figure name of one cell of the level-by-origin table (the card looks the cells up by it)."""
    scope = "test portrayals" if test else "portrayals"
    row = f"at level {level}" if level is not None else "not judged"
    return f"{scope} {row} from {ORIGINS[origin]}"


def level_origin_note(records: list[dict], *, test: bool) -> str:
    """One line of the build report: the table, and the confound when there is one."""
    counts = level_origin_counts(records, test=test)
    cells = "; ".join(f"{'level ' + str(level) if level is not None else 'not judged'}: "
                      f"{row['source']} source + {row['synthetic']} top-up" for level, row in counts.items())
    confounded = confounded_levels(counts)
    scope = "test portrayals" if test else "released portrayals"
    origins = [origin for origin in ORIGINS if any(row[origin] for level, row in counts.items() if level is not None)]
    if confounded:
        verdict = "CONFOUNDED: " + ", ".join(f"level {level} only from {ORIGINS[origin]}"
                                             for level, origin in sorted(confounded.items()))
    elif len(origins) == 1:
        verdict = f"every labelled portrayal from {ORIGINS[origins[0]]}: origin does not vary with level"
    else:
        verdict = "no level filled by one origin alone" if origins else "no labelled portrayal"
    return f"level by origin ({scope}): {cells} ({verdict})"


def level_origin_figures(records: list[dict]) -> list[Figure]:
    """The cells of the level-by-origin table, next to the original's (book scenes only, every key
    character labelled)."""
    cells = []
    for test in (True, False):
        counts = level_origin_counts(records, test=test)
        for level in (LEVELS if test else ROWS):
            for origin in ORIGINS:
                original, text = _original_cell(level, origin, test=test)
                cells.append(Figure(cell_name(level, origin, test=test), counts[level][origin], original, text,
                                    kind="count"))
    return cells


def _original_cell(level: int | None, origin: str, *, test: bool) -> tuple[int | None, str]:
    if level is None:
        return ORIGINAL["not_judged"]["count"], ORIGINAL["not_judged"]["text"]
    if origin == "synthetic":
        return 0, "none (book scenes only)"
    if test:
        return ORIGINAL["test_per_level"]["count"], ORIGINAL["test_per_level"]["text"]
    return None, "all from book scenes"


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
