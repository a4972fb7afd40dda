"""Gold positions dealt from a private salt: balanced, without blocks, identical for the owner,
and unpredictable from anything published."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections import Counter

import pytest

from builders.answer_key import AnswerKey, SaltError, Slot, deal, fingerprint, load_salt, reorder
from tests.support.public_seed_positions import BalancedPositions

OPTIONS = ("w", "x", "y", "z")


def make_records(n: int, *, strata: int = 1) -> list[dict]:
    """Records whose gold ("gold-<i>") starts at position 0, as a builder would leave them."""
    return [{"id": f"item-{i:05d}", "track": f"t{i % strata}",
             "options": [f"gold-{i}", *(f"{o}-{i}" for o in OPTIONS[1:])], "answer": 0} for i in range(n)]


def place(record: dict, slot: int, order: list[int]) -> dict:
    options = reorder(record["options"], order)
    return {**record, "options": options, "answer": options.index(record["options"][record["answer"]])}


KEY = AnswerKey(slots=lambda r: [Slot(stratum=r["track"], options=4, gold=r["answer"])], place=place)
SALT = bytes.fromhex("11" * 32)


def positions(records: list[dict]) -> list[int]:
    return [r["answer"] for r in records]


def test_every_gold_is_placed_and_the_options_are_kept():
    records = make_records(50)
    placed = deal("demo", KEY, records, "id", SALT)
    for before, after in zip(records, placed):
        assert sorted(after["options"]) == sorted(before["options"])
        assert after["options"][after["answer"]] == before["options"][0]
    assert records[0]["answer"] == 0  # the input is left alone


@pytest.mark.parametrize("n", [1, 7, 20, 60, 1001])
def test_positions_are_balanced_over_the_whole_release_per_stratum(n):
    placed = deal("demo", KEY, make_records(n, strata=3), "id", SALT)
    for track in {r["track"] for r in placed}:
        counts = Counter(r["answer"] for r in placed if r["track"] == track)
        total = sum(counts.values())
        assert max(counts.get(p, 0) for p in range(4)) - min(counts.get(p, 0) for p in range(4)) <= 1, counts
        assert all(abs(counts.get(p, 0) - total / 4) <= 1 for p in range(4))


def test_no_block_structure_in_release_order():
    """The old dealer put each position once in every 4 consecutive items; now a window of 4 is a
    permutation of 0-3 about as often as for independent draws (4!/4^4 = 9.4%)."""
    dealt = positions(deal("demo", KEY, make_records(4000), "id", SALT))
    windows = [dealt[i:i + 4] for i in range(0, 4000, 4)]
    share = sum(sorted(w) == [0, 1, 2, 3] for w in windows) / len(windows)
    assert 0.05 < share < 0.15, share
    old_dealer = BalancedPositions(0, namespace="demo")  # the old way, for contrast
    old = [old_dealer.next() for _ in range(8)]
    assert sorted(old[:4]) == sorted(old[4:]) == [0, 1, 2, 3]


def test_the_same_salt_gives_identical_positions_and_another_salt_different_ones():
    records = make_records(400)
    first = deal("demo", KEY, records, "id", SALT)
    assert deal("demo", KEY, list(reversed(records)), "id", SALT)[::-1] == first  # input order does not matter
    other = positions(deal("demo", KEY, records, "id", bytes.fromhex("22" * 32)))
    assert sum(a == b for a, b in zip(positions(first), other)) / len(other) < 0.35


def chance_interval(n: int, p: float = 0.25, z: float = 4.0) -> tuple[float, float]:
    spread = z * (p * (1 - p) / n) ** 0.5
    return p - spread, p + spread


def test_an_attacker_with_the_release_and_the_code_recovers_positions_at_chance():
    """Everything published: ids, release order, the seed, the code. Each attack predicts every
    gold position; none does better than chance (4 standard deviations)."""
    n, seed = 6000, 1
    truth = positions(deal("tomato", KEY, make_records(n), "id", SALT))
    ids = [f"item-{i:05d}" for i in range(n)]
    old_dealer = BalancedPositions(seed, namespace="tomato-positions")
    attacks = {
        "the old seeded balanced sequence": [old_dealer.next() for _ in range(n)],
        "hash of the id": [hashlib.sha256(i.encode()).digest()[0] % 4 for i in ids],
        "the dealer with an empty salt": positions(deal("tomato", KEY, make_records(n), "id", b"")),
        "the dealer with the seed as salt": positions(deal("tomato", KEY, make_records(n), "id", str(seed).encode())),
        "complete the block of four": [({0, 1, 2, 3} - set(truth[i - 3:i])).pop()
                                       if len(set(truth[i - 3:i])) == 3 else 0 for i in range(n)],
        "the least used position so far": [_least_used(truth[:i]) for i in range(n)],
        "random guessing": [random.Random(i).randrange(4) for i in range(n)],
    }
    low, high = chance_interval(n)
    for name, guess in attacks.items():
        accuracy = sum(g == t for g, t in zip(guess, truth)) / n
        assert low < accuracy < high, (name, accuracy)


def _least_used(seen: list[int]) -> int:
    counts = Counter(seen)
    return min(range(4), key=lambda p: (counts[p], p))


def test_the_salt_is_created_once_private_and_reused(tmp_path):
    salt = load_salt(tmp_path / "cache")
    path = tmp_path / "cache" / "answer-key.salt"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(salt) == 32
    assert load_salt(tmp_path / "cache") == salt
    assert fingerprint(salt) != fingerprint(load_salt(tmp_path / "other")) and salt.hex() not in fingerprint(salt)


def test_a_given_salt_file_is_used_and_a_bad_one_is_named_with_the_fix(tmp_path):
    mine = tmp_path / "team.salt"
    mine.write_text("ab" * 32 + "\n")
    assert load_salt(tmp_path / "cache", mine) == bytes.fromhex("ab" * 32)
    assert not (tmp_path / "cache" / "answer-key.salt").exists()  # a given file is not copied anywhere
    mine.write_text("not a salt")
    with pytest.raises(SaltError, match="restore it from your backup"):
        load_salt(tmp_path / "cache", mine)
    with pytest.raises(SaltError, match="cannot be read"):
        load_salt(tmp_path / "cache", tmp_path / "missing.salt")


def test_many_small_strata_do_not_pile_their_extra_golds_on_the_first_positions():
    """41 questions in 8 strata of 5-6: each stratum balanced to one, and the pool as well."""
    records = make_records(41, strata=8)
    placed = deal("demo", KEY, records, "id", SALT)
    pooled = Counter(r["answer"] for r in placed)
    assert max(pooled.values()) - min(pooled.values()) <= 3, pooled
