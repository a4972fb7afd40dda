"""False-belief labels for order-2 items (spec §5 Step 6).

For the item at u_id (odd, agent B), compare A's first-order thought at u_id - 1 (A's latest
message) with B's second-order thought at u_id about the same mental state. Each configured judge
sees only the two thoughts, the names and the state, so a fluent transcript cannot sway it.
`false_belief` is true only when every judge answered and every judge said "incompatible"; a judge
that fails counts as no verdict, which keeps the label false. The reason's bound and the reply size
come from the judge's profile (tomato.false_belief_*).
"""

from __future__ import annotations

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.prompts import render, template_hash
from builders.tomato.conversation import Conversation
from builders.tomato.vocab import STATE_NOUNS

TEMPLATE = "tomato/false_belief.j2"


def verdict_schema(profile: ModelProfile) -> dict:
    reason = {"type": "string", "maxLength": profile.limit("tomato.false_belief_reason_chars")}
    if profile.natural:  # the bound only stops runaway text; the length wanted is said here
        reason["description"] = "One short sentence."
    return {
        "type": "object",
        "properties": {"compatible": {"type": "boolean"}, "reason": reason},
        "required": ["compatible", "reason"],
        "additionalProperties": False,
    }


def compared_pair(conversation: Conversation, u_id: int) -> dict:
    if u_id % 2 == 0:
        raise ValueError(f"u_id {u_id} is a first-order item; false beliefs are judged on odd u_ids only")
    return {"a_u_id": u_id - 1, "a_thought": conversation.turns[u_id - 1].thought,
            "b_u_id": u_id, "b_thought": conversation.turns[u_id].thought}


async def ask_judge(judge, conversation: Conversation, pair: dict, *, temperature: float = 0.0) -> dict:
    """One judge's verdict: {"model", "compatible", "reason", "request_hash"} or {"model", "error"}."""
    a, b = conversation.combo.agent_a, conversation.combo.agent_b
    prompt = render(TEMPLATE, a_name=a.first_name, b_name=b.first_name, a_possessive=a.pronouns.possessive,
                    noun=STATE_NOUNS[conversation.state], a_thought=pair["a_thought"], b_thought=pair["b_thought"])
    profile = profile_of(judge)
    request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=verdict_schema(profile),
                          temperature=temperature, max_tokens=profile.limit("tomato.false_belief_max_tokens"),
                          step="tomato.false_belief", prompt_hash=template_hash(TEMPLATE))
    try:
        reply = await judge.chat(request)
    except RequestFailed as error:
        return {"model": judge.label, "error": error.reason}
    return {"model": judge.label, "compatible": reply.data["compatible"], "reason": reply.data["reason"],
            "request_hash": reply.provenance.get("request_hash", "")}


async def judge_false_belief(judges, conversation: Conversation, u_id: int) -> tuple[bool, dict]:
    """(false_belief, the audit record kept in provenance) for the order-2 item at `u_id`."""
    pair = compared_pair(conversation, u_id)
    verdicts = [await ask_judge(judge, conversation, pair) for judge in judges]
    false_belief = bool(verdicts) and all(v.get("compatible") is False for v in verdicts)
    return false_belief, {"compared": pair, "verdicts": verdicts, "rule": "all judges say incompatible"}
