"""Environments: the shared scenario and one private goal per agent, written by the LLM from a seed.

The model rewrites a seed from data/scenarios.json (structured output). Its text is checked: the
two goals must differ, and neither may be readable from the scenario, because the scenario is
shown to both agents while each goal is private. A failing answer is re-asked (flagged `reask`)
with a new sample index a bounded number of times; after that the seed's own text is used and the
fallback is recorded in provenance.

The reply's length bounds come from the model's profile (tomato.scenario_chars, goal_chars); a
capable model (natural contract) is also told the lengths wanted, in the prompt and the schema's
descriptions (original.py), and its bounds only stop runaway text.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.prompts import render, template_hash
from builders.tomato.ids import ulid_from_card
from builders.tomato.original import target_words
from builders.tomato.seeds import ScenarioSeed
from builders.tomato.textutil import content_words, jaccard, normalise

TEMPLATE = "tomato/scenario.j2"
MAX_GOAL_SIMILARITY = 0.6  # content-word Jaccard between the two goals
MAX_GOAL_LEAK = 0.5  # share of a goal's content words that the scenario also contains


def environment_schema(profile: ModelProfile) -> dict:
    """The reply schema: three strings within the profile's bounds, described for a capable model."""
    scenario = _text(profile.limit("tomato.scenario_chars"))
    goal = _text(profile.limit("tomato.goal_chars"))
    if profile.natural:
        scenario["description"] = (f"Two or three sentences of about {target_words('scenario')} words in all: the "
                                   "situation both people know, with no names, no gendered words and no goal.")
        goal["description"] = (f"One sentence of about {target_words('goal')} words: this person's private goal, "
                               'addressed to them as "you".')
    return {
        "type": "object",
        "properties": {"scenario": scenario, "goal_a": goal, "goal_b": dict(goal)},
        "required": ["scenario", "goal_a", "goal_b"],
        "additionalProperties": False,
    }


def _text(bounds: list[int]) -> dict:
    low, high = bounds
    return {"type": "string", "minLength": low, "maxLength": high}


@dataclass(frozen=True)
class Environment:
    scenario: str
    goals: tuple[str, str]  # goals[0] is agent A's, goals[1] agent B's
    seed_id: str
    source: str  # "llm" or "seed" (the fallback)
    attempts: int  # LLM requests made for it
    problems: tuple[str, ...]  # why rejected attempts were rejected

    def card(self) -> dict:
        return {"scenario": self.scenario, "agent_goals": list(self.goals)}

    @property
    def id(self) -> str:
        return ulid_from_card(self.card())


def environment_problem(scenario: str, goal_a: str, goal_b: str) -> str | None:
    """Why a written environment is unusable, or None when it is fine."""
    if normalise(goal_a) == normalise(goal_b):
        return "the two goals are identical"
    if jaccard(content_words(goal_a), content_words(goal_b)) > MAX_GOAL_SIMILARITY:
        return "the two goals are near-duplicates"
    scenario_words = content_words(scenario)
    for name, goal in (("goal_a", goal_a), ("goal_b", goal_b)):
        if normalise(goal) in normalise(scenario):
            return f"{name} is written out in the scenario"
        goal_words = content_words(goal)
        if goal_words and len(goal_words & scenario_words) / len(goal_words) > MAX_GOAL_LEAK:
            return f"{name} is readable from the scenario"
    return None


async def write_environment(llm, seed: ScenarioSeed, *, max_attempts: int = 3,
                            temperature: float = 0.7) -> Environment:
    """An Environment for one scenario seed: LLM-written when a valid answer comes back, else the seed's."""
    profile = profile_of(llm)
    prompt = render(TEMPLATE, seed=seed, natural=profile.natural,
                    words={"scenario": target_words("scenario"), "goal": target_words("goal")})
    problems = []
    for sample in range(max_attempts):
        request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=environment_schema(profile),
                              temperature=temperature, max_tokens=profile.limit("tomato.scenario_max_tokens"),
                              sample=sample, step="tomato.scenario", prompt_hash=template_hash(TEMPLATE),
                              reask=sample > 0)
        try:
            reply = await llm.chat(request)
        except RequestFailed as error:
            problems.append(f"request failed: {error.reason}")
            continue
        data = {key: " ".join(value.split()) for key, value in reply.data.items()}
        problem = environment_problem(data["scenario"], data["goal_a"], data["goal_b"])
        if problem is None:
            return Environment(data["scenario"], (data["goal_a"], data["goal_b"]), seed.id, "llm",
                               sample + 1, tuple(problems))
        problems.append(problem)
    return Environment(seed.scenario, seed.goals, seed.id, "seed", max_attempts, tuple(problems))


def seed_environment(seed: ScenarioSeed) -> Environment:
    """The seed's own text, without asking a model (used with --no-scenario-llm)."""
    return Environment(seed.scenario, seed.goals, seed.id, "seed", 0, ())
