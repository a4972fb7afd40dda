"""The shortcut audit: honest items stay at chance, planted shortcuts are flagged."""

from __future__ import annotations

import random

import numpy as np

from builders.audit import MCItem, audit, bootstrap_interval

WORDS = ("garden letter river morning promise window harvest lantern journey meeting answer careful honest "
         "bright worried hopeful curious patient certain gentle sudden distant familiar plan visit story "
         "question dinner market project offer chance reason favour secret").split()


def sentence(rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(length))


def honest_items(n: int, seed: int = 0) -> list[MCItem]:
    """Options drawn alike, gold at a uniform position: no cue points at it."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        options = tuple(sentence(rng, rng.randint(8, 30)) for _ in range(4))
        items.append(MCItem(question=sentence(rng, 12), context=sentence(rng, 80), options=options,
                            gold=rng.randrange(4)))
    return items


def by_name(report: dict) -> dict:
    return {row["baseline"].split(" (")[0]: row for row in report["baselines"]}


def test_honest_items_flag_nothing():
    report = audit(honest_items(400))
    assert report["chance"] == 0.25 and report["items"] == 400 and report["flagged"] == []
    for row in report["baselines"]:
        assert row["low"] <= row["accuracy"] <= row["high"]
        assert row["low"] < 0.25 + 0.05, row


def test_golds_made_longest_are_flagged():
    items = []
    for item in honest_items(300, seed=1):
        longest = max(range(4), key=lambda i: len(item.options[i].split()))
        items.append(MCItem(item.question, item.context, item.options, longest))
    report = audit(items)
    assert "longest option" in report["flagged"]
    assert by_name(report)["longest option"]["accuracy"] > 0.9
    assert "shortest option" not in report["flagged"]


def test_golds_that_echo_the_question_and_a_fixed_position_are_flagged():
    rng = random.Random(2)
    items = []
    for item in honest_items(300, seed=2):
        options = list(item.options)
        options[0] = item.question + " " + sentence(rng, 5)  # the gold repeats the question's words
        items.append(MCItem(item.question, item.context, tuple(options), 0))
    flagged = audit(items)["flagged"]
    assert "most word overlap with the question" in flagged
    assert "fixed position (most frequent gold position)" in flagged


def test_the_option_only_classifier_finds_a_word_only_golds_use():
    items = []
    for index, item in enumerate(honest_items(300, seed=3)):
        options = list(item.options)
        options[item.gold] = "sincerely " + options[item.gold]
        items.append(MCItem(item.question, item.context, tuple(options), item.gold))
    report = audit(items)
    assert "option only (TF-IDF + logistic regression, 5-fold)" in report["flagged"]
    assert audit(items) == report  # seeded: the same report every time


def test_small_releases_skip_the_classifier_and_say_why():
    row = by_name(audit(honest_items(10)))["option only"]
    assert row["accuracy"] is None and "at least 40 items" in row["note"]
    assert audit([]) == {"items": 0, "baselines": [], "flagged": []}


def test_the_interval_is_a_bootstrap_below_the_cap_and_normal_above():
    credit = np.array([1.0] * 30 + [0.0] * 70)
    low, high = bootstrap_interval(credit)
    assert low < 0.3 < high and 0.18 < low and high < 0.42
    big = np.array([1.0, 0.0, 0.0, 0.0] * 10_000)
    low, high = bootstrap_interval(big)
    assert abs((low + high) / 2 - 0.25) < 1e-9 and high - low < 0.01
