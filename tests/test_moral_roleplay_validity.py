"""Moral RolePlay as a valid benchmark: labels only from fit annotators, a label shortcut audit,
origin balance, spread, counts next to the original's, and nothing paid for dropped silently.

In-process builds use the scripted fake of test_moral_roleplay_llm_steps.py with text that differs
per request (`VariedFake`: the plain fake writes the same words everywhere, which dedup would merge
and every text cue would see as identical). One build goes through the real command line on the
strong-model stand-in with a profile that declares the model unfit to judge.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import pytest

from builders.label_audit import Cue, audit_labels, stratified_folds
from builders.moral_roleplay import build, shortcuts, synthetic
from builders.moral_roleplay.export import manifest, scenes_of
from builders.pipeline import split_by_config
from tests.support.standin_builds import STANDIN_BUILDS, run_standin_build, standin_server
from tests.test_moral_roleplay_llm_steps import FakeLLM, _args, _generate, _levels_by_name

WORDS = ("quiet garden letter river morning promise window harvest lantern journey meeting answer careful honest "
         "bright worried hopeful curious patient certain gentle sudden distant familiar").split()


class VariedFake(FakeLLM):
    """The scripted fake, its free text drawn from a hash of the request: no two scenes alike."""

    def _fill(self, schema, request, path):
        if schema.get("type") == "string" and "enum" not in schema:
            digest = hashlib.sha256((json.dumps(request.messages) + path).encode()).hexdigest()
            words = " ".join(WORDS[int(digest[i:i + 2], 16) % len(WORDS)] for i in range(0, 40, 2))
            return f"Words {words}"[:schema.get("maxLength", 200)].strip().ljust(schema.get("minLength", 1), "x")
        return super()._fill(schema, request, path)


def two_or_three(name, sample, choices):
    """An annotator who finds only flawed good people and egoists in Othello (Iago and Roderigo level
    3, everyone else 2), consistently: agreement above chance, so its labels are released, and
    without origin balance levels 2 and 3 come from the play, 1 and 4 from the top-up. (An annotator
    giving everyone level 2, the embedded model's old build shape, now agrees only at chance: its
    labels are withdrawn, test_moral_roleplay_labels.py.)"""
    level = 3 if name in ("Iago", "Roderigo") else 2
    return level if level in choices else choices[0]


# -- the label audit itself ----------------------------------------------------------------------------


def test_a_cue_that_names_the_label_is_flagged_and_a_random_one_is_not():
    labels = [level for level in (1, 2, 3, 4) for _ in range(20)]
    rng = random.Random(7)
    report = audit_labels(labels, [
        Cue("origin", "category", ["synthetic" if level != 2 else "source" for level in labels]),
        Cue("coin", "category", [rng.choice("ab") for _ in labels]),
        Cue("line", "text", [f"the night {('gives', 'lies', 'sells', 'poisons')[level - 1]} now" for level in labels]),
        Cue("noise", "text", [" ".join(rng.sample(WORDS, 5)) for _ in labels]),
    ], majority_name="majority")
    rows = {row["baseline"]: row for row in report["baselines"]}
    assert report["items"] == 80 and report["chance"] == 0.25 and report["flag_margin"] == 0.05
    assert rows["majority"]["accuracy"] == 0.25 and not rows["majority"]["flagged"]
    # source -> 2 always right; synthetic -> one of three levels: a third right
    assert rows["origin"]["accuracy"] == pytest.approx((20 + 60 / 3) / 80) and rows["origin"]["flagged"]
    assert rows["line"]["accuracy"] == 1.0 and rows["line"]["flagged"]
    assert not rows["coin"]["flagged"] and not rows["noise"]["flagged"]
    assert report["flagged"] == ["origin", "line"]
    assert audit_labels(labels, [Cue("line", "text", [f"x {level}" for level in labels])]) == \
        audit_labels(labels, [Cue("line", "text", [f"x {level}" for level in labels])])  # seeded


def test_learned_cues_need_enough_items_and_folds_are_stratified():
    report = audit_labels([1, 2, 3], [Cue("origin", "category", ["a", "b", "c"])])
    assert report["baselines"][1]["accuracy"] is None and "needs at least 10 items" in report["baselines"][1]["note"]
    assert audit_labels([], [])["items"] == 0
    folds = stratified_folds([level for level in (1, 2, 3, 4) for _ in range(5)])
    assert sorted(i for fold in folds for i in fold) == list(range(20))
    assert all(sorted(i // 5 for i in fold) == [0, 1, 2, 3] for fold in folds)  # one of each level per fold


# -- the embedded model's build shape, with and without origin balance ----------------------------------


@pytest.fixture(scope="module")
def shaped():
    """A fit annotator that finds only levels 2 and 3 in the play, top-up labelled by design."""
    def run(origin_balance: bool):
        fake = VariedFake(levels=two_or_three)
        return _generate(fake, _args(n=40, max_scenes=16, top_up=True, confirm_top_up="off",
                                     origin_balance=origin_balance, max_per_character=4))
    return {balance: run(balance) for balance in (False, True)}


def _rows(audit: dict) -> dict:
    return {row["baseline"].split(" ")[0]: row for row in audit["baselines"]}


def test_without_origin_balance_origin_tells_the_level_and_the_audit_flags_it(shaped):
    collected, report = shaped[False]
    test = [r for r in collected.kept if r["test"]]
    origins = Counter((r["level"], r["origin"]) for r in test)
    # Iago and Roderigo, four portrayals each at most, give level 3 eight; the top-up adds the rest
    assert origins == {(1, "synthetic"): 10, (2, "source"): 10, (3, "source"): 8, (3, "synthetic"): 2,
                       (4, "synthetic"): 10}
    audit = build.BENCHMARK.shortcut_audit(collected.kept)
    rows = _rows(audit)
    assert audit["unit"] == shortcuts.UNIT and audit["items"] == 40 and audit["chance"] == 0.25
    assert rows["origin"]["flagged"] and rows["origin"]["accuracy"] == 0.5 and rows["book"]["flagged"]
    assert rows["opening"]["flagged"]  # a play's place heading vs a written stage direction with the deed
    assert "test origins per level: level 1: 0 source + 10 top-up; level 2: 10 source + 0 top-up" in " ".join(
        report.notes)


def test_origin_balance_gives_every_level_the_same_origins_and_nothing_is_flagged(shaped):
    collected, report = shaped[True]
    test = [r for r in collected.kept if r["test"]]
    per_level = Counter((r["level"], r["origin"]) for r in test)
    assert per_level == {(level, "synthetic"): 10 for level in (1, 2, 3, 4)}
    audit = build.BENCHMARK.shortcut_audit(collected.kept)
    assert audit["flagged"] == []
    assert _rows(audit)["origin"]["accuracy"] == 0.25
    assert any("origin balance on: every level takes 10 top-up portrayals" in note for note in report.notes)


def test_top_up_settings_and_names_follow_the_rank_within_a_level_not_the_level():
    for ordinal in range(10):
        plans = [synthetic.top_up_plan(index, level, ordinal) for index, level in enumerate((1, 2, 3, 4))]
        assert len({(p.setting, p.names) for p in plans}) == 1 and len({p.deed for p in plans}) == 4


# -- labels only from fit annotators --------------------------------------------------------------------


@pytest.fixture(scope="module")
def unfit():
    fake = VariedFake(levels=_levels_by_name, label="local:smollm2")  # the embedded model's profile: unfit
    collected, report = _generate(fake, _args(n=24, per_level=3, max_scenes=4, top_up=True))  # 12 test, 12 pool
    return fake, collected, report


def test_an_unfit_annotator_labels_nothing_and_its_portrayals_are_released_not_judged(unfit):
    fake, collected, report = unfit
    assert not [r for r in fake.requests if r.step.endswith((".question", ".traits"))]
    not_judged = [r for r in collected.kept if r["annotation"] == "not judged"]
    assert {r["origin"] for r in not_judged} == {"source", "synthetic"}
    for record in not_judged:
        assert record["level"] is None and record["key_traits"] == [] and not record["test"]
        reason = record["provenance"]["annotation"]["reason"]
        assert reason.startswith("no annotator fit to judge: local:smollm2 (profile local-smollm2)")
        own = next(k for k in record["key_characters"] if k["name"] == record["name"])
        assert own["morality_classification"] == {"level": None, "key_traits": []}
    test = [r for r in collected.kept if r["test"]]
    assert test and {r["annotation"] for r in test} == {"designed"} and {r["origin"] for r in test} == {"synthetic"}
    for record in test:  # the design: the deed's level and the traits designed with it
        scene = record["provenance"]["scene"]
        assert record["key_traits"] == scene["design_traits"] == \
            synthetic.synthetic_inputs()["design_traits"][str(record["level"])][scene["deed"]]
    assert report.funnel["portrayals not judged"] >= len(not_judged)  # some may be cut at --n, as rejects
    note = next(n for n in report.notes if n.startswith("levels and traits NOT JUDGED"))
    assert f"{len(not_judged)} released portrayals have no level and no traits" in note
    assert build.BENCHMARK.shortcut_audit(collected.kept)["items"] == len(test)


def test_the_card_says_how_many_portrayals_are_not_judged_and_why(unfit, tmp_path):
    from release import write_release

    _, collected, report = unfit
    records = collected.kept
    splits = split_by_config(build.BENCHMARK, records, {"test": 1.0}, 0)
    build_report = {"funnel": report.funnel, "notes": report.notes,
                    "shortcut_audit": build.BENCHMARK.shortcut_audit(records),
                    "original_comparison": [f.as_dict() for f in build.BENCHMARK.figures(records)]}
    card = " ".join((write_release(build.BENCHMARK, splits, build_report, tmp_path).path / "README.md").read_text()
                    .split())
    not_judged = sum(r["annotation"] == "not judged" for r in records)
    designed = sum(r["annotation"] == "designed" for r in records)
    assert (f"In this release {not_judged} of the {len(records)} released portrayals are not judged** (no annotator "
            f"of this build was fit to judge; the Notes give the reason), and {designed} carry their design") in card
    assert "levels and traits NOT JUDGED (no annotator fit to judge: local:smollm2" in card
    assert "### Shortcut audit" in card and "opening Environment line alone" in card
    assert f"| portrayals not judged (no level) | {not_judged} | none: every key character has a level |" in card
    assert "| test portrayals at level 4 |" in card


def test_a_not_judged_portrayal_is_no_key_character_of_the_compatibility_export(unfit):
    _, collected, _ = unfit
    scenes = scenes_of(collected.kept)
    assert scenes and all(k["morality_classification"]["level"] in (1, 2, 3, 4)
                          for scene in scenes for k in scene["key_characters"])
    assert manifest(collected.kept)["not_judged"]["portrayals"] == sum(
        r["level"] is None for r in collected.kept)


def test_confirming_the_top_up_needs_a_fit_annotator():
    from builders.cli import UserError

    with pytest.raises(UserError, match="--confirm-top-up on needs an annotator fit to judge"):
        _generate(FakeLLM(label="local:smollm2"), _args(top_up=True, confirm_top_up="on"))


def test_with_one_fit_annotator_it_makes_every_annotation():
    unfit_writer = VariedFake(levels=_levels_by_name, label="local:smollm2")
    fit_judge = VariedFake(levels=_levels_by_name, label="fake:judge")
    from builders.pipeline import BuildContext, BuildReport, collect
    from builders.resources import load_schema
    import asyncio

    report = BuildReport()
    args = _args(n=8, max_scenes=3, top_up=False)
    ctx = BuildContext(args=args, llm=unfit_writer, judge=fit_judge, seed=0, report=report, kept=lambda: 0)
    collected = asyncio.run(collect(build.BENCHMARK, load_schema("moral_roleplay"), build.generate(ctx), report, 8))
    assert not [r for r in unfit_writer.requests if r.step.endswith((".question", ".traits"))]
    assert [r for r in fit_judge.requests if r.step.endswith(".question")]
    assert {r["annotation"] for r in collected.kept} <= {"agreed", "adjudicated"}
    assert any(n.startswith("levels annotated by fake:judge alone") for n in report.notes)


# -- nothing paid for dropped silently ------------------------------------------------------------------


def test_every_portrayal_made_is_a_record_or_a_reject_with_its_reason(shaped):
    collected, report = shaped[False]
    made = report.funnel["portrayals annotated"]
    unreleased = [r for r in report.rejects if r["stage"] == "annotation"]
    cut = [r for r in report.rejects if r["stage"] == "cut at --n"]
    assert made == report.funnel["candidates"] + len(unreleased)
    assert report.funnel["candidates"] == len(collected.kept) + len(cut) + len(collected.removed)
    assert cut and all(r["reason"].startswith("--n 40 reached") and r["record"]["portrayal_id"] for r in cut)


# -- counts next to the original's ---------------------------------------------------------------------


def test_count_figures_stand_next_to_the_originals(shaped):
    collected, _ = shaped[True]
    figures = {f.name: f for f in build.BENCHMARK.figures(collected.kept)}
    assert figures["portrayals"].value == 40 and figures["portrayals"].original == 54591
    assert figures["scenes"].original == 23191 and figures["scenes"].kind == "count"
    assert [figures[f"test portrayals at level {level}"].value for level in (1, 2, 3, 4)] == [10] * 4
    assert figures["test portrayals at level 1"].original == 200
    assert figures["test characters"].value == 40  # every top-up scene's characters are its own
    assert figures["portrayals not judged (no level)"].value == 0


# -- through the command line: a model whose profile says it cannot judge --------------------------------


def test_a_build_whose_model_is_unfit_to_judge_releases_levels_not_judged(tmp_path):
    spec = STANDIN_BUILDS["moral_roleplay"]
    profile = tmp_path / "unfit.yaml"
    profile.write_text("judge: false\nsmoke_test: true\njudge_note: measured at kappa -0.06 (no better than chance)\n")
    with standin_server("openai", **spec.standin_options()) as server:
        result = run_standin_build("builders.moral_roleplay", server, tmp_path, *spec.flags,
                                   "--model-profile", str(profile), "--per-level", "3", n=20)
    assert result.result.returncode == 0, result.result.stderr[-3000:]
    characters = result.records("characters")
    not_judged = [r for r in characters if r["annotation"] == "not judged"]
    assert not_judged and all(r["level"] is None and not r["test"] for r in not_judged)
    assert all("kappa -0.06" in json.loads(r["provenance"])["annotation"]["reason"] for r in not_judged)
    card = " ".join((result.release / "README.md").read_text().split())
    assert "Not fit for evaluation" in card and "are not judged**" in card and "### Shortcut audit" in card
    assert result.build_report["shortcut_audit"]["unit"] == shortcuts.UNIT
    steps = result.calls["steps"]
    assert "moral_roleplay.question" not in steps and "moral_roleplay.traits" not in steps
