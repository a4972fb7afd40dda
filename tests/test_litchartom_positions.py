"""Gold letters are balanced per stream and options are re-lettered around the gold."""

from __future__ import annotations

from collections import Counter

from builders.litchartom.build import POSITIONS_NAMESPACE
from builders.litchartom.records import lettered, place_gold
from builders.positions import BalancedPositions


def test_every_stream_is_balanced_to_within_one_whatever_the_interleaving():
    letters = BalancedPositions(7, namespace=POSITIONS_NAMESPACE)
    dealt = {"ood:belief": [], "ood:emotion": [], "current:belief": []}
    for i in range(203):
        stream = list(dealt)[i % 3 if i % 5 else 0]
        dealt[stream].append(letters.next(stream))
    for positions in dealt.values():
        counts = Counter(positions)
        assert max(counts.values()) - min(counts[p] for p in range(4)) <= 1


def test_same_seed_same_letters_other_seed_other_letters():
    def deal(seed):
        letters = BalancedPositions(seed, namespace=POSITIONS_NAMESPACE)
        return [letters.next("s") for _ in range(40)]

    assert deal(1) == deal(1)
    assert deal(1) != deal(2)


def test_place_gold_moves_only_the_gold_and_letters_follow_positions():
    options = ("gold", "w1", "w2", "w3")
    for position in range(4):
        placed = place_gold(options, position)
        assert placed[position] == ("gold", 0)
        assert [text for text, _ in placed if text != "gold"] == ["w1", "w2", "w3"]
    assert lettered(["x", "y", "z", "w"]) == ["A. x", "B. y", "C. z", "D. w"]
