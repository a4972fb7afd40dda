"""Gold drafts and the auto-check.

`draft_gold` asks for a question with its gold answer until a draft passes the program checks
(questions.draft_problem), at most `attempts` drafts (every draft after the first is a re-ask).
Once the plot's golds are grouped into blocks (blocks.py), `assemble` gives a gold its
block's three other bodies as distractors and, when a checker is given, has it answer blind
(spec step 5):

- the checker sees only what the evaluation shows in the base condition (plot summary +
  scenario), never the reasoning, and the options in a seeded order that does not depend on where
  anything was put (a checker that always answers "A" passes one set in four, not all of them);
- a blind answer that recovers the gold accepts the question;
- a miss, when the checker's profile says so (`litchartom.verify_blind_misses`), goes to a
  verifier that sees the whole conversation and the intended answer and says whether exactly that
  option is right: a confirmed question is kept (hard for the checker is not wrong, and keeping it
  avoids selecting questions for the checker's strengths, as the spec asks);
- otherwise the question is rejected with the reason. Its options are its block's, which the other
  questions of the block show too, so there is no other set to try: a block's options are fixed.

The blind answer, its confidence (natural contract) and the verifier's verdict go to provenance.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from builders.litchartom.context import excerpt
from builders.litchartom.contract import Contract, contract_of
from builders.litchartom.distractors import Distractor
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, draft_problem, write_draft
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import Dimension
from builders.litchartom.wording import Wording
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash

TEMPLATE = "litchartom/blind_answer.j2"
VERIFY_TEMPLATE = "litchartom/verify.j2"
STEP = "litchartom.blind_check"
VERIFY_STEP = "litchartom.verify"
LETTERS = "ABCD"
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"enum": list(LETTERS)}},
                 "required": ["answer"], "additionalProperties": False}
CONFIDENCE = ("low", "medium", "high")
VERDICTS = ("valid", "invalid")
VERIFY_REASON_WORDS = 20  # the verifier's one-sentence reason (provenance only)


@dataclass
class CheckedQuestion:
    dimension: Dimension
    draft: Draft | None  # the gold draft that passed the program checks, None when none did
    distractors: tuple[Distractor, ...] = ()  # the accepted set; empty until assembled and checked
    attempts: list[dict] = field(default_factory=list)  # drafts, then the check: outcome, reason, blind answer
    counts: dict[str, int] = field(default_factory=dict)  # funnel counts for this question

    @property
    def accepted(self) -> bool:
        return self.draft is not None and len(self.distractors) == 3

    @property
    def options(self) -> tuple[str, ...]:
        """Gold first, then the distractors as chosen; the released order is dealt later, from the
        owner's salt (answer_key.py)."""
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


def answer_schema(contract: Contract) -> dict:
    """Strict: the letter alone. Natural: the letter and how sure the checker is (spec step 5)."""
    if not contract.natural:
        return ANSWER_SCHEMA
    return {"type": "object", "properties": {"answer": {"enum": list(LETTERS)}, "confidence": {"enum": list(CONFIDENCE)}},
            "required": ["answer", "confidence"], "additionalProperties": False}


async def answer_blind(judge, options: tuple[str, ...], draft: Draft, step: Timestep, *, key: str,
                       attempt: int) -> dict:
    """The checker's letter for the options (gold first), and where the gold was in its order."""
    contract = contract_of(judge)
    order = checker_order(key, attempt)
    shown = [f"{LETTERS[i]}. {options[j]}" for i, j in enumerate(order)]
    prompt = render(TEMPLATE, summary=step.plot.summary, scenario=step.plot.scenario, question=draft.question,
                    options=shown, natural=contract.natural)
    reply = await judge.chat(ChatRequest(messages=[{"role": "user", "content": prompt}], schema=answer_schema(contract),
                                         temperature=0.0, max_tokens=contract.blind_max_tokens, sample=attempt,
                                         step=STEP, prompt_hash=template_hash(TEMPLATE), reask=attempt > 0))
    gold = LETTERS[order.index(0)]
    return {"answer": reply.data["answer"], "gold": gold, "correct": reply.data["answer"] == gold,
            "confidence": reply.data.get("confidence"), "request_hash": reply.provenance.get("request_hash"),
            "cached": reply.cached}


def verify_schema() -> dict:
    return {"type": "object",
            "properties": {"verdict": {"enum": list(VERDICTS)},
                           "reason": {"type": "string", "minLength": 1,
                                      "description": f"One sentence, about {VERIFY_REASON_WORDS} words, saying why."}},
            "required": ["verdict", "reason"], "additionalProperties": False}


async def verify(judge, options: tuple[str, ...], draft: Draft, step: Timestep, *, key: str, attempt: int) -> dict:
    """The verifier's verdict on the item the checker missed: given the whole conversation and the
    intended answer, is that option right and every other one wrong for the character now?"""
    contract = contract_of(judge)
    order = checker_order(key, attempt)  # the order the checker saw
    prompt = render(VERIFY_TEMPLATE, title=step.work.title, character=step.character, summary=step.plot.summary,
                    scenario=step.plot.scenario, question=draft.question, gold=LETTERS[order.index(0)],
                    options=[f"{LETTERS[i]}. {options[j]}" for i, j in enumerate(order)],
                    excerpt=excerpt(step.plot, step.character_id, max_chars=contract.question_excerpt_chars),
                    reason_words=VERIFY_REASON_WORDS)
    reply = await judge.chat(ChatRequest(messages=[{"role": "user", "content": prompt}], schema=verify_schema(),
                                         temperature=0.0, max_tokens=contract.verify_max_tokens, sample=attempt,
                                         step=VERIFY_STEP, prompt_hash=template_hash(VERIFY_TEMPLATE)))
    return {"verdict": reply.data["verdict"], "reason": " ".join(reply.data["reason"].split()),
            "request_hash": reply.provenance.get("request_hash", ""), "cached": reply.cached}


async def draft_gold(llm, step: Timestep, dimension: Dimension, leak_check: FutureLeakCheck,
                     wording: Wording | None = None, *, contract: Contract | None = None,
                     attempts: int = 3) -> CheckedQuestion:
    """The question with its first draft that passes the program checks (draft None when none did)."""
    contract = contract or contract_of(llm)
    wording = wording or Wording(enabled=contract.wording_checks)
    result = CheckedQuestion(dimension=dimension, draft=None)
    for sample in range(attempts):
        result.count("question drafts")
        what = f"draft {sample}"
        try:
            draft = await write_draft(llm, step, dimension, contract, sample=sample)
        except RequestFailed as error:
            result.attempts.append({"what": what, "outcome": "request failed", "reason": error.reason})
            continue
        problem = draft_problem(draft, step, leak_check, wording, contract)
        if problem:
            result.count("drafts failing program checks")
            result.attempts.append({"what": what, "outcome": "program check", "reason": problem})
            continue
        result.attempts.append({"what": what, "outcome": "gold accepted", "reason": None})
        result.draft = draft
        break
    return result


async def assemble(question: CheckedQuestion, step: Timestep, chosen: tuple[Distractor, ...] | None,
                   no_block: str | None, judge=None) -> CheckedQuestion:
    """Give an accepted gold the distractors of its block (`chosen`: Block.distractors), or reject
    it with `no_block`, the reason it has none; with a judge, keep it only when the checker answers
    it blind or the verifier confirms its miss."""
    if chosen is None:
        question.count("questions without a block of four")
        question.attempts.append({"what": "distractors", "outcome": "no block", "reason": no_block})
        return question
    if judge is None:
        question.distractors = chosen
        question.attempts.append({"what": "distractors", "outcome": "accepted unchecked", "reason": None})
        return question
    options = (question.draft.answer, *(d.text for d in chosen))
    outcome = await _check(judge, question, options, step, key=f"{step.key}|{question.dimension.name}", attempt=0)
    question.attempts.append({"what": "distractors", **outcome})
    if outcome["reason"] is None:
        question.distractors = chosen
    return question


async def _check(judge, question: CheckedQuestion, options: tuple[str, ...], step: Timestep, *, key: str,
                 attempt: int) -> dict:
    """One distractor set through the checker (and the verifier after a miss): the attempt's
    outcome, with reason None when the set is accepted."""
    try:
        blind = await answer_blind(judge, options, question.draft, step, key=key, attempt=attempt)
    except RequestFailed as error:
        return {"outcome": "checker failed", "reason": error.reason}
    question.count("blind checks")
    if blind["correct"]:
        question.count("blind checks passed")
        return {"outcome": "accepted", "reason": None, "blind": blind}
    missed = f"blind answer {blind['answer']} != gold {blind['gold']}"
    if not contract_of(judge).verify_blind_misses:
        return {"outcome": "blind check failed", "blind": blind, "reason": missed}
    question.count("blind misses sent to the verifier")
    try:
        verdict = await verify(judge, options, question.draft, step, key=key, attempt=attempt)
    except RequestFailed as error:
        return {"outcome": "verifier failed", "blind": blind, "reason": f"{missed}; verifier: {error.reason}"}
    if verdict["verdict"] == "valid":
        question.count("blind misses confirmed by the verifier")
        return {"outcome": "accepted after verification", "reason": None, "blind": blind, "verifier": verdict}
    return {"outcome": "verifier refused", "blind": blind, "verifier": verdict,
            "reason": f"{missed}; the verifier refused the item: {verdict['reason']}"}
