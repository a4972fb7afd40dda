"""The shared gold-position balancer: seeded, balanced per stream, peek does not deal."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.public_seed_positions import BalancedPositions


def deal(positions: BalancedPositions, n: int, stream: str | None = None) -> list[int]:
    return [positions.next(stream) for _ in range(n)]


@pytest.mark.parametrize("options", [2, 3, 4, 5])
def test_every_prefix_is_balanced_to_within_one(options):
    positions = BalancedPositions(11, namespace="test", options=options)
    counts = Counter()
    for _ in range(20 * options + 3):
        counts[positions.next()] += 1
        assert max(counts.values()) - min(counts[slot] for slot in range(options)) <= 1


@pytest.mark.parametrize("options", [3, 4])
def test_every_aligned_window_of_k_blocks_holds_each_position_exactly_k_times(options):
    dealt = deal(BalancedPositions(2, namespace="test", options=options), 12 * options)
    for k in (1, 2, 3):
        for start in range(0, len(dealt), k * options):
            assert Counter(dealt[start : start + k * options]) == {slot: k for slot in range(options)}


def test_same_seed_and_namespace_repeat_other_seed_or_namespace_differ():
    first = deal(BalancedPositions(1, namespace="a"), 40)
    assert first == deal(BalancedPositions(1, namespace="a"), 40)
    assert first != deal(BalancedPositions(2, namespace="a"), 40)
    assert first != deal(BalancedPositions(1, namespace="b"), 40)
    assert first[:4] != [0, 1, 2, 3] or first[4:8] != [0, 1, 2, 3]  # shuffled, not dealt in order


def test_streams_are_independent_and_each_balanced_whatever_the_interleaving():
    mixed = BalancedPositions(7, namespace="test")
    dealt = {"drama": [], "literary": [], None: []}
    for i in range(301):
        stream = list(dealt)[i % 3 if i % 5 else 0]  # an uneven interleaving
        dealt[stream].append(mixed.next(stream))
    for stream, slots in dealt.items():
        assert slots == deal(BalancedPositions(7, namespace="test"), len(slots), stream)
        counts = Counter(slots)
        assert max(counts.values()) - min(counts[slot] for slot in range(4)) <= 1
    assert dealt["drama"][:20] != dealt["literary"][:20]


def test_peek_shows_the_next_slot_without_dealing_it():
    positions = BalancedPositions(3, namespace="test")
    reference = deal(BalancedPositions(3, namespace="test"), 12)
    dealt = []
    for _ in range(12):
        shown = positions.peek()
        assert positions.peek() == shown  # peeking twice (a dropped item) takes no slot
        dealt.append(positions.next())
        assert dealt[-1] == shown
    assert dealt == reference


def test_peek_on_one_stream_leaves_the_others_alone():
    positions = BalancedPositions(4, namespace="test")
    positions.peek("a")
    assert deal(positions, 8, "b") == deal(BalancedPositions(4, namespace="test"), 8, "b")


def test_fewer_than_two_options_is_refused():
    with pytest.raises(ValueError, match="options must be 2 or more"):
        BalancedPositions(0, namespace="test", options=1)
