"""Closed blocks of four (builders/litchartom/blocks.py): an ID character gets a question in every
dimension or in none, golds left over fill the blocks of others, and every question of a block shows
the same four bodies."""

from __future__ import annotations

from dataclasses import replace

from builders.litchartom.blocks import (
    DROPPED_SHOWN,
    INCOMPLETE,
    Compatibility,
    by_character,
)
from builders.litchartom.distractors import Gold
from builders.litchartom.questions import Draft, frame
from builders.litchartom.vocab import DIMENSIONS
from tests.test_litchartom_autocheck import RATIO, _steps

THINGS = ("the crown", "the storm", "the kingdom", "the sea", "the horses", "the winter", "the court", "the letter")
STATES = ("is heavy", "will pass", "is safe", "is calm", "can run", "never ends", "is loyal", "was true")


def _gold(step, name: str, number: int, extra: str = "") -> Gold:
    dimension = DIMENSIONS[name]
    body = f"that {THINGS[number % 8]} {STATES[(number * 3 + len(name)) % 8]} at last{extra}"
    draft = Draft(dimension=dimension, scenario="s", question=f"{dimension.question_start} {step.character} ?",
                  answer=frame(step.character, dimension) + body, reasoning="r", sample=0, provenance={})
    return Gold(step, draft)


def _golds_by_dimension(steps, leak, offset: int = 0) -> dict[str, list[Gold]]:
    """Distinct golds per character and dimension (plain words the source never names later)."""
    return {name: [_gold(step, name, offset + i) for i, step in enumerate(steps)] for name in DIMENSIONS}


def _questions(blocks) -> dict[str, set[str]]:
    return {name: {q.step.character for block in found.blocks for q in block.questions}
            for name, found in blocks.items()}


def test_four_characters_share_one_block_in_every_dimension():
    steps, leak = _steps()
    golds = _golds_by_dimension(steps, leak)
    blocks = by_character(golds, {name: [] for name in DIMENSIONS}, Compatibility(leak, RATIO))
    assert _questions(blocks) == {name: {"Lear", "Kent", "Goneril", "Edgar"} for name in DIMENSIONS}
    for name, found in blocks.items():
        assert len(found.blocks) == 1 and found.left == {}
        block = found.blocks[0]
        for gold in block.questions:  # every question shows the block's four bodies
            shown = {gold.body, *(d.text.split(" ", 2)[2] if name != "intention" else d.text.split(" ", 3)[3]
                                  for d in block.distractors(gold))}
            assert shown == {body.body for body in block.bodies}


def test_a_character_without_four_golds_fills_the_others_blocks():
    steps, leak = _steps()
    golds = _golds_by_dimension(steps, leak)
    golds["desire"] = [gold for gold in golds["desire"] if gold.step.character != "Edgar"]  # his draft failed
    check = Compatibility(leak, RATIO)
    blocks = by_character(golds, {name: [] for name in DIMENSIONS}, check)
    assert all(not found.blocks for found in blocks.values())  # three desire golds, no spare: nobody has four
    earlier = replace(steps[0], plot=replace(steps[0].plot, index=0))
    at_later = [replace(step, plot=replace(step.plot, index=1)) for step in steps]
    golds = _golds_by_dimension(at_later, leak)
    golds["desire"] = [gold for gold in golds["desire"] if gold.step.character != "Edgar"]
    spares = {name: [_gold(earlier, name, 7)] if name == "desire" else [] for name in DIMENSIONS}
    blocks = by_character(golds, spares, check)
    assert _questions(blocks) == {name: {"Lear", "Kent", "Goneril"} for name in DIMENSIONS}
    edgar = next(gold for gold in golds["belief"] if gold.step.character == "Edgar")
    assert blocks["belief"].left[id(edgar)] == INCOMPLETE and edgar in blocks["belief"].blocks[0].bodies
    desire = blocks["desire"].blocks[0]
    assert spares["desire"][0] in desire.bodies
    assert [d.kind for d in desire.distractors(desire.questions[0])].count("earlier") == 1  # Lear's own, earlier


def test_a_complete_record_needs_its_character_in_a_block_in_every_dimension():
    steps, leak = _steps()
    golds = _golds_by_dimension(steps, leak)
    spare_steps = [replace(step, plot=replace(step.plot, index=0)) for step in steps[:1]]
    at_later = [replace(step, plot=replace(step.plot, index=1)) for step in steps]
    later = _golds_by_dimension(at_later, leak, offset=4)
    kent = next(g for g in later["emotion"] if g.step.character == "Kent")
    # Kent's emotion gold names Lear: Lear cannot take a block holding it, so one of them is left out
    named = _gold(kent.step, "emotion", 5, extra=" for Lear")
    later["emotion"] = [named if g is kent else g for g in later["emotion"]]
    spares = {name: [g for g in golds[name] if g.step.character == "Lear"] for name in DIMENSIONS}
    assert spare_steps[0].plot.index < at_later[0].plot.index
    blocks = by_character(later, spares, Compatibility(leak, RATIO))
    chosen = _questions(blocks)
    assert len({frozenset(found) for found in chosen.values()}) == 1  # the same characters in every dimension
    assert len(chosen["belief"]) == 3 and not {"Lear", "Kent"} <= chosen["belief"]
    out = next(step.character for step in at_later if step.character not in chosen["belief"])
    out_gold = next(g for g in later["belief"] if g.step.character == out)
    assert blocks["belief"].left[id(out_gold)] == DROPPED_SHOWN  # it fills the others' block
