"""Bootstrap intervals: around the point estimate, deterministic for a seed, unpaired differences."""

from __future__ import annotations

import random

from benchscore.stats import (
    Bootstrap,
    difference_with_interval,
    grouped_means,
    mean_with_interval,
)


def _coin_flips(n: int, p: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [float(rng.random() < p) for _ in range(n)]


def test_intervals_contain_the_point_estimate_and_narrow_with_n():
    widths = []
    for n in (10, 40, 400):
        for p in (0.1, 0.5, 0.9):
            result = mean_with_interval(_coin_flips(n, p, seed=n), Bootstrap(seed=3))
            low, high = result["interval"]
            assert low <= result["value"] <= high and result["n"] == n
            if p == 0.5:
                widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    values = _coin_flips(50, 0.4, seed=1)
    assert mean_with_interval(values, Bootstrap(seed=7)) == mean_with_interval(values, Bootstrap(seed=7))
    other_seed = mean_with_interval(values, Bootstrap(seed=8))
    assert mean_with_interval(values, Bootstrap(seed=7))["interval"] != other_seed["interval"]


def test_empty_and_constant_samples():
    assert mean_with_interval([], Bootstrap()) == {"value": None, "interval": None, "n": 0}
    assert mean_with_interval([1.0] * 5, Bootstrap()) == {"value": 1.0, "interval": [1.0, 1.0], "n": 5}


def test_unpaired_difference_of_two_samples_of_different_sizes():
    new, old = _coin_flips(300, 0.7, seed=1), _coin_flips(200, 0.5, seed=2)
    result = difference_with_interval(new, old, Bootstrap(seed=0))
    assert result["value"] == round(sum(new) / 300 - sum(old) / 200, 6)
    low, high = result["interval"]
    assert 0 < low <= result["value"] <= high and (result["n_new"], result["n_old"]) == (300, 200)
    assert difference_with_interval(new, [], Bootstrap())["value"] is None


def test_grouped_means_per_label():
    units = [(1.0, {"order": 1}), (0.0, {"order": 1}), (1.0, {"order": 2}), (1.0, {})]
    groups = grouped_means(units, "order", Bootstrap())
    assert {k: (v["value"], v["n"]) for k, v in groups.items()} == {"1": (0.5, 2), "2": (1.0, 1)}
