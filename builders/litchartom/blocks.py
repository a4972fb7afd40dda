"""Grouping one plot's golds into closed blocks of four (distractors.py says why blocks).

Two searches, both greedy and deterministic (candidates in a fixed order; ties go to the earlier):

- `per_dimension`, for OOD works, whose records hold one question each: in each dimension on its
  own, the block giving the most questions is taken first, then the next, from the plot's golds and
  the spares (golds never shown) of earlier plots.
- `by_character`, for ID works, whose records need all four questions of a character-timestep:
  a character gets a question in every dimension or in none. Starting from every character with
  four golds, each dimension's golds are searched for blocks giving each of them its question
  (depth first, blocks with more questions first); while some dimension has none, the character
  whose absence lets the most dimensions through is left out (its golds then fill blocks, or stay
  spares). Each search gives up after MAX_TRIES blocks tried.

A block short of four questions takes fillers: golds of the plot left without a question, then the
spares of earlier plots, the most recent MAX_SPARES of the dimension (this bounds the search). Every
gold that gets no question has a reason in `Blocks.left`; the caller turns the golds left unshown
into spares for later plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from builders.litchartom.distractors import (
    BLOCK,
    Block,
    Gold,
    block_problem,
    option_problem,
)
from builders.litchartom.leakage import FutureLeakCheck

MAX_SPARES = 16
MAX_TRIES = 20_000  # blocks tried per dimension and set of characters before the search gives up on it
NO_BLOCK = (f"no block of {BLOCK} compatible golds at its plot (with the spares of earlier plots): distinct, of "
            "similar length, no negation flipped, naming neither its character nor what comes later")
NAMED = "its gold is shown in a block where another option names its character or what the source mentions later"
INCOMPLETE = "its character has no accepted gold in every dimension (an ID record needs all four questions)"
DROPPED_SHOWN = (f"its character found no blocks of {BLOCK} in every dimension (an ID record needs all four "
                 "questions); its gold is shown only as another question's distractor")


@dataclass
class Blocks:
    """One plot's blocks in one dimension, and why each other gold of the plot got no question."""

    blocks: list[Block] = field(default_factory=list)
    left: dict[int, str] = field(default_factory=dict)  # id(gold) -> reason, for golds of the plot without a block

    def block_of(self, gold: Gold) -> Block | None:
        return next((block for block in self.blocks if any(q is gold for q in block.questions)), None)

    def shown(self) -> set[int]:
        return {id(body) for block in self.blocks for body in block.bodies}


class Compatibility:
    """The distractors.py checks, each pair computed once per plot (the searches ask many times)."""

    def __init__(self, leak_check: FutureLeakCheck, max_ratio: float):
        self._leak_check, self._max_ratio = leak_check, max_ratio
        self._blocks: dict[tuple[int, ...], bool] = {}
        self._options: dict[tuple[int, int], bool] = {}

    def block_ok(self, bodies: list[Gold]) -> bool:
        key = tuple(sorted(id(body) for body in bodies))
        if key not in self._blocks:
            self._blocks[key] = block_problem(bodies, self._max_ratio) is None
        return self._blocks[key]

    def takes(self, gold: Gold, bodies: list[Gold]) -> bool:
        """Whether `gold`'s question can show these bodies (its own among them)."""
        return all(self._option_ok(gold, body) for body in bodies if body is not gold)

    def _option_ok(self, gold: Gold, body: Gold) -> bool:
        key = (id(gold), id(body))
        if key not in self._options:
            self._options[key] = option_problem(gold, body, self._leak_check) is None
        return self._options[key]


def per_dimension(golds: list[Gold], spares: list[Gold], check: Compatibility) -> Blocks:
    """Blocks for one plot and dimension (see the module doc)."""
    candidates = [*golds, *spares[-MAX_SPARES:]]
    own = {id(gold) for gold in golds}
    result, free = Blocks(), list(range(len(candidates)))
    while True:
        best, best_score = None, None
        for members in combinations(free, BLOCK):
            bodies = [candidates[i] for i in members]
            if not any(id(body) in own for body in bodies) or not check.block_ok(bodies):
                continue
            takers = tuple(body for body in bodies if id(body) in own and check.takes(body, bodies))
            score = (len(takers), sum(id(body) in own for body in bodies))
            if takers and (best_score is None or score > best_score):
                best, best_score = (members, Block(tuple(bodies), takers)), score
        if best is None:
            break
        result.blocks.append(best[1])
        free = [i for i in free if i not in best[0]]
    _explain(result, golds, NO_BLOCK)
    return result


def by_character(golds: dict[str, list[Gold]], spares: dict[str, list[Gold]],
                 check: Compatibility) -> dict[str, Blocks]:
    """Blocks for one plot of an ID work, every dimension at once (see the module doc).
    `golds` and `spares`: dimension name -> golds, in a fixed order."""
    gold_of = {(gold.step.character_id, name): gold for name, found in golds.items() for gold in found}
    everywhere = [character for character in dict.fromkeys(c for c, _ in gold_of)
                  if all((character, name) in gold_of for name in golds)]
    chosen, plans = list(everywhere), {}
    while chosen:
        plans = {name: _cover(chosen, golds[name], spares[name], check) for name in golds}
        if all(plan is not None for plan in plans.values()):
            break
        chosen = _drop_one(chosen, plans, golds, spares, check)
    result = {name: Blocks() for name in golds}
    for name, found in golds.items():
        if chosen:
            result[name].blocks = [Block(bodies, questions) for bodies, questions in plans[name]]
        shown = result[name].shown()
        for gold in found:
            character = gold.step.character_id
            if character not in everywhere:
                result[name].left[id(gold)] = INCOMPLETE
            elif character not in chosen:
                result[name].left[id(gold)] = DROPPED_SHOWN if id(gold) in shown else NO_BLOCK
    return result


def _cover(chosen: list[str], golds: list[Gold], spares: list[Gold],
           check: Compatibility) -> list[tuple[tuple[Gold, ...], tuple[Gold, ...]]] | None:
    """Blocks (bodies, questions) in one dimension giving every chosen character its question, the
    other golds of the plot and the recent spares filling them; None when the search finds none."""
    members = [gold for gold in golds if gold.step.character_id in chosen]
    pool = [*(gold for gold in golds if gold.step.character_id not in chosen), *spares[-MAX_SPARES:]]
    budget = [MAX_TRIES]

    def search(rest: list[Gold], free: list[Gold]):
        if not rest:
            return []
        first, others = rest[0], rest[1:]
        for size in range(min(BLOCK - 1, len(others)), -1, -1):  # more questions per block: fewer fillers
            for mates in combinations(others, size):
                for fill in combinations(free, BLOCK - 1 - size):
                    budget[0] -= 1
                    if budget[0] < 0:
                        return None
                    bodies = [first, *mates, *fill]
                    if not check.block_ok(bodies) or not all(check.takes(m, bodies) for m in (first, *mates)):
                        continue
                    tail = search([o for o in others if all(o is not m for m in mates)],
                                  [f for f in free if all(f is not used for used in fill)])
                    if tail is not None:
                        return [(tuple(bodies), (first, *mates)), *tail]
        return None

    return search(members, pool)


def _drop_one(chosen: list[str], plans: dict, golds: dict[str, list[Gold]], spares: dict[str, list[Gold]],
              check: Compatibility) -> list[str]:
    """`chosen` without the character whose absence lets the most dimensions be covered (the later
    one on a tie)."""
    failing = [name for name, plan in plans.items() if plan is None]
    best, best_covered = None, -1
    for character in reversed(chosen):
        rest = [c for c in chosen if c != character]
        covered = sum(_cover(rest, golds[name], spares[name], check) is not None for name in failing) if rest else 0
        if covered > best_covered:
            best, best_covered = rest, covered
    return best


def _explain(blocks: Blocks, golds: list[Gold], reason: str) -> None:
    """Every gold with neither a question nor a reason yet gets `reason`."""
    shown = blocks.shown()
    for gold in golds:
        if blocks.block_of(gold) is None and id(gold) not in blocks.left:
            blocks.left[id(gold)] = NAMED if id(gold) in shown else reason
