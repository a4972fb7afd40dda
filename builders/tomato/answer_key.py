"""ToMATO's answer key as the release dealer and the shortcut audit see it (builders/answer_key.py,
builders/audit.py).

Each record is one 4-option question: options a0-a3, gold at a_idx. The dealer balances gold
positions per stratum, and the spec wants each position at 23-27% "in every file": the released
configs are all, first_order (order 1), second_order (order 2) and false_belief (a subset of order
2). So the strata are order 1, the order-2 false beliefs, and the other order-2 items: each
stratum holds each position a quarter of the time up to one item, so every config does up to one
item per stratum it unites (false_belief 1, first_order 1, second_order 2, all 3).

`place` reorders the options and everything that names an option by its position: a_idx, the
provenance's option_sources (one per option, in option order) and the blind check's answer letter
(--llm-validate). The item judges name distractors by the u_id of their thought, not by position,
so their verdicts need no change.
"""

from __future__ import annotations

from builders.answer_key import AnswerKey, Slot, reorder
from builders.audit import MCItem

OPTIONS = ("a0", "a1", "a2", "a3")
LETTERS = "ABCD"


def stratum(record: dict) -> str:
    if record["order"] == 1:
        return "order 1"
    return "order 2, false belief" if record["false_belief"] is True else "order 2, other"


def slots(record: dict) -> list[Slot]:
    return [Slot(stratum=stratum(record), options=len(OPTIONS), gold=record["a_idx"])]


def place(record: dict, slot_index: int, order: list[int]) -> dict:
    """The record with new option j = old option order[j] (a new dict; the input is left alone)."""
    options = reorder([record[key] for key in OPTIONS], order)
    provenance = dict(record["provenance"])
    provenance["option_sources"] = reorder(provenance["option_sources"], order)
    provenance["llm_validation"] = _moved_answer(provenance.get("llm_validation"), order)
    return {**record, **dict(zip(OPTIONS, options)), "a_idx": order.index(record["a_idx"]),
            "provenance": provenance}


def _moved_answer(check: dict | None, order: list[int]) -> dict | None:
    """The blind check's answer letter, naming the same option at its new position."""
    if not check or check.get("answer") is None:
        return check
    return {**check, "answer": LETTERS[order.index(LETTERS.index(check["answer"]))]}


ANSWER_KEY = AnswerKey(slots=slots, place=place)


def mc_items(record: dict) -> list[MCItem]:
    """The question as the shortcut audit sees it: the options against the question and the
    conversation (the transcript every question shows)."""
    return [MCItem(question=record["q"], context=record["conversation"],
                   options=tuple(record[key] for key in OPTIONS), gold=record["a_idx"])]
