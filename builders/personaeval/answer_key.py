"""How the release's answer key sees a PersonaEval row: one question, its candidates, where `gt` is.

The gold position is not the builder's: builders/answer_key.py deals it over the whole release from
the owner's private salt, per track (the spec's "25% +-1 item per track"), once the rows are final.
The builder leaves every row with the gold first and the distractors in the order they were chosen;
`place` then moves the candidates, and with them everything that names a candidate by its position:

- `option1..N` and `option1_profile..N` (N = 4 here; 5 in an Expertise-shaped track);
- `gold_index` (0-based slot of `gt`; `gt` itself is the name and stays);
- `prompt`, whose candidate list and answer-format line list the names in option order: it is
  rendered again exactly as the builder renders it (records.render_prompt_from);
- `provenance.options` (per candidate: name, character id, distractor kind, profile provenance)
  and `provenance.gender.options` (per candidate: gender and its basis).
"""

from __future__ import annotations

from builders.answer_key import AnswerKey, Slot, reorder
from builders.personaeval.records import MAX_OPTIONS, render_prompt_from


def candidate_count(record: dict) -> int:
    """4 for Drama and Literary (option5 empty), 5 for a track that fills option5."""
    return sum(1 for slot in range(1, MAX_OPTIONS + 1) if record[f"option{slot}"])


def slots(record: dict) -> list[Slot]:
    """One question per row, balanced with the other rows of its track."""
    return [Slot(stratum=record["track"], options=candidate_count(record), gold=record["gold_index"])]


def place(record: dict, slot_index: int, order: list[int]) -> dict:
    """The row with candidate j taken from old candidate order[j] (a new dict; see the module doc)."""
    count = len(order)
    numbers = range(1, count + 1)
    names = reorder([record[f"option{i}"] for i in numbers], order)
    profiles = reorder([record[f"option{i}_profile"] for i in numbers], order)
    provenance = record["provenance"]
    gender = provenance["gender"]
    placed = {**record, "gold_index": order.index(record["gold_index"]),
              "provenance": {**provenance, "options": reorder(provenance["options"], order),
                             "gender": {**gender, "options": reorder(gender["options"], order)}}}
    for i, name, profile in zip(numbers, names, profiles):
        placed[f"option{i}"] = name
        placed[f"option{i}_profile"] = profile
    placed["prompt"] = render_prompt_from(placed)
    return placed


ANSWER_KEY = AnswerKey(slots=slots, place=place)
