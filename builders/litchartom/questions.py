"""Question drafts: one call per (timestep, dimension) writes the question, the gold answer, three
typed distractors and the reasoning; program checks decide whether the draft is usable.

The schema fixes the frame: the question starts "What does <character> believe ..." (per
dimension, vocab.DIMENSIONS) and every option starts "<character> believes ...", so the four
options share one grammatical frame by construction, even from a small model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from builders.litchartom.context import excerpt, others_in_scene
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension
from builders.litchartom.wording import SourceVocabulary
from builders.llm import ChatRequest
from builders.prompts import render, template_hash
from builders.sources.aliases import name_key

TEMPLATE = "litchartom/question.j2"
STEP = "litchartom.question"
# One plain word (a name, a possessive, a word followed by a comma): the grammar cannot emit markup,
# digits or an empty answer, which a 135M model otherwise does.
WORD = "[A-Za-z][a-z']{0,15},?"
OPTION_WORDS = (4, 8)  # words after the frame; 8 / 4 keeps every draft within MAX_LENGTH_RATIO by construction
MAX_LENGTH_RATIO = 2.0  # longest option / shortest option, in words
FORBIDDEN_OPTIONS = ("all of the above", "none of the above", "both a and b")
NEGATIONS = frozenset({"not", "never", "no", "doesn't", "don't", "isn't", "won't", "cannot", "can't"})
# distractor slot -> what it is asked to be (stored in provenance as the distractor type)
DISTRACTOR_SLOTS = ("wrong_1", "wrong_2", "wrong_3")


@dataclass(frozen=True)
class Draft:
    dimension: Dimension
    scenario: str
    question: str
    answer: str
    distractors: tuple[str, str, str]
    distractor_types: tuple[str, str, str]  # "wrong text" | "wrong person" | "wrong time"
    reasoning: str
    sample: int
    provenance: dict

    @property
    def options(self) -> tuple[str, ...]:
        """Gold first; the released order is dealt later (builders.positions)."""
        return (self.answer, *self.distractors)


def grammar_literal(text: str) -> str:
    """`text` as a pattern matching itself, in the regex subset llama.cpp's grammar converter takes.
    Not re.escape: it escapes spaces ("King\\ Lear"), which llama.cpp rejects as an unsupported
    escape and then accepts ANY string for the field. Specials go into one-character classes."""
    return "".join(f"[{c}]" if c in ".*+?()[{}|$" else f"\\{c}" if c in "]^\\" else c for c in text)


def draft_schema(character: str, dimension: Dimension) -> dict:
    """Anchored patterns (llama.cpp turns them into the grammar as they are): the question and the
    four options in their fixed frames, every free part made of plain words."""
    name = grammar_literal(character)
    low, high = OPTION_WORDS
    question = f"^{dimension.question_start} {name} {dimension.question_verb}( {WORD}){{2,10}}[?]$"
    option = {"type": "string", "pattern": f"^{name} {grammar_literal(dimension.option_verb)}( {WORD}){{{low},{high}}}$"}
    sentence = {"type": "string", "pattern": f"^{WORD}( {WORD}){{4,24}}[.]$"}
    return {
        "type": "object",
        "properties": {"scenario": sentence, "question": {"type": "string", "pattern": question},
                       "answer": option, "wrong_1": option, "wrong_2": option, "wrong_3": option,
                       "reasoning": sentence},
        "required": ["scenario", "question", "answer", "wrong_1", "wrong_2", "wrong_3", "reasoning"],
        "additionalProperties": False,
    }


def distractor_types(step: Timestep) -> tuple[str, str, str]:
    return ("wrong text", "wrong person", "wrong time" if step.earlier else "wrong text")


def draft_messages(step: Timestep, dimension: Dimension, *, excerpt_chars: int) -> list[dict]:
    earlier = step.earlier[-1].summary if step.earlier else ""
    prompt = render(TEMPLATE, title=step.work.title, character=step.character, earlier=earlier,
                    summary=step.plot.summary, scenario=step.plot.scenario, dimension=dimension,
                    excerpt=excerpt(step.plot, step.character_id, max_chars=excerpt_chars),
                    others=others_in_scene(step.plot, step.character_id))
    return [{"role": "user", "content": prompt}]


async def write_draft(llm, step: Timestep, dimension: Dimension, *, sample: int, excerpt_chars: int = 900,
                      max_tokens: int = 320) -> Draft:
    """One draft (raises builders.llm.RequestFailed when the model gives no valid reply)."""
    reply = await llm.chat(ChatRequest(messages=draft_messages(step, dimension, excerpt_chars=excerpt_chars),
                                       schema=draft_schema(step.character, dimension), temperature=0.7,
                                       max_tokens=max_tokens, sample=sample, step=STEP,
                                       prompt_hash=template_hash(TEMPLATE)))
    data = {k: " ".join(v.split()) for k, v in reply.data.items()}
    return Draft(dimension=dimension, scenario=data["scenario"], question=data["question"], answer=data["answer"],
                 distractors=tuple(data[k] for k in DISTRACTOR_SLOTS), distractor_types=distractor_types(step),
                 reasoning=data["reasoning"], sample=sample, provenance={**reply.provenance, "cached": reply.cached})


def draft_problem(draft: Draft, step: Timestep, leak_check: FutureLeakCheck,
                  vocabulary: SourceVocabulary | None = None) -> str | None:
    """Why a draft cannot become an item, or None. Checks what the schema cannot say."""
    frame = f"{step.character} {draft.dimension.option_verb} "
    options = draft.options
    if not all(o.startswith(frame) for o in options) or not draft.question.endswith("?"):
        return f"frame: options must start {frame!r} and the question end with '?'"
    bodies = [_words(o[len(frame):]) for o in options]
    if len({" ".join(b) for b in bodies}) < 4:
        return "options are not distinct"
    if any(phrase in o.lower() for o in options for phrase in FORBIDDEN_OPTIONS):
        return "an option is 'all/none of the above'"
    lengths = [len(b) for b in bodies]
    if min(lengths) == 0 or max(lengths) / min(lengths) > MAX_LENGTH_RATIO:
        return f"option lengths differ too much ({min(lengths)}-{max(lengths)} words)"
    gold = bodies[0]
    if any(_negation_flip(gold, other) for other in bodies[1:]):
        return "a distractor is the gold with a negation flipped"
    if len(gold) >= 3 and " ".join(gold) in " ".join(_words(draft.question)):
        return "the question contains the answer"
    leaked = leak_check.leaks(" ".join([draft.question, *options]), until=step.plot.span[1])
    if leaked:
        return f"future leakage: {', '.join(leaked)} first appear after plot {step.plot.index}"
    for text in (draft.question, *options) if vocabulary else ():
        wording = vocabulary.problem(text)
        if wording:
            return f"{wording} (in {text[:50]!r})"
    return None


def _words(text: str) -> list[str]:
    return [name_key(w) for w in text.split() if name_key(w)]


def _negation_flip(gold: list[str], other: list[str]) -> bool:
    """Equal once negation words are removed from both, but not equal as written."""
    def strip(words):
        return [w for w in words if w not in {name_key(n) for n in NEGATIONS}]
    return gold != other and strip(gold) == strip(other)
