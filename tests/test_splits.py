"""Split stage: deterministic grouped assignment by a stable hash, ratio checks, order kept."""

from __future__ import annotations

import logging

import pytest
import xxhash

from builders.splits import assign_splits, split_bounds, split_for_group

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def records_in_groups(groups: int, per_group: int = 3) -> list[dict]:
    # Interleaved, so that a group's records are not adjacent in the input.
    return [{"id": f"r{g}-{k}", "env": f"env{g}"} for k in range(per_group) for g in range(groups)]


def env(record: dict) -> str:
    return record["env"]


def test_same_inputs_and_seed_give_the_same_splits():
    records = records_in_groups(500)
    first = assign_splits(records, group=env, ratios=RATIOS, seed=3)
    second = assign_splits([dict(r) for r in records], group=env, ratios=dict(RATIOS), seed=3)
    assert {k: [r["id"] for r in v] for k, v in first.items()} == {k: [r["id"] for r in v] for k, v in second.items()}
    other_seed = assign_splits(records, group=env, ratios=RATIOS, seed=4)
    assert [r["id"] for r in other_seed["test"]] != [r["id"] for r in first["test"]]


def test_assignment_follows_the_documented_hash_rule():
    """xxh3_64 of "<seed>:<group>" read as a point in [0, 2**64), cut by the cumulative ratios."""
    bounds = split_bounds(RATIOS)
    for g in range(200):
        point = xxhash.xxh3_64_intdigest(f"0:env{g}".encode()) / 2**64
        expected = "train" if point < 0.8 else "validation" if point < 0.9 else "test"
        assert split_for_group(f"env{g}", 0, bounds) == expected
    # Pinned literally, so that a change of hash or rule cannot pass unnoticed.
    assert [split_for_group(f"env{g}", 0, bounds) for g in range(12)] == [
        "train", "train", "train", "validation", "train", "train", "train", "train", "train", "train", "train", "train",
    ]


def test_a_group_never_spans_two_splits_and_nothing_is_lost():
    records = records_in_groups(300, per_group=4)
    splits = assign_splits(records, group=env, ratios=RATIOS, seed=0)
    split_of_group = {}
    for name, rows in splits.items():
        for row in rows:
            assert split_of_group.setdefault(row["env"], name) == name
    assert sorted(r["id"] for rows in splits.values() for r in rows) == sorted(r["id"] for r in records)
    assert list(splits) == ["train", "validation", "test"]


def test_records_keep_their_input_order_within_a_split():
    records = records_in_groups(200)
    position = {r["id"]: i for i, r in enumerate(records)}
    for rows in assign_splits(records, group=env, ratios=RATIOS, seed=1).values():
        assert [position[r["id"]] for r in rows] == sorted(position[r["id"]] for r in rows)


def test_split_sizes_are_close_to_the_ratios_with_many_groups():
    records = records_in_groups(20_000, per_group=1)
    splits = assign_splits(records, group=env, ratios=RATIOS, seed=0)
    for name, ratio in RATIOS.items():
        assert abs(len(splits[name]) / len(records) - ratio) < 0.01  # ~4.7 standard errors for 0.1


def test_adding_groups_never_moves_existing_groups():
    before = assign_splits(records_in_groups(300), group=env, ratios=RATIOS, seed=9)
    after = assign_splits(records_in_groups(900), group=env, ratios=RATIOS, seed=9)
    split_after = {r["env"]: name for name, rows in after.items() for r in rows}
    assert all(split_after[r["env"]] == name for name, rows in before.items() for r in rows)


def test_zero_ratio_and_few_groups(caplog):
    records = records_in_groups(4, per_group=2)
    splits = assign_splits(records, group=env, ratios={"train": 1.0, "test": 0.0}, seed=0)
    assert splits["test"] == [] and len(splits["train"]) == 8
    with caplog.at_level(logging.WARNING, logger="builders.splits"):
        splits = assign_splits(records[:1], group=env, ratios={"train": 0.5, "test": 0.5}, seed=0)
    assert sum(map(len, splits.values())) == 1 and "is empty" in caplog.text
    assert assign_splits([], group=env, ratios=RATIOS, seed=0) == {"train": [], "validation": [], "test": []}


@pytest.mark.parametrize(
    "ratios, message",
    [
        ({"train": 1.2, "test": -0.2}, r"ratio of split 'test' is negative \(-0.2\)"),
        ({"train": 0.8, "test": 0.1}, "split ratios must sum to 1, they sum to 0.9"),
        ({"train": 0.8, "tset": 0.2}, r"unknown split name\(s\) \['tset'\]; use train, validation, dev, test"),
        ({}, "ratios must be a non-empty dict"),
        ({"train": "0.8", "test": 0.2}, "ratio of split 'train' must be a finite number"),
        ({"train": float("nan"), "test": 0.2}, "must be a finite number"),
    ],
)
def test_bad_ratios_get_clear_errors(ratios, message):
    with pytest.raises(ValueError, match=message):
        assign_splits(records_in_groups(3), group=env, ratios=ratios, seed=0)


def test_bad_group_ids_and_seeds_get_clear_errors():
    with pytest.raises(TypeError, match=r"group function must return str, got tuple for record #0; join tuple keys"):
        assign_splits(records_in_groups(3), group=lambda r: (r["env"], 1), ratios=RATIOS, seed=0)
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        assign_splits(records_in_groups(3), group=env, ratios=RATIOS, seed="0")
