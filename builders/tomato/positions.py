"""Balanced answer positions: `a_idx` comes from seeded shuffles of (0, 1, 2, 3), not independent draws.

Every block of four consecutive items uses each position once, so among the first n items each
position occurs n/4 times up to one, whatever n is. Independent draws drift (the original FB file has
195/203/201/207), and a model that favours one letter would gain from it.
"""

from __future__ import annotations

import random


class BalancedPositions:
    def __init__(self, seed: int):
        self._seed = seed
        self._block: list[int] = []
        self._blocks_dealt = 0

    def next(self) -> int:
        if not self._block:
            self._block = [0, 1, 2, 3]
            random.Random(f"tomato-positions:{self._seed}:{self._blocks_dealt}").shuffle(self._block)
            self._blocks_dealt += 1
        return self._block.pop()
