"""How LitCharToM asks its generator and its checker: the limits their model profiles set
(builders/llm/profiles.yaml, `litchartom.*`) and, for the natural contract, the lengths it states
(the original's figures, data/original.json `writing_targets`).

- strict (the embedded model): every text field is an anchored plain-word pattern that llama.cpp
  turns into a grammar (questions.py, triple_step.py), triples are asked one dimension at a time,
  and the wording rules (wording.py) refuse invented words, loops and unfinished endings.
- natural (capable models): schemas ask for structure only (keys, enums, the fixed frames as
  literal prefixes) and take any Unicode prose; the target lengths are stated in the prompt and in
  each property's description; only generous word bounds guard against runaway output. Triples come
  in one reply for all four dimensions, and a blind-check miss goes to a verifier (autocheck.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from builders.figures import load_original
from builders.llm.profiles import profile_of

HERE = Path(__file__).parent
# A released triple object has 3 to 12 words, whatever the model: fewer is a bare name or a fragment
# ("King Lear", "to know"), not a state of mind; more is a sentence, not the phrase the original's
# objects are (4-15 words in its README example, 9 on average). Each profile's
# `litchartom.object_words` can only narrow it (`Contract.triple_object_words`).
OBJECT_WORDS = (3, 12)


@dataclass(frozen=True)
class Targets:
    """Words asked per field under the natural contract (data/original.json `writing_targets`)."""

    plot_summary: int
    scenario: int
    mcq_scenario: int
    question: int
    option: int  # the whole option, frame included
    reasoning: int
    triple_object: int
    triples_per_dimension: tuple[int, int]


@cache
def load_targets() -> Targets:
    raw = {k: v for k, v in load_original(HERE)["writing_targets"].items() if not k.startswith("_")}
    raw["triples_per_dimension"] = tuple(raw["triples_per_dimension"])
    return Targets(**raw)


@dataclass(frozen=True)
class Contract:
    """One model's side of the LitCharToM requests (see the module doc and profiles.yaml)."""

    natural: bool
    triple_excerpt_chars: int
    question_excerpt_chars: int
    triple_max_tokens: int
    question_max_tokens: int
    blind_max_tokens: int
    verify_max_tokens: int
    object_words: tuple[int, int]
    option_words: tuple[int, int]  # after the frame
    question_words: tuple[int, int]  # after the frame
    sentence_words: tuple[int, int]  # an MCQ's Scenario and Reasoning
    option_length_ratio: float
    wording_checks: bool
    verify_blind_misses: bool
    targets: Targets

    @property
    def triple_object_words(self) -> tuple[int, int]:
        """The words a triple object may have: the release's bound, narrowed by the profile's."""
        return max(self.object_words[0], OBJECT_WORDS[0]), min(self.object_words[1], OBJECT_WORDS[1])

    @classmethod
    def of(cls, profile) -> Contract:
        def limit(name: str):
            value = profile.limit(f"litchartom.{name}")
            return tuple(value) if isinstance(value, list) else value

        names = ("triple_excerpt_chars", "question_excerpt_chars", "triple_max_tokens", "question_max_tokens",
                 "blind_max_tokens", "verify_max_tokens", "object_words", "option_words", "question_words",
                 "sentence_words", "option_length_ratio", "wording_checks", "verify_blind_misses")
        return cls(natural=profile.natural, targets=load_targets(), **{name: limit(name) for name in names})


def contract_of(model) -> Contract:
    """The contract of an LLM client (its profile, or the one its model string implies)."""
    return Contract.of(profile_of(model))


def words_outside(text: str, bounds: tuple[int, int], what: str) -> str | None:
    """A reason when `text` has fewer or more words than `bounds` allows, else None."""
    count = len(text.split())
    low, high = bounds
    if low <= count <= high:
        return None
    return f"{what} has {count} words (allowed {low}-{high})"
