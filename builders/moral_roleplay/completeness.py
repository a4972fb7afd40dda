"""Scene completeness (spec Step C): the LLM's 1-5 rating, a structural measure, or the lower of both.

The spec asks an LLM to rate completeness 1-5 and drops scenes rated 3 or below. Measured on the
embedded model (SmolLM2-135M): it rates almost every scene 1, so nothing survives; its rating says
nothing about the scene. The structural measure is computed by the program from five checks and
scores the number that pass (at least 1), on the same 1-5 scale and threshold:

1. at least 9 turns (CoSER's minimum);
2. an exchange: at least two characters with two or more turns each;
3. at least one Environment turn;
4. a scenario of 14-199 words (CoSER's range starts at 14; the spec's limit is under 200);
5. the scene ends where its episode ends: the last window of a play scene, a PDNC quote group
   that is not followed by another quote of the group; for an original (top-up) scene, always,
   since its dialogue is written whole with a closing line.

`--completeness-from` picks the measure (default `structure`); `llm` is the spec's rating and `both`
the lower of the two. The released `completeness` field holds the chosen measure; provenance keeps
both numbers and the failed checks, and the card says which was used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from builders.moral_roleplay.coser import ENVIRONMENT

MODES = ("structure", "llm", "both")
DEFAULT_MODE = "structure"
MIN_TURNS = 9
MIN_SCENARIO_WORDS, MAX_SCENARIO_WORDS = 14, 199


@dataclass(frozen=True)
class Completeness:
    value: int  # what the scene's `completeness` field holds (1-5)
    llm: int  # the LLM's rating
    structure: int  # the structural score
    failed_checks: tuple[str, ...]
    mode: str

    def provenance(self) -> dict:
        return {"mode": self.mode, "llm": self.llm, "structure": self.structure,
                "failed_checks": list(self.failed_checks)}


def structural_checks(speakers: list[str], scenario: str, *, ends_episode: bool) -> dict[str, bool]:
    """The five checks, by name, for a scene whose turns are spoken by `speakers` (in order)."""
    turns = Counter(speakers)
    exchanging = [name for name, count in turns.items() if name != ENVIRONMENT and count >= 2]
    words = len(scenario.split())
    return {
        f"at least {MIN_TURNS} turns": len(speakers) >= MIN_TURNS,
        "two characters with 2+ turns each": len(exchanging) >= 2,
        "an Environment turn": turns[ENVIRONMENT] > 0,
        f"a scenario of {MIN_SCENARIO_WORDS}-{MAX_SCENARIO_WORDS} words": (
            MIN_SCENARIO_WORDS <= words <= MAX_SCENARIO_WORDS),
        "ends where its episode ends": ends_episode,
    }


def measure(mode: str, llm_rating: int, speakers: list[str], scenario: str, *, ends_episode: bool) -> Completeness:
    if mode not in MODES:
        raise ValueError(f"completeness mode {mode!r}: use one of {', '.join(MODES)}")
    checks = structural_checks(speakers, scenario, ends_episode=ends_episode)
    structure = max(1, sum(checks.values()))
    value = {"structure": structure, "llm": llm_rating, "both": min(structure, llm_rating)}[mode]
    return Completeness(value=value, llm=llm_rating, structure=structure,
                        failed_checks=tuple(name for name, passed in checks.items() if not passed), mode=mode)


def ends_episode(work, scene, gap_chars: int) -> bool:
    """Whether no speech of the same episode follows the scene: the next speech of the work is in
    another section, or (novels) further than `gap_chars` of narration away."""
    following = [t for t in work.turns if t.speaker is not None and t.span[0] >= scene.span[1]]
    if not following:
        return True
    after = min(following, key=lambda t: t.span[0])
    other_section = (after.section or "all") != scene.section_id  # windows.py groups sectionless quotes as "all"
    if work.kind == "novel":
        return other_section or after.span[0] - scene.span[1] > gap_chars
    return other_section
