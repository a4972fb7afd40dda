"""This release's figures next to the original PersonaEval's (builders/figures.py).

The original publishes row counts, the number of Literary novels and the four-option shape;
profile length, in-item length ratio, turn length, gold positions and items per scene are the
spec's targets for a rebuild (the original does not publish them), and the gender shortcut is this
builder's own measure. Per track, what the items spread over is counted too (works, scenes or
chapters, speakers asked for, characters among the candidates): a small build that draws on one
play measures that play. The numbers and the spec section each comes from are in data/original.json.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from builders.figures import Figure, load_original, mean, share, words
from builders.personaeval import gender
from builders.personaeval.records import OPTIONS

ORIGINAL = load_original(Path(__file__).parent)


def _profiles(record: dict) -> list[str]:
    return [record[f"option{slot}_profile"] for slot in range(1, OPTIONS + 1)]


def _length_ratio(record: dict) -> float:
    lengths = [words(profile) for profile in _profiles(record)]
    return max(lengths) / min(lengths)


def figures(records: list[dict]) -> list[Figure]:
    return [*_row_figures(records), *_spread_figures(records), *_profile_figures(records), *_item_figures(records)]


def _row_figures(records: list[dict]) -> list[Figure]:
    """Rows per track the original also has (a --n build is far smaller: the card shows both)."""
    rows = Counter(record["track"] for record in records)
    published = ORIGINAL["rows"]
    return [Figure(f"rows ({track})", rows[track], published[track], f"{published[track]:,}", kind="count")
            for track in sorted(rows) if track in published]


def _spread_figures(records: list[dict]) -> list[Figure]:
    """Per track: the works, scenes or chapters and characters its items draw on."""
    works, scenes, characters = ORIGINAL["works"], ORIGINAL["scenes"]["text"], ORIGINAL["characters"]["text"]
    found = []
    for track in sorted({r["track"] for r in records}):
        rows = [r for r in records if r["track"] == track]
        published = works.get(track, {"value": None, "text": "not published"})
        found += [
            Figure(f"works ({track})", len({r["work"] for r in rows}), published["value"], published["text"],
                   kind="count"),
            Figure(f"scenes or chapters ({track})", len({(r["work"], r["provenance"]["section"]["id"]) for r in rows}),
                   None, scenes, kind="count"),
            Figure(f"characters asked for as Character2 ({track})",
                   len({(r["work"], r["provenance"]["gold"]["id"]) for r in rows}), None, characters, kind="count"),
            Figure(f"characters among the candidates ({track})",
                   len({(r["work"], o["character_id"]) for r in rows for o in r["provenance"]["options"]}), None,
                   characters, kind="count"),
        ]
    return found


def _profile_figures(records: list[dict]) -> list[Figure]:
    profile_words = ORIGINAL["profile_words"]
    ratio = ORIGINAL["profile_length_ratio"]
    return [
        Figure("profile words (mean)", mean(words(p) for r in records for p in _profiles(r)), None,
               profile_words["text"], kind="length", original_range=tuple(profile_words["range"])),
        Figure("profile length ratio within an item (longest / shortest, max)",
               round(max(map(_length_ratio, records)), 3) if records else None, None, ratio["text"]),
    ]


def _item_figures(records: list[dict]) -> list[Figure]:
    turn_words, options = ORIGINAL["turn_words"], ORIGINAL["options_per_item"]
    per_scene = Counter((r["work"], r["provenance"]["section"]["id"]) for r in records)
    scene_text = ORIGINAL["instances_per_scene"]["text"]
    found = [
        Figure("turn words (mean over shown turns)",
               mean(words(turn["text"]) for r in records for turn in r["provenance"]["dialogue"]), None,
               turn_words["text"], kind="length", original_range=tuple(turn_words["range"])),
        Figure("options per item", mean(len([s for s in range(1, 6) if r[f"option{s}"]]) for r in records),
               options["value"], options["text"], kind="count"),
        Figure("items per scene (mean)", mean(per_scene.values()), ORIGINAL["instances_per_scene"]["value"],
               scene_text, kind="count"),
        Figure("items per scene (max)", max(per_scene.values(), default=None), None, scene_text, kind="count"),
    ]
    found += [Figure(f"gold in option{slot} (share)", share(r["gold_index"] == slot - 1 for r in records), None,
                     ORIGINAL["gold_position"]["text"], kind="share") for slot in range(1, OPTIONS + 1)]
    found.append(Figure("gender shortcut: only the gold fits Character1's terms of address (share)",
                        share(r["gender_shortcut"] == gender.ONLY_GOLD for r in records), None,
                        ORIGINAL["gender_shortcut"]["text"], kind="share"))
    return found
