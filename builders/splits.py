"""Split stage: assign whole groups of records to train/validation/test, deterministically.

The rule: a group's split depends only on (seed, group id). The 64-bit xxh3 of
"<seed>:<group id>" (UTF-8) is read as a point in [0, 2**64) and the ratios cut that range into
consecutive intervals, one per split in the order the ratios are given; the group goes to the
interval its point falls in. Consequences:

- A group never spans two splits, and re-running with the same seed gives the same splits on any
  machine (no random.shuffle, no Python `hash()`, which is salted per process).
- Adding or removing other groups never moves a group to another split, so a later release with
  more data keeps every old test group in test (no train/test leakage across releases).
- With many groups the share of groups in each split is close to its ratio (the standard error
  is sqrt(r * (1 - r) / groups), e.g. +-0.3 points for r = 0.1 and 10,000 groups); record shares
  follow when groups have similar sizes.
- With few groups the shares can be far off and a split can even come out empty: with 5 groups
  and 80/10/10, test is empty with probability 0.9**5 = 59%. The rule is not bent to rebalance,
  because rebalancing would make a group's split depend on the other groups. Empty splits are
  returned as empty lists and logged as a warning; use more groups or finer group ids.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

import xxhash

log = logging.getLogger(__name__)

Record = dict
KNOWN_SPLITS = ("train", "validation", "dev", "test")
RATIO_SUM_TOLERANCE = 1e-6
_HASH_RANGE = 1 << 64


def assign_splits(
    records: Sequence[Record],
    *,
    group: Callable[[Record], str],
    ratios: dict[str, float],
    seed: int,
) -> dict[str, list[Record]]:
    """Map each split name (in the order of `ratios`) to its records, in input order."""
    bounds = split_bounds(ratios)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    splits: dict[str, list[Record]] = {name: [] for name in ratios}
    split_of_group: dict[str, list[Record]] = {}
    for position, record in enumerate(records):
        group_id = group(record)
        target = split_of_group.get(group_id)
        if target is None:
            if not isinstance(group_id, str):
                raise TypeError(
                    f"the group function must return str, got {type(group_id).__name__} for record "
                    f"#{position}; join tuple keys into one string"
                )
            target = splits[split_for_group(group_id, seed, bounds)]
            split_of_group[group_id] = target
        target.append(record)
    for name, rows in splits.items():
        if not rows and ratios[name] > 0 and records:
            log.warning("split %r is empty: %d groups are too few for ratio %g", name, len(split_of_group), ratios[name])
    return splits


def split_bounds(ratios: dict[str, float]) -> list[tuple[int, str]]:
    """Check the ratios and turn them into (exclusive upper bound in [0, 2**64], split name)."""
    check_ratios(ratios)
    bounds, cumulative = [], 0.0
    for name, ratio in ratios.items():
        cumulative += ratio
        bounds.append((min(_HASH_RANGE, round(cumulative * _HASH_RANGE)), name))
    # The last split with a positive ratio ends at 2**64 exactly, whatever the float rounding.
    last_positive = max(index for index, (_, name) in enumerate(bounds) if ratios[name] > 0)
    bounds[last_positive] = (_HASH_RANGE, bounds[last_positive][1])
    return bounds


def split_for_group(group_id: str, seed: int, bounds: list[tuple[int, str]]) -> str:
    point = xxhash.xxh3_64_intdigest(f"{seed}:{group_id}".encode("utf-8"))
    for upper, name in bounds:
        if point < upper:
            return name
    raise AssertionError("unreachable: the last bound is 2**64")


def parse_ratios(text: str) -> dict[str, float]:
    """ "test" or "train=0.8,validation=0.1,test=0.1" -> checked ratios; ValueError names the problem.

    Stricter than `assign_splits`: a split named twice or given ratio 0 is refused, since it could only
    come out empty (and an empty split file cannot be loaded)."""
    ratios: dict[str, float] = {}
    for part in text.split(","):
        name, has_value, value = (piece.strip() for piece in part.partition("="))
        if not name:
            raise ValueError(f"a split without a name in {text!r}; write e.g. train=0.8,test=0.2")
        if name in ratios:
            raise ValueError(f"split {name!r} is named twice in {text!r}; name each split once")
        try:
            ratios[name] = float(value) if has_value else 1.0
        except ValueError:
            raise ValueError(f"bad split ratio {part.strip()!r}; write e.g. train=0.8,test=0.2") from None
    total = math.fsum(ratio for ratio in ratios.values() if math.isfinite(ratio))
    if all(map(math.isfinite, ratios.values())) and abs(total - 1.0) > RATIO_SUM_TOLERANCE:
        raise ValueError(f"split ratios must be non-negative and sum to 1, got {text!r} (they sum to {total:g})")
    try:
        check_ratios(ratios)
    except ValueError as error:
        raise ValueError(f"{error} (in {text!r})") from None
    empty = [name for name, ratio in ratios.items() if ratio == 0]
    if empty:
        raise ValueError(f"split(s) {', '.join(empty)} have ratio 0 and would be empty; leave them out")
    return ratios


def minimum_records(ratios: dict[str, float]) -> int:
    """The fewest records with which every split of positive ratio can expect at least one record.

    A bound, not a guarantee: records go to splits by whole groups (see the module docstring), so a
    split can still come out empty above it; `drop_empty_splits` deals with that after the build."""
    smallest = min(ratio for ratio in ratios.values() if ratio > 0)
    return max(1, math.ceil(1 / smallest - RATIO_SUM_TOLERANCE))


def drop_empty_splits(splits_by_config: dict[str, dict[str, list[Record]]]
                      ) -> tuple[dict[str, dict[str, list[Record]]], list[tuple[str, str]]]:
    """config -> split -> records without the splits that hold no record, and the (config, split)
    pairs dropped. A config with no record at all is kept as it is (the release leaves it out whole)."""
    kept: dict[str, dict[str, list[Record]]] = {}
    dropped: list[tuple[str, str]] = []
    for config, splits in splits_by_config.items():
        if not any(splits.values()):
            kept[config] = splits
            continue
        kept[config] = {split: rows for split, rows in splits.items() if rows}
        dropped += [(config, split) for split, rows in splits.items() if not rows]
    return kept, dropped


def check_ratios(ratios: dict[str, float]) -> None:
    """ValueError unless `ratios` maps known split names to finite, non-negative shares summing to 1."""
    if not isinstance(ratios, dict) or not ratios:
        raise ValueError(f"ratios must be a non-empty dict like {{'train': 0.8, 'test': 0.2}}, got {ratios!r}")
    unknown = [name for name in ratios if name not in KNOWN_SPLITS]
    if unknown:
        raise ValueError(f"unknown split name(s) {unknown}; use {', '.join(KNOWN_SPLITS)}")
    for name, ratio in ratios.items():
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio):
            raise ValueError(f"ratio of split {name!r} must be a finite number, got {ratio!r}")
        if ratio < 0:
            raise ValueError(f"ratio of split {name!r} is negative ({ratio}); ratios are shares in [0, 1]")
    total = math.fsum(ratios.values())
    if abs(total - 1.0) > RATIO_SUM_TOLERANCE:
        raise ValueError(f"split ratios must sum to 1, they sum to {total:g}: {ratios}")
