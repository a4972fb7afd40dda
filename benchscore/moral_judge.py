"""Judging a simulated scene and turning its flaws into fidelity scores (moral_roleplay.md §9.2-9.3).

One judge call per scene, dimension Character Fidelity only: a literary critic reads the book,
plot summary, scenario, profiles, the original conversation and the major characters' key traits,
and lists "Personality Trait Inconsistency" flaws of the simulated conversation, each tied to a
character with a severity from 1 to 5 (missing: 1).

The reply is structured output validated by the LLM layer, with bounded re-asks: malformed judge
JSON fails that scene's judging (counted), where the original crashed (§10 item 3) or looped
forever on empty replies (§10 item 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from benchscore.moral_scene import Scene
from benchscore.moral_simulation import PROMPTS, Simulation
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render
from builders.resources import load_schema

JUDGE = {"temperature": 0.0, "max_tokens": 2048}
FLAW_TYPE = "Personality Trait Inconsistency"
TEMPLATES = (PROMPTS + "judge_system.j2", PROMPTS + "judge_user.j2")


@dataclass(frozen=True)
class Verdict:
    flaws: list[dict] | None  # None: the judge gave no usable reply
    raw: str
    request_hash: str
    error: str = ""

    def severities(self, name: str) -> list[int]:
        return [flaw.get("severity") or 1 for flaw in self.flaws or [] if flaw["character"] == name]


async def judge_scene(scene: Scene, simulation: Simulation, judge) -> Verdict:
    request = ChatRequest(messages=_messages(scene, simulation), schema=_schema(scene),
                          step="benchscore.moral_roleplay.judge", **JUDGE)
    try:
        reply = await judge.chat(request)
    except RequestFailed as error:
        return Verdict(None, "", error.request_hash, error.reason)
    return Verdict(reply.data["Character Fidelity"]["flaws"], reply.text, reply.provenance.get("request_hash", ""))


def fidelity(severities: list[int], utterances: int) -> float:
    """S = clamp(5 - 0.5*sum(D) - 0.1*max(D) + 0.15*T) to [0, 5] (§9.3: the computed formula, not the
    one the original's log line printed)."""
    penalty = 0.5 * sum(severities) + 0.1 * max(severities, default=0)
    return round(min(5.0, max(0.0, 5.0 - penalty + 0.15 * utterances)), 6)


def coser_score(verdict: Verdict, actor_turns: int) -> float | None:
    """CoSER's dimension score for the scene, logged as the original did: 100 - 5*(sum - 0.3*turns)."""
    if verdict.flaws is None:
        return None
    total = sum(flaw.get("severity") or 1 for flaw in verdict.flaws)
    return min(100.0, max(0.0, 100.0 - 5 * (total - 0.3 * actor_turns)))


def _messages(scene: Scene, simulation: Simulation) -> list[dict]:
    involved = [{"name": name, "profile": scene.profile(name)} for name in scene.actors]
    majors = [{"name": name, "traits": scene.traits.get(name, [])} for name in scene.majors]
    system = render(TEMPLATES[0], book=scene.book, plot_summary=scene.plot_summary, scenario=scene.scenario,
                    profiles=involved, original=scene.original, majors=majors, vocabulary=trait_vocabulary())
    return [{"role": "system", "content": system},
            {"role": "user", "content": render(TEMPLATES[1], turns=simulation.turns)}]


def _schema(scene: Scene) -> dict:
    flaw = {"type": "object", "required": ["instance", "type", "character", "traits"], "additionalProperties": False,
            "properties": {"instance": {"type": "string"}, "type": {"enum": [FLAW_TYPE]},
                           "character": {"enum": list(scene.majors)},
                           "traits": {"type": "array", "items": {"type": "string"}},
                           "severity": {"type": "integer", "minimum": 1, "maximum": 5}}}
    fidelity_object = {"type": "object", "required": ["flaws"], "additionalProperties": False,
                       "properties": {"flaws": {"type": "array", "items": flaw}}}
    return {"type": "object", "required": ["Character Fidelity"], "additionalProperties": False,
            "properties": {"Character Fidelity": fidelity_object}}


def trait_vocabulary() -> list[str]:
    """The 77 traits of spec §4.2, as the release schema closes them."""
    return list(load_schema("moral_roleplay")["$defs"]["trait"]["enum"])
