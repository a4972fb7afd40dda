"""The shortcut audit of a Moral RolePlay release (builders/label_audit.py): can the moral level of a
test portrayal be predicted without judging the portrayal?

Per-level fidelity scores are the benchmark's result, so anything that differs between levels by
construction is a confound. The cues, each alone:
- origin (a play or novel vs an LLM-written top-up scene): when the sources fill some levels and the
  top-up the others, origin names the level (see balance.py's origin balance);
- book (a work, or the top-up scenes' one "book");
- the character's profile text;
- the scene's opening Environment line: a play's place heading, or in a top-up scene the stage
  direction followed by the deed the program wrote into it, which was chosen for the level.
Only test portrayals with a level are audited (a portrayal "not judged" has none).
"""

from __future__ import annotations

from builders.audit import FOLDS
from builders.label_audit import Cue, audit_labels
from builders.moral_roleplay.coser import ENVIRONMENT

UNIT = "test portrayals (moral level labels)"


def opening_environment_line(record: dict) -> str:
    return next((turn["message"] for turn in record["dialogues"] if turn["character"] == ENVIRONMENT), "")


def audit(records: list[dict]) -> dict:
    test = [r for r in records if r["test"] and r["level"] is not None]
    cues = [
        Cue("origin (source or top-up) -> level", "category", [r["origin"] for r in test]),
        Cue("book -> level", "category", [r["book"] for r in test]),
        Cue(f"profile text alone (TF-IDF + logistic regression, {FOLDS}-fold) -> level", "text",
            [r["character_profiles"][r["name"]] for r in test]),
        Cue(f"opening Environment line alone (TF-IDF + logistic regression, {FOLDS}-fold) -> level", "text",
            [opening_environment_line(r) for r in test]),
    ]
    return audit_labels([r["level"] for r in test], cues, majority_name="majority level (chance)", unit=UNIT)
