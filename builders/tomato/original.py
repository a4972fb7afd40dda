"""The original ToMATO release's published figures, and what the natural contract asks for from them.

Both are benchmark facts, not model limits (those are in builders/llm/profiles.yaml): the numbers,
the spec section each comes from and how the writing targets follow from them are in
data/original.json. figures.py compares a release with ORIGINAL; the role-play, scenario and judge
steps state `target_words(...)` in their prompts and reply schemas when the model's profile takes
natural prose.
"""

from __future__ import annotations

from pathlib import Path

from builders.figures import load_original

ORIGINAL = load_original(Path(__file__).parent)


def target_words(field: str) -> int:
    """Words a capable model is asked to write for `field` ("thought", "utterance", "scenario", "goal")."""
    targets = ORIGINAL["writing_targets"]
    if field not in targets or field.startswith("_"):
        known = ", ".join(k for k in targets if not k.startswith("_"))
        raise KeyError(f"no writing target {field!r} in builders/tomato/data/original.json; known: {known}")
    return targets[field]
