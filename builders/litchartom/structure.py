"""Shortcuts through the release's structure: finding a gold from where option texts appear
across the release, without reading any question.

Every LitCharToM option is somebody's gold, re-framed (distractors.py), so the release holds a
shortcut the per-question audit (builders/audit.py) cannot see. Two baselines measure it:

- "option seen at an earlier plot ruled out": an option text (after its "<character> believes"
  frame) already shown in a question of an earlier plot of the same book and dimension cannot be
  this plot's gold (a gold is written at its own plot); a random pick among the other options
  scores 1 / their number.
- "each question owns one option": within a book, dimension and plot, every question owns one of
  its option texts not seen earlier, and no text is owned twice. Over every such assignment, pick
  the option owned most often (a tie splits the credit). Questions linked by shared texts are
  solved together; a group with more than MAX_ASSIGNMENTS assignments falls back to the first
  baseline.

Both need only the released text. Distractors dealt in closed blocks keep both at chance; before,
stand-in builds measured 32% and 40% against a chance of 25%.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import product

import numpy as np

from builders.audit import FLAG_MARGIN, bootstrap_interval
from builders.litchartom.figures import mcq_items
from builders.litchartom.records import LETTERS, WRAPPER_KEY
from builders.litchartom.vocab import DIMENSION_BY_LABEL

MAX_ASSIGNMENTS = 100_000
EARLIER = "option seen at an earlier plot ruled out (release structure)"
OWNED = "each question owns one option (release structure)"


def questions(records: list[dict]) -> list[dict]:
    """Every question: its book, dimension, plot, option texts after their frame, and gold index."""
    found = []
    for record in records:
        plot = record["plot_index"] if record.get("plot_index") is not None else record["plot_id"]
        labels = ([record["qa_type"]] if record["record_type"] == "ood" else
                  [next(label for label, body in item.items() if body is not None)
                   for item in record["qa_data"][WRAPPER_KEY]])
        for label, item in zip(labels, mcq_items(record)):
            frame = f"{record['character']} {DIMENSION_BY_LABEL[label].option_verb} "
            found.append({"group": (record["book_name"], label, plot), "plot": plot,
                          "texts": [option.removeprefix(frame) for option in item["options"]],
                          "gold": LETTERS.index(item["correct"])})
    return found


def baselines(records: list[dict]) -> list[dict]:
    """The two rows, in builders.audit.audit's shape (chance: one in four)."""
    items = questions(records)
    if not items:
        return []
    candidates = _not_seen_earlier(items)
    earlier = np.array([_credit(item["gold"], options) for item, options in zip(items, candidates)])
    owned = np.array(_owned_credit(items, candidates))
    return [_row(EARLIER, earlier, 1 / len(LETTERS)), _row(OWNED, owned, 1 / len(LETTERS))]


def _not_seen_earlier(items: list[dict]) -> list[list[int]]:
    """Per question, the options whose text no earlier plot of its book and dimension shows."""
    first: dict[tuple, int] = {}
    for item in items:
        book, label, _ = item["group"]
        for text in item["texts"]:
            key = (book, label, text)
            first[key] = min(first.get(key, item["plot"]), item["plot"])
    return [[i for i, text in enumerate(item["texts"])
             if first[(item["group"][0], item["group"][1], text)] >= item["plot"]] for item in items]


def _credit(gold: int, chosen: list[int]) -> float:
    return 1 / len(chosen) if gold in chosen else 0.0


def _owned_credit(items: list[dict], candidates: list[list[int]]) -> list[float]:
    credit = [0.0] * len(items)
    for component in _components(items, candidates):
        counts = _ownership_counts(component, items, candidates)
        for index in component:
            if counts is None or not counts[index]:
                credit[index] = _credit(items[index]["gold"], candidates[index])
                continue
            top = max(counts[index].values())
            credit[index] = _credit(items[index]["gold"], [i for i, n in counts[index].items() if n == top])
    return credit


def _components(items: list[dict], candidates: list[list[int]]) -> list[list[int]]:
    """Questions of one book, dimension and plot linked by a shared candidate text."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item["group"]].append(index)
    found = []
    for members in groups.values():
        seen: set[int] = set()
        for start in members:
            if start in seen:
                continue
            component, frontier = [], [start]
            seen.add(start)
            while frontier:
                index = frontier.pop()
                component.append(index)
                texts = {items[index]["texts"][i] for i in candidates[index]}
                for other in members:
                    if other not in seen and texts & {items[other]["texts"][i] for i in candidates[other]}:
                        seen.add(other)
                        frontier.append(other)
            found.append(sorted(component))
    return found


def _ownership_counts(component: list[int], items: list[dict], candidates: list[list[int]]):
    """question -> option -> in how many assignments it owns that option; None when too many."""
    total = 1
    for index in component:
        total *= max(1, len(candidates[index]))
    if total > MAX_ASSIGNMENTS:
        return None
    counts = {index: defaultdict(int) for index in component}
    for choice in product(*(candidates[index] for index in component)):
        texts = [items[index]["texts"][option] for index, option in zip(component, choice)]
        if len(set(texts)) == len(texts):
            for index, option in zip(component, choice):
                counts[index][option] += 1
    return counts


def _row(name: str, credit: np.ndarray, chance: float) -> dict:
    low, high = bootstrap_interval(credit)
    flagged = low > chance + FLAG_MARGIN
    return {"baseline": name, "accuracy": round(float(np.mean(credit)), 4), "low": round(low, 4),
            "high": round(high, 4), "flagged": bool(flagged)}
