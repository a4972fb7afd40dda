"""Compatibility export: the original's JSON arrays of scene objects (full and test) and the manifest,
written from records and from a written release alike."""

from __future__ import annotations

import json

import pytest
from test_moral_roleplay_llm_steps import FakeLLM, _args, _generate, _levels_by_name

from builders.moral_roleplay import build
from builders.moral_roleplay.export import (
    SCENE_FIELDS,
    export_compat,
    main,
    read_release,
    scene_object,
)
from builders.pipeline import split_by_config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Records of a fake build (with top-up) and the release folder written from them."""
    from release import write_release

    collected, report = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True, max_per_character=1))
    splits = split_by_config(build.BENCHMARK, collected.kept, {"test": 1.0}, 0)
    result = write_release(build.BENCHMARK, splits, {"funnel": report.funnel, "notes": report.notes},
                           tmp_path_factory.mktemp("releases"))
    return collected.kept, result.path


def _load(folder, name):
    return json.loads((folder / name).read_text(encoding="utf-8"))


def test_full_and_test_files_hold_scene_objects_in_the_published_shape(built, tmp_path):
    records, _ = built
    counts = export_compat(records, tmp_path)
    full, test = _load(tmp_path, "moral_roleplay.json"), _load(tmp_path, "moral_roleplay_test.json")
    assert counts == {"moral_roleplay.json": len(full), "moral_roleplay_test.json": len(test),
                      "moral_roleplay_manifest.json": sum(r["test"] for r in records)}
    assert len(full) == len({r["case_key"] for r in records})
    assert len(test) == len({r["case_key"] for r in records if r["test"]})
    for scene in full:
        assert tuple(scene) == SCENE_FIELDS  # the published fields only, in order: no provenance
        for character in scene["key_characters"]:
            assert set(character) == {"name", "thought", "morality_classification"}
            assert character["morality_classification"]["level"] in (1, 2, 3, 4)
    assert [(s["book"], s["i_p"], s["i_c"]) for s in full] == sorted((s["book"], s["i_p"], s["i_c"]) for s in full)
    assert {json.dumps(s, sort_keys=True) for s in test} <= {json.dumps(s, sort_keys=True) for s in full}


def test_manifest_lists_the_scored_characters_and_counts(built, tmp_path):
    records, _ = built
    export_compat(records, tmp_path, name="RolePlay_Villain")
    manifest = _load(tmp_path, "RolePlay_Villain_manifest.json")
    test = [r for r in records if r["test"]]
    assert sorted((c["case_key"], c["name"]) for c in manifest["test_characters"]) == sorted(
        (r["case_key"], r["name"]) for r in test)
    assert manifest["per_level"]["4"]["synthetic"] == sum(r["level"] == 4 and r["origin"] == "synthetic" for r in test)
    assert sum(level["test_characters"] for level in manifest["per_level"].values()) == len(test)
    assert manifest["counts"]["test"]["portrayals"] == len(test)
    assert manifest["counts"]["all"]["tone"] and manifest["agreement_over_released_portrayals"]["pairs"] == len(records)
    scenes = {s["book"] + "-" + str(s["i_p"]) + "-" + str(s["i_c"]): s
              for s in _load(tmp_path, "RolePlay_Villain_test.json")}
    for character in manifest["test_characters"]:  # every scored character is labelled in its scene
        labelled = {k["name"]: k["morality_classification"]["level"] for k in scenes[character["case_key"]]["key_characters"]}
        assert labelled[character["name"]] == character["level"]


def test_export_from_the_release_equals_export_from_the_records(built, tmp_path):
    records, release = built
    export_compat(records, tmp_path / "from_records")
    assert main([str(release), "--out", str(tmp_path / "from_release")]) == 0
    for name in ("moral_roleplay.json", "moral_roleplay_test.json", "moral_roleplay_manifest.json"):
        assert (tmp_path / "from_records" / name).read_bytes() == (tmp_path / "from_release" / name).read_bytes()
    rows = read_release([release])
    assert len(rows) == len(records) and isinstance(rows[0]["character_profiles"], dict)


def test_bad_input_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="lacks scene fields"):
        scene_object({"portrayal_id": "x", "book": "B"})
    with pytest.raises(SystemExit, match="does not exist"):
        read_release([tmp_path / "missing"])
    with pytest.raises(SystemExit, match="no parquet files"):
        read_release([tmp_path])
