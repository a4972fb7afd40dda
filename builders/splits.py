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
    _check_ratios(ratios)
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


def _check_ratios(ratios: dict[str, float]) -> None:
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
