"""How the release's answer key sees a LitCharToM record: its questions, their options, the gold.

Gold letters are not the builder's: builders/answer_key.py deals them over the whole release from
the owner's private salt, once the records are final, per record kind and dimension (the spec's
"each letter 25% +-1 item per file and dimension": `current` and `ood` are the two files). The
builder leaves every question with its gold as "A" and the distractors in the order they were
chosen; `place` then re-letters one question, and with it everything that names an option by its
letter or position:

- the options ("A. ...".."D. ...") and the answer letter (`Correct Answer` of a `qa_data` item;
  `correct_answer` of an OOD record);
- the question's provenance per option: `option_types` (listed in option order) and the `option`
  letter of each `distractor_sources` entry (listed in letter order);
- for an OOD record, the rendered prompt, whose CANDIDATE CHOICES list the options (rendered again
  from the record exactly as the builder renders it), and the assistant message "Answer: <letter>".

What names the checker's own order (`blind_answer`, `blind_gold`) stays: the checker was shown a
seeded order of its own, never the released one.
"""

from __future__ import annotations

from builders.answer_key import AnswerKey, Slot, reorder
from builders.litchartom.records import (
    LETTERS,
    WRAPPER_KEY,
    answer_message,
    lettered,
    ood_prompt,
    ood_prompt_fields,
)


def slots(record: dict) -> list[Slot]:
    """A current record's four questions in `qa_data` order; an OOD record's one question."""
    if record["record_type"] == "ood":
        return [Slot(stratum=f"ood:{record['qa_type']}", options=len(LETTERS),
                     gold=LETTERS.index(record["correct_answer"]))]
    return [Slot(stratum=f"current:{label}", options=len(body["Options"]), gold=LETTERS.index(body["Correct Answer"]))
            for label, body in _questions(record)]


def place(record: dict, slot_index: int, order: list[int]) -> dict:
    """The record with question `slot_index`'s option j taken from its old option order[j]."""
    provenance = record["provenance"]
    questions = list(provenance["questions"])
    questions[slot_index] = _placed_provenance(questions[slot_index], order)
    placed = {**record, "provenance": {**provenance, "questions": questions}}
    if record["record_type"] == "ood":
        return _placed_ood(placed, order)
    items = list(record["qa_data"][WRAPPER_KEY])
    label, body = _questions(record)[slot_index]
    items[slot_index] = {**items[slot_index], label: _placed_body(body, order)}
    return {**placed, "qa_data": {**record["qa_data"], WRAPPER_KEY: items}}


def _questions(record: dict) -> list[tuple[str, dict]]:
    """(dimension label, MCQ body) of each `qa_data` item (parquet gives an item every label, the
    others null)."""
    return [next((label, body) for label, body in item.items() if body is not None)
            for item in record["qa_data"][WRAPPER_KEY]]


def _new_letter(old_letter: str, order: list[int]) -> str:
    return LETTERS[order.index(LETTERS.index(old_letter))]


def _relettered(options: list[str], order: list[int]) -> list[str]:
    return lettered(reorder([option[len("A. "):] for option in options], order))


def _placed_body(body: dict, order: list[int]) -> dict:
    return {**body, "Options": _relettered(body["Options"], order),
            "Correct Answer": _new_letter(body["Correct Answer"], order)}


def _placed_provenance(question: dict, order: list[int]) -> dict:
    sources = [{**source, "option": _new_letter(source["option"], order)} for source in question["distractor_sources"]]
    return {**question, "option_types": reorder(question["option_types"], order),
            "distractor_sources": sorted(sources, key=lambda source: source["option"])}


def _placed_ood(record: dict, order: list[int]) -> dict:
    fields = ood_prompt_fields(record)
    fields["options"] = _relettered(fields["options"], order)
    letter = _new_letter(record["correct_answer"], order)
    messages = [{**record["messages"][0], "content": ood_prompt(**fields)}]
    if len(record["messages"]) > 1:
        messages.append({**record["messages"][1], "content": answer_message(letter)})
    return {**record, "messages": messages, "correct_answer": letter}


ANSWER_KEY = AnswerKey(slots=slots, place=place)
