"""Combos: (scenario seed, agent A, agent B) triples, dealt in a deterministic, seeded order.

Scenario seeds are used round-robin in seeded shuffles, so environments repeat across combos as in
the original (about 40 scenarios under 160 combos). Agents take their personalities from one
balanced pattern stream (personas.balanced_patterns), two per combo.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Iterator

from builders.tomato.ids import combo5, ulid_from_card
from builders.tomato.personas import Agent, balanced_patterns, sample_agent
from builders.tomato.seeds import ScenarioSeed, Seeds


@dataclass(frozen=True)
class Combo:
    index: int
    id: str  # synthetic ULID; its last 5 characters appear in q_id
    scenario_seed: ScenarioSeed
    agent_a: Agent  # speaks first, thinks about its own mental state
    agent_b: Agent  # answers, thinks about agent A's mental state

    @property
    def combo5(self) -> str:
        return combo5(self.id)


def scenario_order(seed: int, scenarios: tuple[ScenarioSeed, ...]) -> Iterator[ScenarioSeed]:
    for round_index in itertools.count():
        order = list(scenarios)
        random.Random(f"tomato-scenarios:{seed}:{round_index}").shuffle(order)
        yield from order


def iter_combos(seed: int, seeds: Seeds) -> Iterator[Combo]:
    """An endless, deterministic stream of combos; the caller takes as many as it needs.

    combo5 values are kept unique (a clash re-salts the hash), because q_id must be unique.
    """
    patterns = balanced_patterns(seed)
    scenarios = scenario_order(seed, seeds.scenarios)
    used_combo5: set[str] = set()
    for index in itertools.count():
        rng = random.Random(f"tomato-combo:{seed}:{index}")
        agent_a = sample_agent(rng, seeds, next(patterns), avoid_first_names=set())
        agent_b = sample_agent(rng, seeds, next(patterns), avoid_first_names={agent_a.first_name})
        scenario_seed = next(scenarios)
        combo_id = _unique_combo_id(scenario_seed, agent_a, agent_b, index, used_combo5)
        used_combo5.add(combo5(combo_id))
        yield Combo(index, combo_id, scenario_seed, agent_a, agent_b)


def _unique_combo_id(scenario_seed: ScenarioSeed, a: Agent, b: Agent, index: int, used: set[str]) -> str:
    for salt in itertools.count():
        combo_id = ulid_from_card({"scenario_seed": scenario_seed.id, "agents": [a.id, b.id],
                                   "index": index, "salt": salt})
        if combo5(combo_id) not in used:
            return combo_id
    raise AssertionError("unreachable")
