"""What the right answer to a Moral RolePlay annotation question is, for the strong-model stand-in.

The stand-in (tests/support/standin.py) answers judge questions right at its accuracy only where
"right" is knowable; for the level questions it is, to a test that knows the build:
- a top-up scene's designed character is of the level of the deed the program chose for it
  (builders/moral_roleplay/data/synthetic.json), its partner a flawed but good person (level 2), and
  the play's cast has the levels a reader gives them (`CAST_LEVELS`); the answers are the ones the
  program's rule turns into that level;
- the traits of a settled level: the official trait table's commonest traits for it
  (data/trait_targets.json).
Without it the stand-in says "yes" to every question, which the rule turns into level 2.
"""

from __future__ import annotations

import re
from functools import cache

from builders.moral_roleplay.annotate import level_from_answers, level_rule
from builders.moral_roleplay.balance import trait_targets
from builders.moral_roleplay.synthetic import synthetic_inputs
from tests.support.standin import read_messages

CAST_LEVELS = {"Angelo": 4, "Lucio": 3, "Mistress Overdone": 3, "Pompey": 3, "Claudio": 2, "Duke Vincentio": 2,
               "Francisca": 2, "Isabella": 1, "Escalus": 1}


@cache
def answers_for(level: int) -> dict[str, str]:
    """Yes/no answers that the program's rule (data/level_rule.json) turns into `level`."""
    questions = level_rule().questions
    for mask in range(2 ** len(questions)):
        answers = {q: bool(mask >> i & 1) for i, q in enumerate(questions)}
        if level_from_answers(answers)[0] == level:
            return {q: "yes" if yes else "no" for q, yes in answers.items()}
    raise AssertionError(f"no answers give level {level}")


@cache
def typical_traits(level: int) -> tuple[str, ...]:
    """The official table's traits for `level`, commonest first."""
    counts = trait_targets(200)[level]
    return tuple(sorted((t for t in counts if counts[t] > 0), key=lambda t: -counts[t]))


def true_level(character: str, prompt: str) -> int:
    inputs = synthetic_inputs()
    if character in {pair[0] for pair in inputs["names"]}:  # designed: the level of the deed the program wrote
        return next(int(level) for level, deeds in inputs["deeds"].items() if any(d in prompt for d in deeds))
    if character in {pair[1] for pair in inputs["names"]}:
        return 2
    return CAST_LEVELS.get(character, 2)


def moral_oracle(body: dict, path: tuple, choices: list):
    prompt = read_messages(body).last_user
    character = re.search(r"^Character: (.+)$", prompt, re.MULTILINE)
    if character and path and path[-1] in level_rule().questions:
        return answers_for(true_level(character.group(1), prompt))[path[-1]]
    level = re.search(r"judged moral level (\d)", prompt)
    if level and len(path) == 2 and path[0] == "key_traits":
        allowed = [t for t in typical_traits(int(level.group(1))) if t in choices]
        return allowed[path[1]] if path[1] < len(allowed) else None
    return None
