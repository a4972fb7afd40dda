"""A shortcut audit for a label benchmark: can an item's label be predicted without judging the item?

builders/audit.py audits multiple-choice questions. A benchmark whose items carry a label instead
(a moral level, a category) is open to the same failure in another form: if something the build
fixed on the side (where an item came from, which book, a templated line) tells the label, per-label
scores measure that side channel as much as the label. Each baseline here predicts the label from
one cue alone and scores against the released label:

- majority: always the commonest label (its accuracy is the chance level every other row is read
  against);
- a categorical cue (e.g. origin, book): the label whose training items most often carry the item's
  value, each label's count taken relative to its number of training items (any label for a value
  never seen), ties splitting the credit;
- a text cue (e.g. a profile, an opening line): TF-IDF + logistic regression over that text alone,
  classes weighted to balance.

Learned baselines are cross-validated (stratified folds, seeded), so an item is always predicted by
a model that never saw it. Both learners weigh labels by their training size because holding items
out leaves their own label under-represented in training: a learner following the training
majority would then be wrong on them by construction, and an uninformative cue would score below
chance instead of at it. Every accuracy has a bootstrap 95% interval (builders.audit's), and a
baseline whose whole interval lies above chance + FLAG_MARGIN is flagged. The report has the shape
of builders.audit.audit's, so the card and the build summary render it the same way.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from builders.audit import FLAG_MARGIN, FOLDS, SEED, bootstrap_interval

MIN_ITEMS_TO_LEARN = 2 * FOLDS  # below this a fold holds fewer than two items: learned baselines are not run


@dataclass(frozen=True)
class Cue:
    """One thing a baseline may look at: `values[i]` is item i's category or text."""

    name: str  # the baseline's name in the report, e.g. "origin -> level"
    kind: str  # "category" | "text"
    values: Sequence[str]


def audit_labels(labels: Sequence[Hashable], cues: Sequence[Cue], *, majority_name: str = "majority label",
                 unit: str = "items") -> dict:
    """Every baseline's accuracy with its interval, chance, and which baselines are flagged."""
    labels = list(labels)
    if not labels:
        return {"items": 0, "unit": unit, "baselines": [], "flagged": []}
    majority_credit = np.full(len(labels), Counter(labels).most_common(1)[0][1] / len(labels))
    chance = float(majority_credit[0])
    folds = stratified_folds(labels)
    rows = [_row(majority_name, majority_credit, chance)]
    for cue in cues:
        if len(cue.values) != len(labels):
            raise ValueError(f"cue {cue.name!r} has {len(cue.values)} values for {len(labels)} labels")
        if folds is None:
            rows.append({"baseline": cue.name, "accuracy": None, "low": None, "high": None, "flagged": False,
                         "note": f"needs at least {MIN_ITEMS_TO_LEARN} items"})
            continue
        learn = _category_credit if cue.kind == "category" else _text_credit
        rows.append(_row(cue.name, learn(labels, list(cue.values), folds), chance))
    return {"items": len(labels), "unit": unit, "chance": round(chance, 4), "flag_margin": FLAG_MARGIN,
            "baselines": rows, "flagged": [row["baseline"] for row in rows if row["flagged"]]}


def _row(name: str, credit: np.ndarray, chance: float) -> dict:
    low, high = bootstrap_interval(credit)
    return {"baseline": name, "accuracy": round(float(np.mean(credit)), 4), "low": round(low, 4),
            "high": round(high, 4), "flagged": bool(low > chance + FLAG_MARGIN)}


def stratified_folds(labels: list[Hashable]) -> list[list[int]] | None:
    """FOLDS held-out index lists; each label's items (in a seeded order) dealt over the folds in
    turn, so every fold sees every label about equally. None when there are too few items."""
    if len(labels) < MIN_ITEMS_TO_LEARN:
        return None
    folds: list[list[int]] = [[] for _ in range(FOLDS)]
    position = 0
    for label in sorted(set(labels), key=repr):
        members = [i for i, value in enumerate(labels) if value == label]
        random.Random(f"{SEED}:{label!r}").shuffle(members)
        for index in members:
            folds[position % FOLDS].append(index)
            position += 1
    return [sorted(fold) for fold in folds]


def _category_credit(labels: list, values: list[str], folds: list[list[int]]) -> np.ndarray:
    """The label whose training items most often have the item's value (a share of the label's
    training items); a tie between labels gives each tied label its share of the credit."""
    credit = np.zeros(len(labels))
    for held_out in folds:
        held = set(held_out)
        train = [i for i in range(len(labels)) if i not in held]
        sizes = Counter(labels[i] for i in train)
        with_value = Counter((values[i], labels[i]) for i in train)
        for i in held_out:
            shares = {label: with_value[(values[i], label)] / size for label, size in sizes.items()}
            top = max(shares.values())
            tied = [label for label, value in shares.items() if value == top]
            credit[i] = 1 / len(tied) if labels[i] in tied else 0.0
    return credit


def _text_credit(labels: list, texts: list[str], folds: list[list[int]]) -> np.ndarray:
    """TF-IDF (words and word pairs) + logistic regression over the cue's text alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    names = sorted(set(labels), key=repr)
    codes = np.array([names.index(label) for label in labels])
    credit = np.zeros(len(labels))
    for held_out in folds:
        held = set(held_out)
        train = [i for i in range(len(labels)) if i not in held]
        if len(set(codes[train])) < 2:  # one label in training: that label is the prediction
            credit[held_out] = (codes[held_out] == codes[train[0]]).astype(float)
            continue
        # an empty vocabulary (no text at all) predicts nothing better than the training majority
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        try:
            features = vectorizer.fit_transform([texts[i] for i in train])
        except ValueError:
            majority = Counter(codes[train]).most_common(1)[0][0]
            credit[held_out] = (codes[held_out] == majority).astype(float)
            continue
        model = LogisticRegression(max_iter=1000, random_state=SEED, class_weight="balanced")
        model.fit(features, codes[train])
        predicted = model.predict(vectorizer.transform([texts[i] for i in held_out]))
        credit[held_out] = (predicted == codes[held_out]).astype(float)
    return credit
