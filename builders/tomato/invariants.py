"""Cross-field invariants of the released records (spec §3.2), as record checks.

Each check takes a record and returns None when it holds, else a short error message. The pipeline
runs them after the JSON Schema (builders.validate.RecordValidator); `checks` lists them in order.
"""

from __future__ import annotations

import re

from builders.tomato.vocab import MENTAL_STATES, PRONOUNS, STATE_VERBS

LINE = re.compile(r'^[^:\n]+: "[^"\n]*"$')
Q_ID = re.compile(r"^(1st-order|2nd-order-belief-about)-([a-z]+)_([0-9A-Z]{5})_([0-9]+)$")
OPTIONS = ("a0", "a1", "a2", "a3")


def answer_matches_index(record: dict) -> str | None:
    if record["a_str"] != record[f"a{record['a_idx']}"]:
        return f"a_str differs from a{record['a_idx']}"
    return None


def options_distinct(record: dict) -> str | None:
    if len({record[k] for k in OPTIONS}) != 4:
        return "the four options are not pairwise distinct"
    return None


def order_matches_u_id(record: dict) -> str | None:
    expected = 1 if int(record["u_id"]) % 2 == 0 else 2
    if record["order"] != expected:
        return f"u_id {record['u_id']} needs order {expected}, got {record['order']}"
    return None


def false_belief_only_second_order(record: dict) -> str | None:
    if record["order"] == 1 and record["false_belief"] is not False:
        return f"false_belief is {record['false_belief']} on a first-order item (a false belief is order 2 only)"
    return None


def false_belief_decided_by_a_judge(record: dict) -> str | None:
    """An order-2 label is a fit judge's decision, or null with the reason no judge decided it."""
    if record["order"] == 1 or "provenance" not in record:
        return None  # compatibility records without provenance: nothing to compare against
    check = record["provenance"]["false_belief_check"]
    if check is None:
        return "an order-2 item has no false_belief_check in provenance"
    if record["false_belief"] is None and (check["judged"] or not check["reason"]):
        return "false_belief is null (not judged), but the check does not say why"
    if record["false_belief"] is not None and not check["judged"]:
        return f"false_belief is {record['false_belief']}, but no fit judge decided it"
    return None


def conversation_lines(record: dict) -> str | None:
    """16 lines: two greetings + 14 messages (fewer only in a --exchanges build, recorded in provenance)."""
    lines = record["conversation"].split("\n")
    expected = 2 + 2 * record.get("provenance", {}).get("exchanges", 7)
    if len(lines) != expected:
        return f"conversation has {len(lines)} lines, expected {expected}"
    for number, line in enumerate(lines):
        if not LINE.match(line):
            return f"conversation line {number} is not `Name: \"utterance\"`: {line[:80]!r}"
    return None


def question_quotes_target_line(record: dict) -> str | None:
    lines = record["conversation"].split("\n")
    index = int(record["u_id"]) + 2
    if index >= len(lines):
        return f"no conversation line {index}"
    utterance = lines[index].split(": ", 1)[1]  # still in its double quotes
    if utterance not in record["q"]:
        return f"q does not quote line {index} ({utterance[:60]!r})"
    return None


def big_five_is_speakers(record: dict) -> str | None:
    """Needs the agent cards of provenance, the only place the speaker's profile is written down."""
    cards = record.get("provenance", {}).get("agent_cards")
    if not cards:
        return None  # compatibility records without provenance: nothing to compare against
    speaker = cards[0] if record["order"] == 1 else cards[1]
    lines = record["conversation"].split("\n")
    name = lines[int(record["u_id"]) + 2].split(": ", 1)[0]
    if name != f"{speaker['first_name']} {speaker['last_name']}":
        return f"line {int(record['u_id']) + 2} is spoken by {name}, not by agent {record['order'] - 1}"
    if record["big_five"] != speaker["big_five"]:
        return "big_five is not the speaker's profile"
    return None


def q_id_matches_fields(record: dict) -> str | None:
    match = Q_ID.match(record["q_id"])
    if not match:
        return f"q_id {record['q_id']!r} is malformed"
    tag, state, _, u_id = match.groups()
    expected_tag = "1st-order" if record["order"] == 1 else "2nd-order-belief-about"
    if tag != expected_tag:
        return f"q_id tag {tag!r} does not match order {record['order']}"
    if state != record["mental_state"] or state not in MENTAL_STATES:
        return f"q_id mental state {state!r} differs from {record['mental_state']!r}"
    if u_id != record["u_id"]:
        return f"q_id u_id {u_id} differs from {record['u_id']}"
    return None


def options_framed_by_order(record: dict) -> str | None:
    """order 1: "<Pronoun> <verb> ..."; order 2: "<Pronoun> think(s) that <pronoun or name> <verb> ..."."""
    first, third = STATE_VERBS[record["mental_state"]]
    subjects = "|".join(p.subject.capitalize() for p in PRONOUNS.values())
    if record["order"] == 1:
        frame = re.compile(rf"^({subjects}) ({first}|{third})\b")
    else:
        frame = re.compile(rf"^({subjects}) (think|thinks) that [A-Za-z'-]+ ({first}|{third})\b")
    for key in OPTIONS:
        if not frame.match(record[key]):
            return f"{key} does not start with the order-{record['order']} frame: {record[key][:60]!r}"
    return None


def options_agree_with_subject(record: dict) -> str | None:
    """The original's "They thinks" / "they knows" agreement errors (spec §10 item 8) must not occur."""
    for key in OPTIONS:
        if re.search(r"\b[Tt]hey (thinks|feels|wants|knows|is|was)\b", record[key]):
            return f"{key} has a they/verb agreement error: {record[key][:60]!r}"
    return None


checks = (
    answer_matches_index,
    options_distinct,
    order_matches_u_id,
    false_belief_only_second_order,
    false_belief_decided_by_a_judge,
    conversation_lines,
    question_quotes_target_line,
    big_five_is_speakers,
    q_id_matches_fields,
    options_framed_by_order,
    options_agree_with_subject,
)
