"""Balanced gold positions: seeded shuffles of the option slots, dealt in blocks over a whole track.

Every block of `options` consecutive items of a track puts the gold in each slot once, so among the
first n items each slot holds the gold n/options times up to one, whatever n is. Independent draws
drift, and a model that favours one slot would gain from it (spec section 6, step 6).
"""

from __future__ import annotations

import random


class BalancedPositions:
    def __init__(self, seed: int, *, options: int = 4, track: str = ""):
        self._seed, self._options, self._track = seed, options, track
        self._block: list[int] = []
        self._blocks_dealt = 0

    def peek(self) -> int:
        """The 0-based option slot the next item's gold will take (not dealt until `next`)."""
        if not self._block:
            self._block = list(range(self._options))
            random.Random(f"personaeval-positions:{self._seed}:{self._track}:{self._blocks_dealt}").shuffle(self._block)
            self._blocks_dealt += 1
        return self._block[-1]

    def next(self) -> int:
        """Deal the next slot. An item that fails its checks is never dealt one, so drops keep the balance."""
        slot = self.peek()
        self._block.pop()
        return slot
