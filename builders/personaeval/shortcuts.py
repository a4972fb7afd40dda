"""A PersonaEval row as the shortcut audit sees it (builders/audit.py): can the hidden speaker be
found without doing the task?

- question: Character2's reply, the turn whose speaker is asked for. Word overlap between it and a
  candidate is the cue a judge should not be able to win on: a profile repeating the reply's words.
- context: everything the prompt shows before the candidates: the context line (work, scene) and
  every shown turn with its label, Character1's name included. Overlap with it catches a profile
  that names Character1 or echoes the exchange, e.g. "close to Macbeth" when Macbeth is speaking.
- options: each candidate's name and profile, as the prompt lists them. The name stays in: an
  option-only classifier that learns that leading characters (those with many lines) are more often
  the gold, or a length cue between profiles (they are length-matched to within 1.25), would find
  the answer without reading the exchange; leaving the name out would hide the first cue.
"""

from __future__ import annotations

from builders.audit import MCItem
from builders.personaeval.answer_key import candidate_count


def mc_items(record: dict) -> list[MCItem]:
    provenance = record["provenance"]
    turns = provenance["dialogue"]
    reply = next(turn["text"] for turn in turns if turn["role"] == "character2")
    shown = "\n".join([provenance["context_line"], *(f"{turn['label']}: {turn['text']}" for turn in turns)])
    options = tuple(f"{record[f'option{i}']}\n{record[f'option{i}_profile']}"
                    for i in range(1, candidate_count(record) + 1))
    return [MCItem(question=reply, context=shown.strip(), options=options, gold=record["gold_index"])]
