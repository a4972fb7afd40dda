"""Environments: the shared scenario and one private goal per agent, written by the LLM from a seed.

The model rewrites a seed from data/scenarios.json (structured output). Its text is checked: the
two goals must differ, and neither may be readable from the scenario, because the scenario is
shown to both agents while each goal is private. A failing answer is re-asked with a new sample
index a bounded number of times; after that the seed's own text is used and the fallback is
recorded in provenance.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash
from builders.tomato.ids import ulid_from_card
from builders.tomato.seeds import ScenarioSeed
from builders.tomato.textutil import content_words, jaccard, normalise

TEMPLATE = "tomato/scenario.j2"

ENVIRONMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "scenario": {"type": "string", "minLength": 40, "maxLength": 400},
        "goal_a": {"type": "string", "minLength": 15, "maxLength": 200},
        "goal_b": {"type": "string", "minLength": 15, "maxLength": 200},
    },
    "required": ["scenario", "goal_a", "goal_b"],
    "additionalProperties": False,
}

MAX_GOAL_SIMILARITY = 0.6  # content-word Jaccard between the two goals
MAX_GOAL_LEAK = 0.5  # share of a goal's content words that the scenario also contains


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
    prompt = render(TEMPLATE, seed=seed)
    problems = []
    for sample in range(max_attempts):
        request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=ENVIRONMENT_SCHEMA,
                              temperature=temperature, max_tokens=320, sample=sample,
                              step="tomato.scenario", prompt_hash=template_hash(TEMPLATE))
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
