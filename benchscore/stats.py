"""Scores with their uncertainty: seeded percentile-bootstrap intervals.

Every score a run reports is a mean over scored units (items, or characters in Moral RolePlay),
so one function serves them all: resample the units with replacement, recompute the mean, take
the 2.5th and 97.5th percentiles. The generator is seeded, so the same values and seed give the
same interval on every machine: results files are byte-identical across reruns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Bootstrap:
    seed: int = 0
    resamples: int = RESAMPLES

    def describe(self) -> dict:
        return {"method": "percentile bootstrap", "resamples": self.resamples, "confidence": CONFIDENCE,
                "seed": self.seed}


def mean_with_interval(values: Iterable[float], bootstrap: Bootstrap) -> dict:
    """{"value", "interval": [low, high], "n"} of the mean; value and interval None when n is 0."""
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        return {"value": None, "interval": None, "n": 0}
    means = _resampled_means(data, np.random.default_rng(bootstrap.seed), bootstrap.resamples)
    return {"value": _round(data.mean()), "interval": _percentiles(means), "n": int(data.size)}


def difference_with_interval(new: Iterable[float], old: Iterable[float], bootstrap: Bootstrap) -> dict:
    """mean(new) - mean(old) with an *unpaired* bootstrap interval: the two samples hold different
    units (two releases' items), so each is resampled on its own."""
    a, b = np.asarray(list(new), dtype=float), np.asarray(list(old), dtype=float)
    if a.size == 0 or b.size == 0:
        return {"value": None, "interval": None, "n_new": int(a.size), "n_old": int(b.size)}
    rng = np.random.default_rng(bootstrap.seed)
    diffs = _resampled_means(a, rng, bootstrap.resamples) - _resampled_means(b, rng, bootstrap.resamples)
    return {"value": _round(a.mean() - b.mean()), "interval": _percentiles(diffs),
            "n_new": int(a.size), "n_old": int(b.size)}


def grouped_means(units: list[tuple[float, dict]], key: str, bootstrap: Bootstrap,
                  order: Callable[[str], object] = str) -> dict[str, dict]:
    """mean_with_interval per value of `key` in each unit's groups; units without the key are left out."""
    groups: dict[str, list[float]] = {}
    for value, labels in units:
        if key in labels and labels[key] is not None:
            groups.setdefault(str(labels[key]), []).append(value)
    return {name: mean_with_interval(groups[name], bootstrap) for name in sorted(groups, key=order)}


def _resampled_means(data: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    # In blocks, so a 30,000-item track does not hold 30 million indices at once.
    block = max(1, 2_000_000 // data.size)
    means = [data[rng.integers(0, data.size, size=(min(block, resamples - start), data.size))].mean(axis=1)
             for start in range(0, resamples, block)]
    return np.concatenate(means)


def _percentiles(samples: np.ndarray) -> list[float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return [_round(low), _round(high)]


def _round(value: float) -> float:
    # Six decimals: enough for any reported figure, and no last-bit float noise in results files.
    return round(float(value), 6)
