"""Released records: one per released (scene, character) portrayal: labelled, or not judged.

Design (spec §2, §3): every record carries the whole CoSER scene, so the compatibility fields the
original evaluation reads (`key_characters[].morality_classification`, `dialogues`, ...) are in
every row, plus the flat portrayal fields the `characters` view needs and one `provenance` object.
The three configs are membership tests over these records:
- `test`: `test` is true (the balanced, scored portrayals: the spec's `test_characters` manifest, one
  row per scored pair; several rows can share a scene);
- `scenes`: `scene_row` is true (exactly one row per released scene: the full pool of scenes);
- `characters`: every record (one row per labelled portrayal).
Labelled portrayals (agreed, adjudicated or designed) and portrayals not judged (no annotator fit to
judge: `level` null, no traits, the reason in `provenance.annotation.reason`) become key characters;
only labelled ones are test candidates. A disputed, failed or unconfirmed one stays in the dialogue
as a speaker but is not a key character (the build reports it as a reject).
"""

from __future__ import annotations

from dataclasses import dataclass

from builders import __version__
from builders.moral_roleplay.annotate import NOT_JUDGED, Portrayal
from builders.moral_roleplay.balance import Candidate
from builders.moral_roleplay.scenes import SceneResult
from builders.moral_roleplay.vocab import polarity_of

BUILDER = "moral_roleplay"


@dataclass(frozen=True)
class RunInfo:
    seed: int
    models: dict  # role -> model label
    prompt_hashes: dict  # step -> hash
    contracts: dict  # role -> "<model profile>: natural|strict" (how its text fields were asked)


def portrayal_id(case_key: str, name: str) -> str:
    return f"{case_key}::{name}"


def released(result: SceneResult) -> list[Portrayal]:
    return [p for p in result.portrayals if p.released] if result.scene is not None else []


def candidates_of(result: SceneResult) -> list[Candidate]:
    """Test candidates: the scene's portrayals with a level. A top-up scene is a work of its own:
    its characters are invented for it, whatever names other top-up scenes reuse."""
    scene = result.scene
    return [Candidate(id=portrayal_id(result.case_key, p.name), level=p.level,
                      tone=scene["tone"] or NOT_JUDGED,  # a stratum of its own for the test set's tone spread
                      completeness=scene["completeness"], book=result.group_work, character=p.name,
                      origin=result.origin, traits=tuple(p.traits)) for p in released(result) if p.usable]


def labelled_scene(result: SceneResult) -> dict:
    """The CoSER scene with its released key characters labelled (level null and no traits when not
    judged; the compatibility core)."""
    scene = {k: v for k, v in result.scene.items() if k != "thoughts"}
    portrayals = released(result)
    names = [p.name for p in portrayals]
    scene["key_characters"] = [{"name": p.name, "thought": result.scene["thoughts"][p.name],
                                "morality_classification": {"level": p.level, "key_traits": list(p.traits)}}
                               for p in portrayals]
    scene["major_characters"] = names
    scene["character_profiles"] = {n: scene["character_profiles"][n] for n in names}
    scene["plot"] = {**scene["plot"], "key_characters": [k for k in scene["plot"]["key_characters"]
                                                         if k["name"] in names]}
    return scene


def scene_records(result: SceneResult, test_ids: set[str], run: RunInfo) -> list[dict]:
    """The records of one scene, one per released portrayal."""
    scene = labelled_scene(result)
    records = []
    for portrayal in released(result):
        record_id = portrayal_id(result.case_key, portrayal.name)
        records.append({
            "portrayal_id": record_id,
            "case_key": result.case_key,
            "name": portrayal.name,
            "level": portrayal.level,
            "key_traits": list(portrayal.traits),
            "trait_polarity": polarity_of(portrayal.traits),
            "origin": result.origin,
            "target_level": result.target_levels.get(portrayal.name),
            "annotation": portrayal.status,
            "test": record_id in test_ids,
            "scene_row": False,  # set by mark_scene_rows once the released records are known
            **scene,
            "provenance": {
                "builder": BUILDER, "builder_version": __version__, "seed": run.seed, "models": run.models,
                "prompt_hashes": run.prompt_hashes, "contracts": run.contracts,
                "group": split_group_of(result.group_work, portrayal.name),
                "scene": result.provenance,
                "annotation": {"status": portrayal.status, "pair": list(portrayal.pair) if portrayal.pair else None,
                               "calls": portrayal.annotations, "re_asks": portrayal.problems,
                               **({"reason": portrayal.reason} if portrayal.reason else {})},
            },
        })
    return records


def mark_scene_rows(records: list[dict]) -> list[dict]:
    """Flag the first released record of every scene as its `scenes` row (exactly one per scene)."""
    seen = set()
    for record in records:
        record["scene_row"] = record["case_key"] not in seen
        seen.add(record["case_key"])
    return records


def split_group_of(work_id: str, name: str) -> str:
    """Work + character: a character's portrayals never straddle two splits."""
    return f"{work_id}::{name}"


def release_sort_key(record: dict) -> tuple:
    """Compatibility order (book, i_p, i_c), then the character."""
    return (record["book"], record["i_p"], record["i_c"], record["name"])
