"""Optional blind answering (--llm-validate): a model answers each item without the answer key.

The result is recorded in provenance and a wrong answer only flags the item. Items are never
filtered on whether a model gets them right: that would keep the items one model family finds
easy and bias later evaluations (spec §5 Step 5). The model sees the options in their provisional
order (records.py); when the release's positions are dealt, the recorded letter moves with the
option it named (answer_key.py).
"""

from __future__ import annotations

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import profile_of
from builders.prompts import render, template_hash

TEMPLATE = "tomato/answer.j2"
LETTERS = "ABCD"

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"enum": list(LETTERS)}},
    "required": ["answer"],
    "additionalProperties": False,
}


async def answer_blind(llm, record: dict) -> dict:
    """{"model", "answer", "correct", "flagged"}; answer is None when the request failed."""
    prompt = render(TEMPLATE, conversation=record["conversation"], question=record["q"],
                    options=[record[f"a{i}"] for i in range(4)])
    request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=ANSWER_SCHEMA,
                          temperature=0.0, max_tokens=profile_of(llm).limit("tomato.answer_max_tokens"),
                          step="tomato.llm_validate", prompt_hash=template_hash(TEMPLATE))
    try:
        reply = await llm.chat(request)
    except RequestFailed as error:
        return {"model": llm.label, "answer": None, "correct": None, "flagged": True, "error": error.reason}
    answer = reply.data["answer"]
    correct = LETTERS.index(answer) == record["a_idx"]
    return {"model": llm.label, "answer": answer, "correct": correct, "flagged": not correct}
