"""Gold drafts and the auto-check.

`draft_gold` asks for a question with its gold answer until a draft passes the program checks
(questions.draft_problem), at most `attempts` drafts. `assemble` then gives each gold three
distractors from the work's other golds (distractors.py) and, when a checker is given, has it
answer blind: it must recover the gold, otherwise another distractor set is tried (up to
`attempts` sets, each without the distractors the checker picked before), then the question is
rejected with the reasons of every attempt.

The checker sees only what the evaluation shows in the base condition (plot summary + scenario),
never the reasoning, and the options in a seeded order that does not depend on where anything was
put (a checker that always answers "A" passes one set in four, not all of them).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from builders.litchartom import distractors
from builders.litchartom.distractors import Distractor, Gold
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, draft_problem, write_draft
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension
from builders.litchartom.wording import SourceVocabulary
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash

TEMPLATE = "litchartom/blind_answer.j2"
STEP = "litchartom.blind_check"
LETTERS = "ABCD"
# {"answer": "B"} is 6 tokens, but llama.cpp's grammar lets the model spread it over lines and
# spaces: 16 tokens truncated replies of the embedded model (3 attempts, then a failed question).
BLIND_MAX_TOKENS = 48
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"enum": list(LETTERS)}},
                 "required": ["answer"], "additionalProperties": False}


@dataclass
class CheckedQuestion:
    dimension: Dimension
    draft: Draft | None  # the gold draft that passed the program checks, None when none did
    distractors: tuple[Distractor, ...] = ()  # the accepted set; empty until assembled and checked
    attempts: list[dict] = field(default_factory=list)  # drafts, then distractor sets: outcome, reason, blind answer
    counts: dict[str, int] = field(default_factory=dict)  # funnel counts for this question

    @property
    def accepted(self) -> bool:
        return self.draft is not None and len(self.distractors) == 3

    @property
    def options(self) -> tuple[str, ...]:
        """Gold first; the released order is dealt later (builders.positions)."""
        return (self.draft.answer, *(d.text for d in self.distractors))

    def reasons(self) -> str:
        return "; ".join(f"{a['what']}: {a['reason']}" for a in self.attempts if a.get("reason"))

    def count(self, stage: str) -> None:
        self.counts[stage] = self.counts.get(stage, 0) + 1


def checker_order(key: str, attempt: int) -> list[int]:
    """The order (indices into the options, gold = 0) in which the checker sees them."""
    order = [0, 1, 2, 3]
    seed = int.from_bytes(hashlib.sha256(f"blind:{key}:{attempt}".encode()).digest()[:8], "big")
    random.Random(seed).shuffle(order)
    return order


async def answer_blind(judge, options: tuple[str, ...], draft: Draft, step: Timestep, *, key: str,
                       attempt: int) -> dict:
    """The checker's letter for the options (gold first), and where the gold was in its order."""
    order = checker_order(key, attempt)
    shown = [f"{LETTERS[i]}. {options[j]}" for i, j in enumerate(order)]
    prompt = render(TEMPLATE, summary=step.plot.summary, scenario=step.plot.scenario, question=draft.question,
                    options=shown)
    reply = await judge.chat(ChatRequest(messages=[{"role": "user", "content": prompt}], schema=ANSWER_SCHEMA,
                                         temperature=0.0, max_tokens=BLIND_MAX_TOKENS, sample=attempt, step=STEP,
                                         prompt_hash=template_hash(TEMPLATE)))
    gold = LETTERS[order.index(0)]
    return {"answer": reply.data["answer"], "gold": gold, "correct": reply.data["answer"] == gold,
            "request_hash": reply.provenance.get("request_hash"), "cached": reply.cached}


async def draft_gold(llm, step: Timestep, dimension: Dimension, leak_check: FutureLeakCheck,
                     vocabulary: SourceVocabulary | None = None, *, attempts: int = 3,
                     excerpt_chars: int = 900) -> CheckedQuestion:
    """The question with its first draft that passes the program checks (draft None when none did)."""
    result = CheckedQuestion(dimension=dimension, draft=None)
    for sample in range(attempts):
        result.count("question drafts")
        what = f"draft {sample}"
        try:
            draft = await write_draft(llm, step, dimension, sample=sample, excerpt_chars=excerpt_chars)
        except RequestFailed as error:
            result.attempts.append({"what": what, "outcome": "request failed", "reason": error.reason})
            continue
        problem = draft_problem(draft, step, leak_check, vocabulary)
        if problem:
            result.count("drafts failing program checks")
            result.attempts.append({"what": what, "outcome": "program check", "reason": problem})
            continue
        result.attempts.append({"what": what, "outcome": "gold accepted", "reason": None})
        result.draft = draft
        break
    return result


async def assemble(question: CheckedQuestion, step: Timestep, pool: list[Gold], leak_check: FutureLeakCheck,
                   judge=None, *, attempts: int = 3) -> CheckedQuestion:
    """Give an accepted gold its distractors; with a judge, keep only a set it answers right."""
    key = f"{step.key}|{question.dimension.name}"
    picked: set[str] = set()  # distractors the checker chose over the gold: perhaps true as well
    for attempt in range(attempts):
        what = f"distractor set {attempt}"
        chosen = distractors.choose(Gold(step, question.draft), pool, leak_check, key=key, exclude=frozenset(picked))
        if isinstance(chosen, str):
            question.count("questions without 3 distractors")
            question.attempts.append({"what": what, "outcome": "no distractors", "reason": chosen})
            return question
        if judge is None:
            question.distractors = chosen
            question.attempts.append({"what": what, "outcome": "accepted unchecked", "reason": None})
            return question
        options = (question.draft.answer, *(d.text for d in chosen))
        try:
            verdict = await answer_blind(judge, options, question.draft, step, key=key, attempt=attempt)
        except RequestFailed as error:
            question.attempts.append({"what": what, "outcome": "checker failed", "reason": error.reason})
            continue
        question.count("blind checks")
        if verdict["correct"]:
            question.count("blind checks passed")
            question.distractors = chosen
            question.attempts.append({"what": what, "outcome": "accepted", "reason": None, "blind": verdict})
            return question
        picked.add(options[checker_order(key, attempt)[LETTERS.index(verdict["answer"])]])
        question.attempts.append({"what": what, "outcome": "blind check failed", "blind": verdict,
                                  "reason": f"blind answer {verdict['answer']} != gold {verdict['gold']}"})
    question.attempts.append({"what": "auto-check", "outcome": "rejected",
                              "reason": f"no distractor set passed the blind check in {attempts} attempts"})
    return question
