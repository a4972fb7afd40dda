"""Distractors: the gold answers of other characters and other plots of the same work, re-framed.

A question about character C at plot p in dimension d gets its three wrong options from the
accepted golds of dimension d in the same work (C's own gold at p excluded), with the speaker's
frame swapped for C's ("Kent believes X" -> "Lear believes X"). They are in the story's own
register and share the question's frame by construction, and they were written as true of
someone, so they are plausible, which is what the spec asks of distractors. Golds of later plots
are never used (no information from later plots). Preference order:
  1. "other character": another character's gold at the same plot (true of someone else here);
  2. "earlier": C's own gold at an earlier plot (true of C before: tests tracking change);
  3. "other plot": another character's gold at an earlier plot.
Within a class the order is a seeded shuffle of the question key. After a blind-check miss the
distractor the checker picked is excluded (it may be true of C as well), so the next set differs.
A candidate joins only when the options stay distinct, of similar length (at most `max_ratio`
apart: the generator profile's litchartom.option_length_ratio), without "all of the above", no distractor is the gold with a negation flipped, none names C (it would read "Lear
believes Lear ..."), and none names what the source mentions only after plot p (golds of plots up
to p passed that check already; it is repeated so that the rule does not rest on the pool's order).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, frame, words
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension

KINDS = ("other character", "earlier", "other plot")
FORBIDDEN_OPTIONS = ("all of the above", "none of the above", "both a and b")
NEGATIONS = frozenset({"not", "never", "no", "doesnt", "dont", "isnt", "wont", "cannot", "cant"})


@dataclass(frozen=True)
class Gold:
    """An accepted gold answer: the pool entry distractors are drawn from."""

    step: Timestep
    draft: Draft


@dataclass(frozen=True)
class Distractor:
    text: str  # re-framed for the question's character
    kind: str  # one of KINDS
    character: str  # whose gold it was
    plot_index: int  # the plot it was true of


def kind_of(candidate: Gold, gold: Gold) -> str | None:
    """How `candidate` relates to the question's gold, or None when it cannot be a distractor (the
    gold itself, or a gold of a later plot)."""
    here, there = gold.step, candidate.step
    same_character = there.character_id == here.character_id
    if there.plot.index > here.plot.index or (same_character and there.plot.index == here.plot.index):
        return None
    if there.plot.index == here.plot.index:
        return "other character"
    return "earlier" if same_character else "other plot"


def choose(gold: Gold, pool: list[Gold], leak_check: FutureLeakCheck, *, key: str, max_ratio: float,
           exclude: frozenset[str] = frozenset()) -> tuple[Distractor, ...] | str:
    """Three distractors for `gold` (see the module doc), none of whose texts is in `exclude`, or
    why there are not three."""
    step = gold.step
    seed = int.from_bytes(hashlib.sha256(f"distractors:{key}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    by_kind: dict[str, list[Gold]] = {kind: [] for kind in KINDS}
    for candidate in pool:
        kind = kind_of(candidate, gold)
        if kind is not None and candidate.draft.dimension == gold.draft.dimension:
            by_kind[kind].append(candidate)
    chosen: list[Distractor] = []
    options = [gold.draft.answer]
    refused: dict[str, int] = {}
    for kind in KINDS:
        candidates = by_kind[kind]
        rng.shuffle(candidates)
        for candidate in candidates:
            text = frame(step.character, gold.draft.dimension) + candidate.draft.body(candidate.step.character)
            if text in exclude:
                refused["picked by the checker earlier"] = refused.get("picked by the checker earlier", 0) + 1
                continue
            problem = option_problem(text, options, step, gold.draft.dimension, leak_check, max_ratio=max_ratio)
            if problem:
                refused[problem] = refused.get(problem, 0) + 1
                continue
            chosen.append(Distractor(text, kind, candidate.step.character, candidate.step.plot.index))
            options.append(text)
            if len(chosen) == 3:
                return tuple(chosen)
    why = "; ".join(f"{reason} ({count})" for reason, count in sorted(refused.items()))
    return (f"only {len(chosen)} usable distractors among the work's {gold.draft.dimension.name} golds"
            + (f"; refused: {why}" if why else ""))


def option_problem(text: str, options: list[str], step: Timestep, dimension: Dimension,
                   leak_check: FutureLeakCheck, *, max_ratio: float) -> str | None:
    """Why `text` cannot join `options` (gold first) as a distractor, or None. Lengths are words
    after the frame, longest / shortest at most `max_ratio`."""
    start = frame(step.character, dimension)
    body = words(text[len(start):])
    if not body:
        return "empty"
    if any(phrase in text.lower() for phrase in FORBIDDEN_OPTIONS):
        return "'all/none of the above'"
    bodies = [words(option[len(start):]) for option in options]
    if any(body == other for other in bodies):
        return "same as another option"
    lengths = [len(b) for b in bodies] + [len(body)]
    if max(lengths) / min(lengths) > max_ratio:
        return "length differs too much"
    if _negation_flip(bodies[0], body):
        return "the gold with a negation flipped"
    if set(words(step.character)) & set(body):
        return "names the question's character"
    if leak_check.leaks(text, until=step.plot.span[1]):
        return "future leakage"
    return None


def _negation_flip(gold: list[str], other: list[str]) -> bool:
    """Equal once negation words are removed from both, but not equal as written."""
    def strip(items):
        return [w for w in items if w not in NEGATIONS]
    return gold != other and strip(gold) == strip(other)
