"""Item judges (spec §5 Step 5): every question candidate is checked twice, by every judge.

- Consistency: the judge sees the scenario, the transcript up to and including utterance j and the
  speaker's thought; does the thought plausibly lead to the utterance? "no" rejects the item.
- Uniqueness: the judge sees the whole item with its answer key and names the other options that
  are just as valid for that moment; a non-empty list rejects the item. This catches distractors
  taken from later turns that already hold at turn j.

An item is kept only if every judge accepts both checks; a judge whose request fails has not
accepted (its error is the reason). Uniqueness is asked only once every judge has accepted
consistency, so an item costs at most one request per judge per check, and a rejected item no more
than it takes to reject it. Nothing here asks a judge to answer the question: filtering on whether
a model gets items right would keep the items its family finds easy (spec §5 Step 5).

The uniqueness judge sees the answer key apart from the three distractors, labelled A-C in their
sampled order, so the released answer position (dealt at release time: answer_key.py) plays no
part in it.
The reason's bound and the reply size come from each judge's profile (tomato.judge_*).
"""

from __future__ import annotations

import asyncio

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.prompts import render, template_hash
from builders.tomato.questions import Candidate

CHECKS = ("consistency", "uniqueness")
TEMPLATES = {check: f"tomato/{check}.j2" for check in CHECKS}
RULE = ("kept only if every judge accepts both checks; a failed judge request does not accept; "
        "uniqueness is asked only after every judge accepted consistency")
DISTRACTOR_LETTERS = "ABC"


def reason_schema(profile: ModelProfile) -> dict:
    reason = {"type": "string", "maxLength": profile.limit("tomato.judge_reason_chars")}
    if profile.natural:  # the bound only stops runaway text; the length wanted is said here
        reason["description"] = "One short sentence."
    return reason


def consistency_schema(profile: ModelProfile) -> dict:
    return {
        "type": "object",
        "properties": {"plausible": {"enum": ["yes", "no"]}, "reason": reason_schema(profile)},
        "required": ["plausible", "reason"],
        "additionalProperties": False,
    }


def uniqueness_schema(profile: ModelProfile) -> dict:
    return {
        "type": "object",
        "properties": {
            "also_valid": {"type": "array", "items": {"enum": list(DISTRACTOR_LETTERS)}, "uniqueItems": True,
                           "minItems": 0, "maxItems": len(DISTRACTOR_LETTERS)},
            "reason": reason_schema(profile),
        },
        "required": ["also_valid", "reason"],
        "additionalProperties": False,
    }


def consistency_prompt(candidate: Candidate) -> str:
    conversation = candidate.conversation
    lines = conversation.transcript().split("\n")
    up_to_j = lines[: 2 + candidate.u_id + 1]  # the two greetings come first
    return render(TEMPLATES["consistency"], scenario=conversation.environment.scenario,
                  transcript="\n".join(up_to_j), speaker=candidate.speaker.full_name,
                  thought=candidate.gold.thought, utterance=conversation.turns[candidate.u_id].utterance)


def uniqueness_prompt(candidate: Candidate) -> str:
    return render(TEMPLATES["uniqueness"], conversation=candidate.conversation.transcript(),
                  question=candidate.question, answer=candidate.gold.text,
                  others=[option.text for option in candidate.distractors], letters=DISTRACTOR_LETTERS)


def verdict_of_consistency(data: dict, candidate: Candidate) -> dict:
    return {"accepted": data["plausible"] == "yes", "verdict": data["plausible"], "also_valid": None}


def verdict_of_uniqueness(data: dict, candidate: Candidate) -> dict:
    """also_valid names distractors by the u_id their thought comes from (as option_sources does),
    since the letters only meant something in the judge's view."""
    letters = sorted(set(data["also_valid"]))
    also_valid = [candidate.distractors[DISTRACTOR_LETTERS.index(letter)].u_id for letter in letters]
    return {"accepted": not also_valid, "verdict": "unique" if not also_valid else "not unique",
            "also_valid": also_valid}


STEPS = {
    "consistency": (consistency_prompt, consistency_schema, verdict_of_consistency),
    "uniqueness": (uniqueness_prompt, uniqueness_schema, verdict_of_uniqueness),
}


async def ask_judge(judge, check: str, candidate: Candidate) -> dict:
    """One judge's verdict on one check; every key is always present so the records keep one shape."""
    make_prompt, make_schema, read_verdict = STEPS[check]
    profile = profile_of(judge)
    request = ChatRequest(messages=[{"role": "user", "content": make_prompt(candidate)}], schema=make_schema(profile),
                          temperature=0.0, max_tokens=profile.limit("tomato.judge_max_tokens"), step=f"tomato.{check}",
                          prompt_hash=template_hash(TEMPLATES[check]))
    verdict = {"check": check, "model": judge.label}
    try:
        reply = await judge.chat(request)
    except RequestFailed as error:
        return {**verdict, "accepted": False, "verdict": None, "also_valid": None, "reason": None,
                "request_hash": None, "error": error.reason}
    return {**verdict, **read_verdict(reply.data, candidate), "reason": reply.data["reason"],
            "request_hash": reply.provenance.get("request_hash", ""), "error": None}


async def judge_item(judges, candidate: Candidate) -> dict:
    """The audit kept in provenance: {"checks" (those asked), "rule", "accepted", "verdicts"}.

    The judges answer one check concurrently; the next check is asked only if all of them accepted."""
    asked, verdicts = [], []
    for check in CHECKS:
        asked.append(check)
        verdicts += await asyncio.gather(*(ask_judge(judge, check, candidate) for judge in judges))
        if not verdicts or not all(v["accepted"] for v in verdicts):
            break
    return {"checks": asked, "rule": RULE, "accepted": bool(verdicts) and all(v["accepted"] for v in verdicts),
            "verdicts": verdicts}


def failed_checks(audit: dict) -> list[str]:
    """The checks (in CHECKS order) that at least one judge did not accept; at most one, since a
    rejected check ends the judging."""
    return [check for check in CHECKS if any(not v["accepted"] for v in audit["verdicts"] if v["check"] == check)]


def rejection_reason(audit: dict) -> str:
    """"consistency: ..." naming every judge that did not accept; the part before the colon is the
    class the build report's reject summary counts."""
    details = []
    for verdict in audit["verdicts"]:
        if verdict["accepted"]:
            continue
        if verdict["error"] is not None:
            details.append(f"request to {verdict['model']} failed ({verdict['error']})")
        else:
            details.append(f"{verdict['model']} said {verdict['verdict']!r} ({verdict['reason']})")
    return f"{', '.join(failed_checks(audit))}: {'; '.join(details)}"
