"""Distractors: the gold answers of other characters of the same work, re-framed, in closed blocks of four.

A question about character C at plot p in dimension d gets its three wrong options from the
accepted golds of dimension d in the same work, with the speaker's frame swapped for C's ("Kent
believes X" -> "Lear believes X"). They are in the story's own register, share the question's
frame by construction, and were written as true of someone, so they are plausible, which is what
the spec asks of distractors. Golds of later plots are never used (no information from later plots).

Why blocks. Every option of such a release is somebody's gold, and every gold is owned by exactly
one question, so the release itself says a lot about which option is whose. Measured on stand-in
builds whose questions each took three distractors from the pool on their own (same plot first,
then earlier plots): an option already shown at an earlier plot cannot be this plot's gold, which
alone answered 32% of the questions (chance 25%), and solving "each question owns one option, no
option is owned twice" over all questions of a plot answered 40%, without reading anything.

So at each plot and dimension the golds are grouped into blocks of four bodies, and every question
of a block shows exactly the block's four bodies (its own gold and the other three, re-framed). A
body is shown in one block only. Within a block every question has the same options, so who owns
which body cannot be told from where bodies appear: an attacker is left at one in four, however
many of the block's questions are released (a question rejected later, or cut at --n, leaves the
others as they were). A block holds up to four questions; a place no question takes is filled by a
spare: a gold never shown anywhere (the gold of a question that found no block, at this plot or an
earlier one; the question's own character's gives a wrong-time distractor). A question whose gold
finds no block is rejected with the reason; its gold stays a spare.

Kinds, per distractor: "other character" (another character's gold at the same plot), "earlier"
(this character's own gold at an earlier plot: tests tracking change), "other plot" (another
character's gold at an earlier plot).

A block stands only when its four bodies are distinct, of similar length (longest / shortest at
most `max_ratio`, the generator profile's litchartom.option_length_ratio), none is "all of the
above" or the like, and no two are the same words with a negation flipped (the gold would be
guessable by elimination). A question takes a block only when no other body of it names the
question's character (it would read "Lear believes Lear ...") nor names what the source mentions
only after the question's plot. Which golds go together is blocks.py's search.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, frame, words
from builders.litchartom.timesteps import Timestep

KINDS = ("other character", "earlier", "other plot")
BLOCK = 4  # bodies per block: the options of every question of the block
FORBIDDEN_OPTIONS = ("all of the above", "none of the above", "both a and b")
NEGATIONS = frozenset({"not", "never", "no", "doesnt", "dont", "isnt", "wont", "cannot", "cant"})


@dataclass(frozen=True)
class Gold:
    """An accepted gold answer: the pool entry distractors are drawn from."""

    step: Timestep
    draft: Draft

    @property
    def body(self) -> str:
        """The answer after its speaker's frame: what is re-framed for another character."""
        return self.draft.body(self.step.character)


@dataclass(frozen=True)
class Distractor:
    text: str  # re-framed for the question's character
    kind: str  # one of KINDS
    character: str  # whose gold it was
    plot_index: int  # the plot it was true of


@dataclass(frozen=True)
class Block:
    bodies: tuple[Gold, ...]  # the BLOCK golds every question of the block shows
    questions: tuple[Gold, ...]  # the golds among them whose questions take this block

    def distractors(self, gold: Gold) -> tuple[Distractor, ...]:
        """The three other bodies re-framed for `gold`'s question, in the block's order."""
        return tuple(Distractor(reframed(body, gold), kind_of(body, gold), body.step.character, body.step.plot.index)
                     for body in self.bodies if body is not gold)


def reframed(body: Gold, gold: Gold) -> str:
    return frame(gold.step.character, gold.draft.dimension) + body.body


def kind_of(body: Gold, gold: Gold) -> str:
    """How `body` relates to the question whose gold is `gold` (never a later plot: see question_problem)."""
    if body.step.plot.index == gold.step.plot.index:
        return "other character"
    return "earlier" if body.step.character_id == gold.step.character_id else "other plot"


def block_problem(bodies: list[Gold], max_ratio: float) -> str | None:
    """Why these bodies cannot be one block's options, or None."""
    for body in bodies:
        problem = body_problem(body)
        if problem:
            return problem
    lengths = [len(words(body.body)) for body in bodies]
    if max(lengths) / min(lengths) > max_ratio:
        return "lengths differ too much"
    return next((problem for a, b in combinations(bodies, 2) if (problem := pair_problem(a, b))), None)


def body_problem(body: Gold) -> str | None:
    """Why a body can be no option at all, or None."""
    if not words(body.body):
        return "empty"
    if any(phrase in body.body.lower() for phrase in FORBIDDEN_OPTIONS):
        return "'all/none of the above'"
    return None


def pair_problem(a: Gold, b: Gold) -> str | None:
    """Why two bodies cannot be options of one question, or None."""
    first, second = words(a.body), words(b.body)
    if first == second:
        return "two options are the same"
    if _negation_flip(first, second):
        return "an option is another with a negation flipped"
    return None


def question_problem(gold: Gold, bodies: list[Gold], leak_check: FutureLeakCheck) -> str | None:
    """Why `gold`'s question cannot take a block of `bodies` (its own among them), or None."""
    return next((problem for body in bodies if body is not gold
                 and (problem := option_problem(gold, body, leak_check))), None)


def option_problem(gold: Gold, body: Gold, leak_check: FutureLeakCheck) -> str | None:
    """Why `body`, re-framed, cannot stand beside `gold` in gold's question, or None."""
    step = gold.step
    if set(words(step.character)) & set(words(body.body)):
        return "an option names the question's character"
    if body.step.plot.index > step.plot.index or leak_check.leaks(reframed(body, gold), until=step.plot.span[1]):
        return "future leakage"
    return None


def _negation_flip(gold: list[str], other: list[str]) -> bool:
    """Equal once negation words are removed from both, but not equal as written."""
    def strip(items):
        return [w for w in items if w not in NEGATIONS]
    return gold != other and strip(gold) == strip(other)
