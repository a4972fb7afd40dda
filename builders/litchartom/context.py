"""What the generation prompts show of a plot: a conversation excerpt that fits the context."""

from __future__ import annotations

from builders.scenes import Plot

# llama.cpp's repetition penalty also counts the prompt's tokens, so at the server's 1.3 the model
# avoided the passage's own words and wrote invented ones ("desiesternemente"): 37 of 47 drafts
# failed the wording or leakage checks. Triples and drafts are short and grammar-bound, so nothing loops.
# Sent under the strict contract only: a llama.cpp setting that hosted models do not have.
REPEAT_PENALTY = 1.0


def excerpt(plot: Plot, character_id: str, *, max_chars: int) -> str:
    """ "NAME: words" lines of the plot's conversation, starting at the character's first turn
    (the earlier part, if any room is left), cut to `max_chars` at a turn boundary."""
    lines = [f"{u.speaker}: {' '.join(u.text.split())}" for u in plot.conversation]
    first = next((i for i, u in enumerate(plot.conversation) if u.speaker_id == character_id), 0)
    chosen, used = [], 0
    for line in lines[first:] + lines[:first][::-1]:
        if used + len(line) + 1 > max_chars:
            break
        chosen.append(line)
        used += len(line) + 1
    kept = set(chosen)
    return "\n".join(line for line in lines if line in kept) or lines[first][:max_chars]


def others_in_scene(plot: Plot, character_id: str, limit: int = 4) -> list[str]:
    return [k.name for k in plot.key_characters if k.id != character_id][:limit]
