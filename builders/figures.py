"""A release's figures next to the original benchmark's published ones.

Each builder states, in `builders/<benchmark>/figures.py`, which statistics of the original release
it reproduces (lengths, counts, shares; the numbers come from ../shared/specs/<benchmark>.md and
are kept with the builder in `data/original.json`), and computes the same figure on its records.
The card prints them side by side, the strong-model bench and its CI test check the length
figures against the original (within `LENGTH_TOLERANCE`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

LENGTH_TOLERANCE = 0.20  # a length figure within 20% of the original's counts as reproduced


@dataclass(frozen=True)
class Figure:
    name: str  # e.g. "option words (mean)"
    value: float | None  # this release's figure (None: nothing to measure)
    original: float | None  # the original's figure (None: not published)
    original_text: str  # as the spec states it, e.g. "24.7 (range 8-48)"
    kind: str = "other"  # "length": checked against the original within LENGTH_TOLERANCE; "count", "share", "other"
    # When the original publishes only a range for a figure (e.g. "profiles of 150-400 words"),
    # `original` is None and the figure is checked against the range widened by LENGTH_TOLERANCE.
    original_range: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.original:
            return None
        return self.value / self.original

    @property
    def within_tolerance(self) -> bool | None:
        """For length figures: within LENGTH_TOLERANCE of the original, or of its published range
        (None for other kinds, or when there is nothing to compare)."""
        if self.kind != "length" or self.value is None:
            return None
        if self.original_range is not None:
            low, high = self.original_range
            return low * (1 - LENGTH_TOLERANCE) <= self.value <= high * (1 + LENGTH_TOLERANCE)
        if self.ratio is None:
            return None
        return abs(self.ratio - 1) <= LENGTH_TOLERANCE

    def as_dict(self) -> dict:
        body = asdict(self)
        body["original_range"] = None if self.original_range is None else list(self.original_range)
        return {**body, "within_tolerance": self.within_tolerance}


def load_original(folder: Path) -> dict:
    """A builder's `data/original.json`: the original release's published figures, with sources."""
    return json.loads((folder / "data" / "original.json").read_text())


def words(text: str) -> int:
    return len(text.split())


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 2) if values else None


def share(flags: Iterable[bool]) -> float | None:
    flags = list(flags)
    return round(sum(flags) / len(flags), 4) if flags else None
