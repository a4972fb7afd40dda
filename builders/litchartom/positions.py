"""Balanced gold letters: every block of four items in a stream puts the gold once at A, B, C, D.

Streams are independent (one per record kind and dimension), so each dimension of each file is
balanced to within one item per letter, whatever order the model wrote its options in: the
options are re-lettered here, never taken in the model's order.
"""

from __future__ import annotations

import random

LETTERS = "ABCD"


class BalancedLetters:
    def __init__(self, seed: int):
        self._seed = seed
        self._blocks: dict[str, list[int]] = {}
        self._dealt: dict[str, int] = {}

    def next(self, stream: str) -> int:
        """The gold position (0-3) of the next item of `stream`."""
        block = self._blocks.setdefault(stream, [])
        if not block:
            block.extend(range(4))
            dealt = self._dealt.get(stream, 0)
            random.Random(f"litchartom-letters:{self._seed}:{stream}:{dealt}").shuffle(block)
            self._dealt[stream] = dealt + 1
        return block.pop()


def place_gold(options: tuple[str, ...], gold_position: int) -> list[tuple[str, int]]:
    """(option text, index in `options`) in released order: the gold (options[0]) at
    `gold_position`, the distractors in their own order around it."""
    distractors = [(text, i) for i, text in enumerate(options) if i != 0]
    ordered = distractors[:gold_position] + [(options[0], 0)] + distractors[gold_position:]
    return ordered


def lettered(texts: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {text}" for i, text in enumerate(texts)]
