"""The structural completeness measure (five checks on the 1-5 scale), the modes, and episode ends."""

from __future__ import annotations

import pytest

from builders.moral_roleplay.completeness import (
    ends_episode,
    measure,
    structural_checks,
)
from builders.moral_roleplay.scenes import SceneFilter
from builders.moral_roleplay.windows import scenes_of
from builders.sources import plays

SCENARIO = "Two officers meet at night in a narrow street outside the house of a senator in Venice to plan."  # 18
EXCHANGE = ["Environment"] + ["Iago", "Roderigo"] * 5


def test_a_whole_scene_passes_every_check():
    checks = structural_checks(EXCHANGE, SCENARIO, ends_episode=True)
    assert all(checks.values()) and len(checks) == 5
    assert measure("structure", 1, EXCHANGE, SCENARIO, ends_episode=True).value == 5


@pytest.mark.parametrize("speakers, scenario, ends, failed", [
    (EXCHANGE[:8], SCENARIO, True, ["at least 9 turns"]),
    (["Environment"] + ["Iago"] * 9 + ["Roderigo"], SCENARIO, True, ["two characters with 2+ turns each"]),
    (EXCHANGE[1:], SCENARIO, True, ["an Environment turn"]),
    (EXCHANGE, "Too short a scenario.", True, ["a scenario of 14-199 words"]),
    (EXCHANGE, " ".join(["word"] * 200), True, ["a scenario of 14-199 words"]),
    (EXCHANGE, SCENARIO, False, ["ends where its episode ends"]),
    (["Iago"] * 3, "short", False, ["at least 9 turns", "two characters with 2+ turns each", "an Environment turn",
                                    "a scenario of 14-199 words", "ends where its episode ends"]),
])
def test_each_failed_check_costs_one_point(speakers, scenario, ends, failed):
    measured = measure("structure", 5, speakers, scenario, ends_episode=ends)
    assert list(measured.failed_checks) == failed
    assert measured.value == max(1, 5 - len(failed)) == measured.structure


def test_modes_pick_the_llm_rating_or_the_lower_of_both():
    assert measure("llm", 2, EXCHANGE, SCENARIO, ends_episode=True).value == 2
    assert measure("both", 2, EXCHANGE, SCENARIO, ends_episode=True).value == 2
    assert measure("both", 5, EXCHANGE, SCENARIO, ends_episode=False).value == 4
    with pytest.raises(ValueError, match="use one of structure, llm, both"):
        measure("vibes", 5, EXCHANGE, SCENARIO, ends_episode=True)


def test_filter_keeps_at_threshold_and_names_the_failed_checks():
    keep = SceneFilter(min_completeness=4)
    assert keep.judge({"completeness": 1}, EXCHANGE, SCENARIO, ends_episode=False)[1] is None
    measured, problem = keep.judge({"completeness": 1}, EXCHANGE[1:], SCENARIO, ends_episode=False)
    assert measured.value == 3
    assert problem == ("completeness 3 (structure; LLM 1, structure 3) < 4; failed: an Environment turn, "
                       "ends where its episode ends")


def test_only_the_last_window_of_a_play_scene_ends_its_episode():
    othello = plays.load_play("othello")
    cut = scenes_of(othello).scenes
    by_section: dict[str, list] = {}
    for scene in cut:
        by_section.setdefault(scene.section_id, []).append(scene)
    long_section = next(scenes for scenes in by_section.values() if len(scenes) >= 3)
    assert [ends_episode(othello, s, 1500) for s in long_section] == [False] * (len(long_section) - 1) + [True]
    assert ends_episode(othello, cut[-1], 1500)
