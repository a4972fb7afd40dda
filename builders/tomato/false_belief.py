"""False-belief labels for order-2 items (spec §5 Step 6).

For the item at u_id (odd, agent B), compare A's first-order thought at u_id - 1 (A's latest
message) with B's second-order thought at u_id about the same mental state. Each configured judge
sees only the two thoughts, the names and the state, so a fluent transcript cannot sway it.

The label needs judgment, so only judges fit to judge decide it (their profile says `judge: true`,
builders/llm/profiles.yaml). It is three-valued:
- true: every judge answered "incompatible";
- false: a judge answered "compatible" (the rule can no longer hold, whatever the others say);
- None, "not judged": a judge is unfit (then none is asked: a verdict nobody may trust is not worth
  paying for), or a judge's request failed before any said "compatible". The audit kept in
  provenance says why (`judged: false`, `reason`), and keeps the compared pair so that a fit judge
  can decide the label later.
The reason's bound and the reply size come from the judge's profile (tomato.false_belief_*).
"""

from __future__ import annotations

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.prompts import render, template_hash
from builders.tomato.conversation import Conversation
from builders.tomato.vocab import STATE_NOUNS

TEMPLATE = "tomato/false_belief.j2"
RULE = "true when every judge says incompatible; false when a judge says compatible; otherwise not judged"


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


def unfit_judges(judges) -> str | None:
    """Why these judges may not decide false beliefs, or None when every one of them may."""
    if not judges:
        return "no judge model was given"
    unfit = [(judge.label, profile_of(judge)) for judge in judges if not profile_of(judge).judge]
    if not unfit:
        return None
    return "; ".join(f"judge {label} (profile {profile.name}) is not fit to judge: {profile.judge_note_for('tomato')}"
                     for label, profile in unfit)


def not_judged(conversation: Conversation, u_id: int, reason: str) -> tuple[None, dict]:
    """(None, the audit) of an order-2 item whose false belief no fit judge decided."""
    return None, {"compared": compared_pair(conversation, u_id), "verdicts": [], "rule": RULE, "judged": False,
                  "reason": reason}


async def judge_false_belief(judges, conversation: Conversation, u_id: int) -> tuple[bool | None, dict]:
    """(false_belief, the audit record kept in provenance) for the order-2 item at `u_id`."""
    reason = unfit_judges(judges)
    if reason is not None:
        return not_judged(conversation, u_id, reason)
    pair = compared_pair(conversation, u_id)
    verdicts = [await ask_judge(judge, conversation, pair) for judge in judges]
    audit = {"compared": pair, "verdicts": verdicts, "rule": RULE, "judged": True, "reason": None}
    if any(v.get("compatible") is True for v in verdicts):
        return False, audit
    failed = [v for v in verdicts if "error" in v]
    if failed:
        reason = "; ".join(f"the request to judge {v['model']} failed ({v['error']})" for v in failed)
        return None, {**audit, "judged": False, "reason": reason}
    return True, audit
