"""What the right answer to a Moral RolePlay annotation question is, for the strong-model stand-in.

The stand-in (tests/support/standin.py) answers judge questions right at its accuracy only where
"right" is knowable; for the level questions it is, to a test that knows the build:
- a top-up scene's designed character is of the level of the deed the program chose for it
  (builders/moral_roleplay/data/synthetic.json), its partner a flawed but good person (level 2), and
  the play's cast has the levels a reader gives them (`CAST_LEVELS`); the answers are the ones the
  program's rule turns into that level;
- the traits of a settled level: the official trait table's commonest traits for it
  (data/trait_targets.json);
- a scene's tone: a top-up scene's follows its deed (a paragon's Positive, a flawed good person's
  Neutral, an egoist's or a villain's Negative); a play's scene is read as Neutral.
Without it the stand-in says "yes" to every question, which contradicts itself (the rule asks one
question from both sides), so the annotation gives no level and the portrayal is not judged.
"""

from __future__ import annotations

import re
from functools import cache

from builders.moral_roleplay.annotate import level_from_answers, level_rule
from builders.moral_roleplay.balance import trait_targets
from builders.moral_roleplay.synthetic import SYNTHETIC_BOOK, synthetic_inputs
from builders.moral_roleplay.vocab import vocabulary
from tests.support.standin import read_messages

CAST_LEVELS = {"Angelo": 4, "Lucio": 3, "Mistress Overdone": 3, "Pompey": 3, "Claudio": 2, "Duke Vincentio": 2,
               "Francisca": 2, "Isabella": 1, "Escalus": 1}


# How a reader answers the rule's questions (data/level_rule.json) about a typical portrayal of each
# level: a villain harms, wants the harm and puts itself first; an egoist harms for its own gain; a
# flawed good person puts others first but is not blameless; a paragon is all of the good. A single
# wrong answer then moves the computed level by at most one, as a real annotator's slip would.
TYPICAL_ANSWERS = {
    1: {"harms": False, "malice": False, "goodwill": True, "puts_others_first": True, "puts_self_first": False,
        "blameless": True},
    2: {"harms": False, "malice": False, "goodwill": True, "puts_others_first": True, "puts_self_first": False,
        "blameless": False},
    3: {"harms": True, "malice": False, "goodwill": False, "puts_others_first": False, "puts_self_first": True,
        "blameless": False},
    4: {"harms": True, "malice": True, "goodwill": False, "puts_others_first": False, "puts_self_first": True,
        "blameless": False},
}


@cache
def answers_for(level: int) -> dict[str, str]:
    """Yes/no answers that the program's rule (data/level_rule.json) turns into `level`."""
    answers = TYPICAL_ANSWERS[level]
    if set(answers) != set(level_rule().questions) or level_from_answers(answers)[0] != level:
        raise AssertionError(f"the typical answers of level {level} no longer compute it; update TYPICAL_ANSWERS")
    return {q: "yes" if yes else "no" for q, yes in answers.items()}


TONE_OF_DEED = {1: "Positive", 2: "Neutral", 3: "Negative", 4: "Negative"}


@cache
def typical_traits(level: int) -> tuple[str, ...]:
    """The official table's traits for `level`, commonest first, with the traits a set of the level
    must hold (data/traits.json `requires_level`) after the first: the table's ten traits hold only
    Cruel of a villain's malice, so one wrong pick would leave a villain without any."""
    counts = trait_targets(200)[level]
    table = sorted((t for t in counts if counts[t] > 0), key=lambda t: -counts[t])
    required = [t for t in vocabulary().requires.get(level, {}).get("any_of", ()) if t not in table]
    return tuple(table[:2] + required + table[2:])


def deed_level(prompt: str) -> int | None:
    """The level of the top-up deed the program wrote into the scene shown in `prompt`, if any."""
    return next((int(level) for level, deeds in synthetic_inputs()["deeds"].items() if any(d in prompt for d in deeds)),
                None)


def true_level(character: str, prompt: str) -> int:
    """A play's cast by name; in a top-up scene (its book is the top-up one: a top-up partner may
    share a name with the play's cast, e.g. Lucio) the designed character has its deed's level."""
    inputs = synthetic_inputs()
    if f"Book: {SYNTHETIC_BOOK}" not in prompt and "Book:" in prompt:
        return CAST_LEVELS.get(character, 2)
    if character in {pair[0] for pair in inputs["names"]}:  # designed: the level of the deed the program wrote
        return deed_level(prompt)
    if character in {pair[1] for pair in inputs["names"]}:
        return 2
    return CAST_LEVELS.get(character, 2)


def moral_oracle(body: dict, path: tuple, choices: list):
    prompt = read_messages(body).last_user
    character = re.search(r"^Character: (.+)$", prompt, re.MULTILINE)
    if character and path and path[-1] in level_rule().questions:
        return answers_for(true_level(character.group(1), prompt))[path[-1]]
    if path == ("tone",):
        return TONE_OF_DEED.get(deed_level(prompt), "Neutral")
    level = re.search(r"judged moral level (\d)", prompt)
    if level and len(path) == 2 and path[0] == "key_traits":
        allowed = [t for t in typical_traits(int(level.group(1))) if t in choices]
        return allowed[path[1]] if path[1] < len(allowed) else None
    return None
