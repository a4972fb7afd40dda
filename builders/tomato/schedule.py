"""Which conversations a build runs, in which order, and how many questions each one gives.

A conversation yields up to 14 questions, and the original ran five conversations per combo (one
per mental state). Walking one combo's five states before the next, and keeping all 14 questions,
would make a small build one scenario and one pair of characters. So:

- Jobs are dealt round-robin. Combos come in cycles of COMBOS_PER_CYCLE (the original's 160);
  within a cycle, pass p runs every combo once, combo i in mental state (i + p) mod 5. The first
  160 conversations are 160 combos (each its own pair of characters, scenarios in turn, Big Five
  patterns in turn) with the mental states rotating; after five passes every (combo, state) of the
  cycle has run once, as in the original.
- A build of --n questions keeps at most `question_cap(n)` from one conversation: enough that a
  build of n >= MIN_CAP * SPREAD questions spans at least SPREAD conversations, and never fewer than
  MIN_CAP, which keeps a small build's cost near what it was (the quick start's --n 20 runs 5
  conversations where it ran 2 of 14 questions each). The kept ones alternate first- and
  second-order candidates in a seeded order, so both orders and u_ids across the conversation stay;
  the others are returned to be reported.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Iterator, Sequence

from builders.tomato.catalog import Combo, iter_combos
from builders.tomato.seeds import load_seeds
from builders.tomato.vocab import MENTAL_STATES

COMBOS_PER_CYCLE = 160  # the original's combos (spec §2: 160 combos x 5 mental states)
QUESTIONS_PER_CONVERSATION = 14  # one per generated message at 7 exchanges
SPREAD = 10  # conversations a build of n >= MIN_CAP * SPREAD questions spans at least
MIN_CAP = 5
# The first round runs at most this many conversations: what they yield (the form checks and judges
# keep from 40% to 90% of the questions, depending on the models) sizes the next round, so a build
# does not pay for many conversations whose questions end up cut at --n.
FIRST_ROUND = 8
TOP_UP = 0.1  # once --n records were yielded, a round replaces at most this share of n (see still_missing)


def iter_jobs(seed: int) -> Iterator[tuple[Combo, str]]:
    """An endless, deterministic stream of (combo, mental state) jobs, dealt round-robin."""
    combos = iter_combos(seed, load_seeds())
    while True:
        cycle = list(itertools.islice(combos, COMBOS_PER_CYCLE))
        for rotation in range(len(MENTAL_STATES)):
            for index, combo in enumerate(cycle):
                yield combo, MENTAL_STATES[(index + rotation) % len(MENTAL_STATES)]


def question_cap(n: int) -> int:
    """Questions one conversation may give a build of n."""
    return min(QUESTIONS_PER_CONVERSATION, max(MIN_CAP, n // SPREAD))


def within_cap(candidates: Sequence, cap: int, *, seed: int, key: str) -> tuple[list, list]:
    """(kept, over the cap), each in u_id order. Candidates have `u_id` and `order`."""
    if len(candidates) <= cap:
        return list(candidates), []
    rng = random.Random(f"tomato-cap:{seed}:{key}")
    by_order = {order: [c.u_id for c in candidates if c.order == order] for order in (1, 2)}
    for u_ids in by_order.values():
        rng.shuffle(u_ids)
    first, second = (1, 2) if rng.random() < 0.5 else (2, 1)
    alternating = [u_id for pair in itertools.zip_longest(by_order[first], by_order[second]) for u_id in pair
                   if u_id is not None]
    chosen = set(alternating[:cap])
    return [c for c in candidates if c.u_id in chosen], [c for c in candidates if c.u_id not in chosen]


def still_missing(n: int, yielded: int, needed: int) -> int:
    """Records the next round is for: the rest of n while fewer were yielded; after that, those that
    validation and dedup removed. The pipeline counts what it kept only once n records are valid, so
    until then `needed` is all of n: a top-up replaces at most TOP_UP of n at a time."""
    if yielded < n:
        return n - yielded
    return min(needed, max(1, math.ceil(TOP_UP * n)))


def round_size(missing: int, per_conversation: float, *, first: bool) -> int:
    """Conversations to start next: enough for the `missing` records at the yield seen so far (at
    most FIRST_ROUND before any came back)."""
    size = max(1, math.ceil(missing / per_conversation))
    return min(size, FIRST_ROUND) if first else size
