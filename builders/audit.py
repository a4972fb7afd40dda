"""A model-free shortcut audit of a multiple-choice release.

An item whose answer can be found without reading it measures the shortcut, not the skill. Each
baseline here picks an option from surface cues only, and scores against the key:

- fixed position: always the same position (the most frequent gold position is the best of them);
- longest / shortest option (in words; a tie splits the credit between the tied options);
- most word overlap with the question, and with the context (transcript, scenario...);
- option only: a classifier that sees only each option's text (TF-IDF + logistic regression,
  cross-validated over items with a fixed seed, on a seeded sample of at most 20,000 items),
  picking the option it scores highest.

Each accuracy comes with a bootstrap 95% interval over items (seeded); chance is the mean of
1/options. A baseline whose interval lies above chance + FLAG_MARGIN is flagged: the build summary
and the card say so. Everything is a function of the records, so the audit is part of the release.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

FLAG_MARGIN = 0.05  # accuracy points above chance that flag a baseline
BOOTSTRAP_SAMPLES = 1000
SEED = 0
FOLDS = 5
MIN_ITEMS_FOR_CLASSIFIER = 40  # fewer items cannot train and test a classifier meaningfully
MAX_ITEMS_FOR_CLASSIFIER = 20_000  # a seeded sample of this many items trains and scores it on big releases
NORMAL_ABOVE = 20_000  # items beyond which the interval is the normal approximation
WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Words every option shares by construction ("She thinks that he feels") would only add noise to overlap.
STOPWORDS = frozenset("a an the and or but of to in on at for with by from as is are was were be been it its this "
                      "that these those he she they him her them his their i me my you your we us our".split())


@dataclass(frozen=True)
class MCItem:
    """One question as the audit sees it (a benchmark's `Benchmark.mc_items` produces them)."""

    question: str
    context: str
    options: tuple[str, ...]
    gold: int


def audit(items: list[MCItem]) -> dict:
    """Every baseline's accuracy with its interval, chance, and which baselines are flagged."""
    if not items:
        return {"items": 0, "baselines": [], "flagged": []}
    chance = float(np.mean([1 / len(item.options) for item in items]))
    rows = []
    for name, credit in _baselines(items).items():
        if credit is None:
            rows.append({"baseline": name, "accuracy": None, "low": None, "high": None, "flagged": False,
                         "note": f"needs at least {MIN_ITEMS_FOR_CLASSIFIER} items"})
            continue
        low, high = bootstrap_interval(credit)
        flagged = low > chance + FLAG_MARGIN
        rows.append({"baseline": name, "accuracy": round(float(np.mean(credit)), 4), "low": round(low, 4),
                     "high": round(high, 4), "flagged": bool(flagged)})
    return {"items": len(items), "chance": round(chance, 4), "flag_margin": FLAG_MARGIN, "baselines": rows,
            "flagged": [row["baseline"] for row in rows if row["flagged"]]}


def _baselines(items: list[MCItem]) -> dict[str, np.ndarray | None]:
    """baseline -> per-item credit (1 right, 0 wrong, fractions for ties)."""
    lengths = [[len(WORD.findall(o)) for o in item.options] for item in items]
    return {
        "fixed position (most frequent gold position)": _fixed_position(items),
        "longest option": _pick(items, lengths, best=max),
        "shortest option": _pick(items, lengths, best=min),
        "most word overlap with the question": _pick(items, _overlaps(items, lambda i: i.question), best=max),
        "most word overlap with the context": _pick(items, _overlaps(items, lambda i: i.context), best=max),
        "option only (TF-IDF + logistic regression, 5-fold)": _option_only(items),
    }


def _fixed_position(items: list[MCItem]) -> np.ndarray:
    positions = max(len(item.options) for item in items)
    credits = [np.array([float(item.gold == p) for item in items]) for p in range(positions)]
    return max(credits, key=lambda c: c.mean())


def _pick(items: list[MCItem], scores: list[list[float]], *, best: Callable) -> np.ndarray:
    credit = []
    for item, values in zip(items, scores):
        top = best(values)
        tied = [i for i, v in enumerate(values) if v == top]
        credit.append(1 / len(tied) if item.gold in tied else 0.0)
    return np.array(credit)


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def _overlaps(items: list[MCItem], text_of: Callable[[MCItem], str]) -> list[list[float]]:
    return [[len(_words(option) & _words(text_of(item))) for option in item.options] for item in items]


def _option_only(items: list[MCItem]) -> np.ndarray | None:
    """Cross-validated by item: a fold's items are scored by a classifier trained on the others."""
    if len(items) < MIN_ITEMS_FOR_CLASSIFIER:
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    order = list(range(len(items)))
    random.Random(SEED).shuffle(order)
    order = order[:MAX_ITEMS_FOR_CLASSIFIER]
    folds = [order[k::FOLDS] for k in range(FOLDS)]
    credit = np.zeros(len(items))
    for held_out in folds:
        held = set(held_out)
        train = [items[i] for i in order if i not in held]
        texts = [o for item in train for o in item.options]
        labels = [int(j == item.gold) for item in train for j in range(len(item.options))]
        if len(set(labels)) < 2:
            continue
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        model = LogisticRegression(max_iter=1000, random_state=SEED)
        model.fit(vectorizer.fit_transform(texts), labels)
        for i in held_out:
            scores = model.decision_function(vectorizer.transform(items[i].options))
            credit[i] = _pick([items[i]], [list(scores)], best=max)[0]
    return credit[sorted(order)]  # the sampled items only (all of them below the cap)


def bootstrap_interval(credit: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> tuple[float, float]:
    """A percentile bootstrap 95% interval of the mean (the normal approximation beyond
    NORMAL_ABOVE items, where the two agree and the bootstrap would cost memory for nothing)."""
    credit = np.asarray(credit, dtype=float)
    if len(credit) > NORMAL_ABOVE:
        spread = 1.96 * credit.std(ddof=1) / np.sqrt(len(credit))
        return float(credit.mean() - spread), float(credit.mean() + spread)
    generator = np.random.default_rng(seed)
    means = np.concatenate([generator.choice(credit, size=(min(100, samples - done), len(credit))).mean(axis=1)
                            for done in range(0, samples, 100)])
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
