"""The auto-check: a second model answers each draft blind and must recover the gold.

The checker sees only what the evaluation shows in the base condition (plot summary + scenario),
never the reasoning, and the options in a seeded order that does not depend on where the writer
put the gold (a checker that always answers "A" passes one draft in four, not all of them). A
draft that fails a program check or the blind answer is regenerated with a new sample index, up
to `attempts` drafts; then the question is rejected with the reasons of every attempt.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

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
    draft: Draft | None  # the accepted draft, None when every attempt failed
    attempts: list[dict] = field(default_factory=list)  # per draft: sample, outcome, reason, blind answer
    counts: dict[str, int] = field(default_factory=dict)  # funnel counts for this question

    @property
    def accepted(self) -> bool:
        return self.draft is not None

    def reasons(self) -> str:
        return "; ".join(f"sample {a['sample']}: {a['reason']}" for a in self.attempts if a.get("reason"))


def checker_order(key: str, sample: int) -> list[int]:
    """The order (indices into draft.options, gold = 0) in which the checker sees the options."""
    order = [0, 1, 2, 3]
    seed = int.from_bytes(hashlib.sha256(f"blind:{key}:{sample}".encode()).digest()[:8], "big")
    random.Random(seed).shuffle(order)
    return order


async def answer_blind(judge, draft: Draft, step: Timestep, *, key: str) -> dict:
    """The checker's letter for the draft, and where the gold was in its order."""
    order = checker_order(key, draft.sample)
    options = [f"{LETTERS[i]}. {draft.options[j]}" for i, j in enumerate(order)]
    prompt = render(TEMPLATE, summary=step.plot.summary, scenario=step.plot.scenario, question=draft.question,
                    options=options)
    reply = await judge.chat(ChatRequest(messages=[{"role": "user", "content": prompt}], schema=ANSWER_SCHEMA,
                                         temperature=0.0, max_tokens=BLIND_MAX_TOKENS, sample=draft.sample, step=STEP,
                                         prompt_hash=template_hash(TEMPLATE)))
    gold = LETTERS[order.index(0)]
    return {"answer": reply.data["answer"], "gold": gold, "correct": reply.data["answer"] == gold,
            "request_hash": reply.provenance.get("request_hash"), "cached": reply.cached}


async def checked_question(llm, judge, step: Timestep, dimension: Dimension, leak_check: FutureLeakCheck,
                           vocabulary: SourceVocabulary | None = None, *, attempts: int = 3,
                           excerpt_chars: int = 900) -> CheckedQuestion:
    key = f"{step.key}|{dimension.name}"
    result = CheckedQuestion(dimension=dimension, draft=None)
    counts = result.counts
    for sample in range(attempts):
        counts["question drafts"] = counts.get("question drafts", 0) + 1
        try:
            draft = await write_draft(llm, step, dimension, sample=sample, excerpt_chars=excerpt_chars)
        except RequestFailed as error:
            result.attempts.append({"sample": sample, "outcome": "request failed", "reason": error.reason})
            continue
        problem = draft_problem(draft, step, leak_check, vocabulary)
        if problem:
            counts["drafts failing program checks"] = counts.get("drafts failing program checks", 0) + 1
            result.attempts.append({"sample": sample, "outcome": "program check", "reason": problem})
            continue
        try:
            verdict = await answer_blind(judge, draft, step, key=key)
        except RequestFailed as error:
            result.attempts.append({"sample": sample, "outcome": "checker failed", "reason": error.reason})
            continue
        counts["blind checks"] = counts.get("blind checks", 0) + 1
        if verdict["correct"]:
            counts["blind checks passed"] = counts.get("blind checks passed", 0) + 1
            result.attempts.append({"sample": sample, "outcome": "accepted", "reason": None, "blind": verdict})
            result.draft = draft
            return result
        result.attempts.append({"sample": sample, "outcome": "blind check failed", "blind": verdict,
                                "reason": f"blind answer {verdict['answer']} != gold {verdict['gold']}"})
    return result
