"""Question drafts: one call per (timestep, dimension) writes the scenario, the question, the gold
answer and the reasoning; program checks decide whether the draft is usable.

The distractors are not written here: distractors.py takes them from the golds of other
characters and other plots of the same work (as ToMATO takes its distractors from the other
thoughts of a conversation). Asked for four answers at once, the 135M embedded model copied the
gold into the wrong answers (19 of 20 drafts had options that were not distinct).

The schema fixes the frame: the question starts "What does <character> believe ..." (per
dimension, vocab.DIMENSIONS) and the answer starts "<character> believes ...", so every option of
the assembled item shares one grammatical frame by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.litchartom.context import REPEAT_PENALTY, excerpt
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension
from builders.litchartom.wording import SourceVocabulary, repetition_problem, unfinished_problem
from builders.llm import ChatRequest
from builders.prompts import render, template_hash
from builders.sources.aliases import name_key

TEMPLATE = "litchartom/question.j2"
STEP = "litchartom.question"
# One plain word (a name, a possessive, a word followed by a comma): the grammar cannot emit markup,
# digits or an empty answer, which a 135M model otherwise does.
WORD = "[A-Za-z][a-z']{0,15},?"
# words after the frame: the embedded model fills whatever room it gets, and at 8 it stopped mid-phrase
OPTION_WORDS = (4, 12)
# An answer ends on a word of 4+ letters: not a comma, and not "of", "to", "his", "the"... (the
# embedded model ran into the word cap mid-phrase: 10 of 57 drafts ended on such a word).
LAST_WORD = "[A-Za-z][a-z']{3,15}"


@dataclass(frozen=True)
class Draft:
    dimension: Dimension
    scenario: str
    question: str
    answer: str  # the gold, "<character> <option verb> ..."
    reasoning: str
    sample: int
    provenance: dict

    def body(self, character: str) -> str:
        """The answer after its frame: what distractors.py re-frames for another character."""
        return self.answer[len(frame(character, self.dimension)):]


def frame(character: str, dimension: Dimension) -> str:
    """What every option of a question about `character` starts with: "Lear believes "."""
    return f"{character} {dimension.option_verb} "


def grammar_literal(text: str) -> str:
    """`text` as a pattern matching itself, in the regex subset llama.cpp's grammar converter takes.
    Not re.escape: it escapes spaces ("King\\ Lear"), which llama.cpp rejects as an unsupported
    escape and then accepts ANY string for the field. Specials go into one-character classes."""
    return "".join(f"[{c}]" if c in ".*+?()[{}|$" else f"\\{c}" if c in "]^\\" else c for c in text)


def draft_schema(character: str, dimension: Dimension) -> dict:
    """Anchored patterns (llama.cpp turns them into the grammar as they are): the question and the
    answer in their fixed frames, every free part made of plain words."""
    name = grammar_literal(character)
    low, high = OPTION_WORDS
    question = f"^{dimension.question_start} {name} {dimension.question_verb}( {WORD}){{2,10}}[?]$"
    option = {"type": "string",
              "pattern": f"^{name} {grammar_literal(dimension.option_verb)}( {WORD}){{{low - 1},{high - 1}}} {LAST_WORD}$"}
    sentence = {"type": "string", "pattern": f"^{WORD}( {WORD}){{4,24}}[.]$"}
    return {
        "type": "object",
        "properties": {"scenario": sentence, "question": {"type": "string", "pattern": question},
                       "answer": option, "reasoning": sentence},
        "required": ["scenario", "question", "answer", "reasoning"],
        "additionalProperties": False,
    }


def draft_messages(step: Timestep, dimension: Dimension, *, excerpt_chars: int) -> list[dict]:
    earlier = step.earlier[-1].summary if step.earlier else ""
    prompt = render(TEMPLATE, title=step.work.title, character=step.character, earlier=earlier,
                    summary=step.plot.summary, scenario=step.plot.scenario, dimension=dimension,
                    excerpt=excerpt(step.plot, step.character_id, max_chars=excerpt_chars))
    return [{"role": "user", "content": prompt}]


async def write_draft(llm, step: Timestep, dimension: Dimension, *, sample: int, excerpt_chars: int = 900,
                      max_tokens: int = 200) -> Draft:
    """One draft (raises builders.llm.RequestFailed when the model gives no valid reply)."""
    reply = await llm.chat(ChatRequest(messages=draft_messages(step, dimension, excerpt_chars=excerpt_chars),
                                       schema=draft_schema(step.character, dimension), temperature=0.7,
                                       max_tokens=max_tokens, sample=sample, step=STEP,
                                       prompt_hash=template_hash(TEMPLATE), repeat_penalty=REPEAT_PENALTY))
    data = {k: " ".join(v.split()) for k, v in reply.data.items()}
    return Draft(dimension=dimension, scenario=data["scenario"], question=data["question"], answer=data["answer"],
                 reasoning=data["reasoning"], sample=sample, provenance={**reply.provenance, "cached": reply.cached})


def draft_problem(draft: Draft, step: Timestep, leak_check: FutureLeakCheck,
                  vocabulary: SourceVocabulary | None = None) -> str | None:
    """Why a draft cannot give a gold answer, or None. Checks what the schema cannot say; the
    options as a set are checked when distractors.py assembles them."""
    start = frame(step.character, draft.dimension)
    if not draft.answer.startswith(start) or not draft.question.endswith("?"):
        return f"frame: the answer must start {start!r} and the question end with '?'"
    gold = words(draft.body(step.character))
    if not gold:
        return "the answer is empty after its frame"
    if len(gold) >= 3 and " ".join(gold) in " ".join(words(draft.question)):
        return "the question contains the answer"
    leaked = leak_check.leaks(f"{draft.question} {draft.answer}", until=step.plot.span[1])
    if leaked:
        return f"future leakage: {', '.join(leaked)} first appear after plot {step.plot.index}"
    for text in (draft.question, draft.answer):
        wording = (vocabulary.problem(text) if vocabulary else None) or repetition_problem(text)
        if wording:
            return f"{wording} (in {text[:50]!r})"
    return unfinished_problem(draft.answer)


def words(text: str) -> list[str]:
    """Comparable words: lower case, punctuation dropped."""
    return [name_key(w) for w in text.split() if name_key(w)]
