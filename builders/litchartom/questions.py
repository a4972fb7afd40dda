"""Question drafts: one call per (timestep, dimension) writes the scenario, the question, the gold
answer and the reasoning; program checks decide whether the draft is usable.

The distractors are not written here: distractors.py takes them from the golds of other
characters and other plots of the same work (as ToMATO takes its distractors from the other
thoughts of a conversation). Asked for four answers at once, the 135M embedded model copied the
gold into the wrong answers (19 of 20 drafts had options that were not distinct).

The schema fixes the frame: the question starts "What does <character> believe ..." (per
dimension, vocab.DIMENSIONS) and the answer starts "<character> believes ...", so every option of
the assembled item shares one grammatical frame by construction. Under the strict contract (the
embedded model) every field is an anchored plain-word pattern, its word counts from the profile;
under the natural contract (capable models) the frames are literal prefixes and the rest is free
Unicode prose, its target lengths (the original's, data/original.json) stated in the prompt and in
each field's description. What the released format cannot hold is normalised, not re-asked: line
breaks are joined and a question not ending with "?" gets one (`Draft.normalised` says which).
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.litchartom.context import REPEAT_PENALTY, excerpt
from builders.litchartom.contract import Contract, words_outside
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension
from builders.litchartom.wording import Wording
from builders.llm import ChatRequest
from builders.prompts import render, template_hash
from builders.sources.aliases import name_key

TEMPLATE = "litchartom/question.j2"
STEP = "litchartom.question"
FIELDS = ("scenario", "question", "answer", "reasoning")
# The strict grammar's plain word (a name, a possessive, a word followed by a comma): it cannot emit
# markup, digits or an empty answer, which a 135M model otherwise does. How many words a field
# takes is the profile's (litchartom.option_words...: at 8 words after the frame it stopped mid-phrase).
WORD = "[A-Za-z][a-z']{0,15},?"
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
    normalised: tuple[str, ...] = ()  # what the program changed in the reply, e.g. "question: '?' added"

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


def question_start(character: str, dimension: Dimension) -> str:
    """What every question about `character` in `dimension` starts with: "What does Lear believe"."""
    return f"{dimension.question_start} {character} {dimension.question_verb}"


def draft_schema(character: str, dimension: Dimension, contract: Contract) -> dict:
    fields = natural_schema if contract.natural else strict_schema
    return {"type": "object", "properties": fields(character, dimension, contract), "required": list(FIELDS),
            "additionalProperties": False}


def strict_schema(character: str, dimension: Dimension, contract: Contract) -> dict:
    """Anchored patterns (llama.cpp turns them into the grammar as they are): the question and the
    answer in their fixed frames, every free part made of plain words."""
    name = grammar_literal(character)
    low, high = contract.option_words
    q_low, q_high = contract.question_words
    s_low, s_high = contract.sentence_words
    question = f"^{dimension.question_start} {name} {dimension.question_verb}( {WORD}){{{q_low},{q_high}}}[?]$"
    # the answer's last word is LAST_WORD, so the free words before it are one fewer
    option = f"^{name} {grammar_literal(dimension.option_verb)}( {WORD}){{{low - 1},{high - 1}}} {LAST_WORD}$"
    sentence = {"type": "string", "pattern": f"^{WORD}( {WORD}){{{s_low - 1},{s_high - 1}}}[.]$"}
    return {"scenario": sentence, "question": {"type": "string", "pattern": question},
            "answer": {"type": "string", "pattern": option}, "reasoning": sentence}


def natural_schema(character: str, dimension: Dimension, contract: Contract) -> dict:
    """Structure only: the frames as literal prefixes, any prose after them, the lengths asked for
    in the descriptions (the word bounds are checked by `draft_problem`, against runaway output)."""
    targets = contract.targets
    start, answer = question_start(character, dimension), frame(character, dimension)
    return {
        "scenario": {"type": "string", "minLength": 1,
                     "description": f"One sentence, about {targets.mcq_scenario} words, describing the situation "
                                   "the question is about."},
        "question": {"type": "string", "pattern": f"^{grammar_literal(start)}",
                     "description": f'The question: starts with "{start}", about {targets.question} words, '
                                    'ends with "?".'},
        "answer": {"type": "string", "pattern": f"^{grammar_literal(answer)}",
                   "description": f'The correct answer: starts with "{answer.strip()}", about {targets.option} '
                                  "words in all."},
        "reasoning": {"type": "string", "minLength": 1,
                      "description": f"One or two sentences, about {targets.reasoning} words, explaining from the "
                                     "text why the answer is correct."},
    }


def draft_messages(step: Timestep, dimension: Dimension, contract: Contract) -> list[dict]:
    earlier = step.earlier[-1].summary if step.earlier else ""
    prompt = render(TEMPLATE, title=step.work.title, character=step.character, earlier=earlier,
                    summary=step.plot.summary, scenario=step.plot.scenario, dimension=dimension,
                    excerpt=excerpt(step.plot, step.character_id, max_chars=contract.question_excerpt_chars),
                    natural=contract.natural, targets=contract.targets,
                    question_start=question_start(step.character, dimension))
    return [{"role": "user", "content": prompt}]


async def write_draft(llm, step: Timestep, dimension: Dimension, contract: Contract, *, sample: int) -> Draft:
    """One draft (raises builders.llm.RequestFailed when the model gives no valid reply). A sample
    after the first is a re-ask: the program checks refused the earlier drafts."""
    reply = await llm.chat(ChatRequest(messages=draft_messages(step, dimension, contract),
                                       schema=draft_schema(step.character, dimension, contract), temperature=0.7,
                                       max_tokens=contract.question_max_tokens, sample=sample, step=STEP,
                                       prompt_hash=template_hash(TEMPLATE),
                                       repeat_penalty=None if contract.natural else REPEAT_PENALTY,
                                       reask=sample > 0))
    data, notes = normalised_fields(reply.data)
    return Draft(dimension=dimension, scenario=data["scenario"], question=data["question"], answer=data["answer"],
                 reasoning=data["reasoning"], sample=sample, provenance={**reply.provenance, "cached": reply.cached},
                 normalised=tuple(notes))


def normalised_fields(data: dict) -> tuple[dict, list[str]]:
    """The reply's fields on one line each (the released format holds no line break, and the OOD
    prompt puts each on a line of its own), a question ending with "?"; and a note per change."""
    out, notes = {}, []
    for name in FIELDS:
        text = data[name]
        out[name] = " ".join(text.split())
        if any(char in text for char in "\n\r\t"):
            notes.append(f"{name}: line breaks joined")
    question = out["question"]
    if question and not question.endswith("?"):
        out["question"] = question.rstrip(" .!…:;,") + "?"
        notes.append("question: '?' added")
    return out, notes


def draft_problem(draft: Draft, step: Timestep, leak_check: FutureLeakCheck, wording: Wording | None = None,
                  contract: Contract | None = None) -> str | None:
    """Why a draft cannot give a gold answer, or None. Checks what the schema cannot say (and, for
    the natural contract, the word bounds against runaway output); the options as a set are
    checked when distractors.py assembles them."""
    wording = wording or Wording()
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
    if contract is not None and contract.natural:
        runaway = _runaway(draft, step, contract)
        if runaway:
            return runaway
    for text in (draft.question, draft.answer):
        problem = wording.problem(text)
        if problem:
            return f"{problem} (in {text[:50]!r})"
    return wording.phrase_problem(draft.answer)


def _runaway(draft: Draft, step: Timestep, contract: Contract) -> str | None:
    """A field beyond the profile's word bounds (several times what was asked), or None."""
    question = draft.question[len(question_start(step.character, draft.dimension)):]
    return (words_outside(draft.body(step.character), contract.option_words, "the answer after its frame")
            or words_outside(question, contract.question_words, "the question after its frame")
            or words_outside(draft.scenario, contract.sentence_words, "the scenario")
            or words_outside(draft.reasoning, contract.sentence_words, "the reasoning"))


def words(text: str) -> list[str]:
    """Comparable words: lower case, punctuation dropped."""
    return [name_key(w) for w in text.split() if name_key(w)]
