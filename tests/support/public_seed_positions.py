"""The gold-position dealer the builders used before answer keys came from a private salt
(builders/answer_key.py). No builder uses it any more; the secrecy tests keep it as the attacker's
tool: from the public seed alone it recomputes every position an old release dealt.

Positions are dealt from seeded shuffles of the option slots, one block of `options` slots at a
time, instead of independent draws. Every block puts the gold in each slot once, so among the
first n items of a stream each slot holds the gold n/options times up to one, whatever n is.
Independent draws drift (the original ToMATO FB file has 195/203/201/207), and a model that
favours one slot would gain from it.

A builder may keep independent streams (one per track, dimension, record kind...): each stream is
balanced on its own, whatever order the streams are drawn in. `peek` shows the next slot without
dealing it, so an item that is built around its slot and then dropped does not use one up.
"""

from __future__ import annotations

import random


class BalancedPositions:
    """Seeded, balanced 0-based gold positions; `namespace` keeps builders' sequences apart."""

    def __init__(self, seed: int, *, namespace: str, options: int = 4):
        if options < 2:
            raise ValueError(f"options must be 2 or more to balance a gold position, got {options}.")
        self._seed, self._namespace, self._options = seed, namespace, options
        self._blocks: dict[str | None, list[int]] = {}
        self._blocks_dealt: dict[str | None, int] = {}

    def peek(self, stream: str | None = None) -> int:
        """The slot the next item of `stream` will get; not dealt until `next`."""
        block = self._blocks.setdefault(stream, [])
        if not block:
            block.extend(self._shuffled_block(stream))
        return block[-1]

    def next(self, stream: str | None = None) -> int:
        """Deal the next slot of `stream`."""
        slot = self.peek(stream)
        self._blocks[stream].pop()
        return slot

    def _shuffled_block(self, stream: str | None) -> list[int]:
        dealt = self._blocks_dealt.get(stream, 0)
        self._blocks_dealt[stream] = dealt + 1
        # The default stream has no key part, so a single-stream builder's sequence does not
        # depend on how streams are named.
        parts = [self._namespace, self._seed] + ([] if stream is None else [stream]) + [dealt]
        block = list(range(self._options))
        random.Random(":".join(str(part) for part in parts)).shuffle(block)
        return block
