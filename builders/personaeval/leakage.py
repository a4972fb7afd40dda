"""Leakage filters (spec section 6, step 3): an item is dropped when its shown text gives the answer.

The default policy is to drop, never to mask. The rules, checked on every shown turn (context,
turn t, turn t+1) in this order; the first that fires names the drop in the funnel:

- "names Character2": a name or alias of the gold speaker (vocatives in turn t, self-naming in
  turn t+1, title-stripped forms such as "Lear");
- "refers to Character2 by epithet": PDNC resolved a non-pronoun mention ("your sister") to the gold;
- "stage direction names Character2": a direction inside a shown speech names the gold. Prompts
  never show directions, but the words around such a direction ("[To LEAR] Sir, ...") point at him;
- "Character1's name contains Character2's": the prompt names Character1, so "Lady Macbeth"
  speaking to the hidden Macbeth would spell out the answer.

Distractors named in the shown turns are not a reason to drop: `distractors.py` never picks them.
The optional context line (work title, scene heading) is shown only when it names no character of
the work at all, a per-work decision that tells nothing about the candidates.
"""

from __future__ import annotations

from builders.personaeval.instances import Instance
from builders.personaeval.names import character_names, is_pronoun, names_in
from builders.sources import Section, Work

RULES = ("names Character2", "refers to Character2 by epithet", "stage direction names Character2",
         "Character1's name contains Character2's")


def leak_reason(work: Work, instance: Instance) -> str | None:
    """The first leakage rule the instance breaks, or None when it is clean."""
    gold_names = character_names(work, instance.gold)
    for turn in instance.shown_turns:
        if names_in(turn.text, gold_names) or (turn.repaired_text and names_in(turn.repaired_text, gold_names)):
            return RULES[0]
    for turn in instance.shown_turns:
        if any(instance.gold in mention.characters and not is_pronoun(mention.text) for mention in turn.mentions):
            return RULES[1]
    for turn in instance.shown_turns:
        if any(names_in(direction, gold_names) for direction in turn.directions):
            return RULES[2]
    if names_in(work.characters[instance.character1].name, gold_names):  # "Lady Macbeth" talking to Macbeth
        return RULES[3]
    return None


def characters_named_in(work: Work, text: str, candidates) -> set[str]:
    """Which of `candidates` (character ids) `text` names."""
    return {char_id for char_id in candidates if names_in(text, character_names(work, char_id))}


def context_line(work: Work, section: Section | None, characters) -> tuple[str, list[str]]:
    """The optional context shown before the dialogue, and what was left out of it and why.

    The title and the scene heading are each shown only when they name none of `characters`
    (every eligible character of the work): "King Lear" and "The Duke of Albany's palace" are
    left out, whoever the item's candidates are.
    """
    parts, omitted = [], []
    title = f"From {work.title}" + (f" by {work.author}" if work.author else "") + "."
    if characters_named_in(work, title, characters):
        omitted.append("work title")
    else:
        parts.append(title)
    if section is not None and work.kind != "novel":  # a novel's "CHAPTER VI." says nothing
        heading = section.title.strip()
        if characters_named_in(work, heading, characters):
            omitted.append("scene heading")
        elif heading:
            parts.append(f"Scene: {heading}")
    return " ".join(parts), omitted
