"""Timesteps: one (character, plot) unit per plot in which a target character takes part.

A character takes part in a plot when it is one of the plot's key characters AND speaks in the
plot's conversation (spec step 3: "a key character in the plot's conversation"). The scene layer's
cast also holds characters the extractor named because the plot talks about them (Cordelia, absent,
in a scene about her); questions about such a character's mind "in this plot" have no line of
theirs to rest on, so those plots are not their timesteps (they can still be another record's
earlier plot). Targets are characters taking part in at least `min_plots` plots, excluding generic,
collective and joint speaker labels ("First Servant", "All"). Each target keeps at most
`max_per_character` of its plots, spread evenly over its timeline, so a record budget covers a
character's arc rather than its first scenes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from builders.scenes import Plot
from builders.sources import Work

EXCLUDED_CATEGORIES = frozenset({"generic", "collective", "joint"})


@dataclass(frozen=True)
class Timestep:
    work: Work
    character_id: str
    plot: Plot
    earlier: tuple[Plot, ...]  # the character's earlier timesteps' plots, in order
    held_out: bool  # the work is out-of-distribution

    @property
    def character(self) -> str:
        return self.work.characters[self.character_id].name

    @property
    def key(self) -> str:
        return f"{self.work.id}|{self.character_id}|{self.plot.index}"


def select_timesteps(work: Work, plots: list[Plot], *, min_plots: int, max_per_character: int | None,
                     held_out: bool = False) -> dict[str, list[Timestep]]:
    """character id -> its timesteps in plot order, for every eligible character (ids sorted)."""
    appearances: dict[str, list[Plot]] = defaultdict(list)
    for plot in plots:
        for char_id in takes_part(plot):
            if _eligible(work, char_id):
                appearances[char_id].append(plot)
    timelines = {}
    for char_id in sorted(appearances):
        chosen = spread(appearances[char_id], max_per_character or len(appearances[char_id]))
        if len(appearances[char_id]) >= min_plots and chosen:
            timelines[char_id] = [Timestep(work, char_id, plot, tuple(chosen[:i]), held_out)
                                  for i, plot in enumerate(chosen)]
    return timelines


def takes_part(plot: Plot) -> list[str]:
    """The plot's key characters that speak in its conversation, in cast order."""
    speakers = {u.speaker_id for u in plot.conversation}
    return [char_id for char_id in dict.fromkeys(plot.character_ids()) if char_id in speakers]


def spread(items: list, k: int) -> list:
    """k items evenly spaced over the list, first and last included when k >= 2."""
    if k >= len(items):
        return list(items)
    if k <= 1:
        return items[:k]
    step = (len(items) - 1) / (k - 1)
    return [items[round(i * step)] for i in range(k)]


def _eligible(work: Work, char_id: str) -> bool:
    character = work.characters.get(char_id)
    return character is not None and character.category not in EXCLUDED_CATEGORIES


def interleave(timelines: list[list]) -> list:
    """Round-robin over the lists, so the first records of a build already span many characters."""
    out, position = [], 0
    while any(position < len(t) for t in timelines):
        out.extend(t[position] for t in timelines if position < len(t))
        position += 1
    return out
