"""The CoSER given-circumstance acting loop for one scene (moral_roleplay.md §9.1).

The model under test plays every character; the environment and the next-speaker predictor (NSP)
run on the world model (the judge model), which stays the same whichever model is scored, so a
score measures the actor and nothing else. The loop:

- starts with the most frequent speaker and runs at most `max_rounds` replies;
- after each reply the NSP picks who acts next: a speaker, "random", or the end token, which is
  honoured only once 5 replies have been made;
- "random", an end token too early, a failed NSP request or a repeat of the current speaker falls
  back to a seeded random choice among the major characters and the environment;
- every reply is stripped of [inner thoughts], of a leading "Name:" and of repeated sentences
  before it is broadcast (the original stripped repeats only for local models; it harms none).

A request that fails for good loses that reply (counted), never the scene.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from benchscore.moral_scene import ENVIRONMENT, Line, Scene, strip_thoughts
from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render

END = "<END CHAT>"
RANDOM = "random"
MIN_REPLIES_BEFORE_END = 5
MAX_ROUNDS = 20  # the default bound on replies per scene (§9.1)
PROMPTS = "benchscore/moral_roleplay/"
ACTOR = {"temperature": 0.7, "max_tokens": 256}
WORLD = {"temperature": 0.7, "max_tokens": 256}
NSP = {"temperature": 0.0, "max_tokens": 64}


@dataclass
class Simulation:
    turns: list[Line] = field(default_factory=list)
    failed_replies: int = 0
    fallbacks: int = 0  # next speakers chosen at random instead of by the NSP

    def utterances(self, name: str) -> int:
        return sum(turn.speaker == name for turn in self.turns)


async def simulate(scene: Scene, actor, world, *, max_rounds: int, seed: int) -> Simulation:
    rng = random.Random(f"{seed}:{scene.case_key}")
    simulation = Simulation()
    speaker = scene.speakers[0] if scene.speakers else scene.actors[0]
    for replies in range(1, max_rounds + 1):
        text = await _reply(scene, speaker, simulation.turns, actor, world)
        if text:
            simulation.turns.append(Line(speaker, text))
        else:
            simulation.failed_replies += 1
        if replies == max_rounds:
            break
        choice = await _next_speaker(scene, simulation.turns, speaker, world)
        if choice == END and replies >= MIN_REPLIES_BEFORE_END:
            break
        if choice in (END, RANDOM, speaker, None) or choice not in scene.speakers + tuple(scene.actors):
            simulation.fallbacks += 1
            choice = _random_speaker(scene, speaker, rng)
        speaker = choice
    return simulation


async def _reply(scene: Scene, speaker: str, turns: list[Line], actor, world) -> str:
    if speaker == ENVIRONMENT:
        messages = [_system("environment_system.j2", book=scene.book, scenario=scene.scenario, majors=scene.majors),
                    _user("environment_user.j2", turns=turns)]
        model, decoding, step = world, WORLD, "benchscore.moral_roleplay.environment"
    else:
        others = [{"name": n, "profile": scene.profile(n)} for n in scene.actors if n != speaker]
        messages = [_system("actor_system.j2", character=speaker, book=scene.book, profile=scene.profile(speaker),
                            scenario=scene.scenario, others=others, thought=scene.thoughts.get(speaker) or "(none)"),
                    _user("actor_user.j2", turns=turns, character=speaker)]
        model, decoding, step = actor, ACTOR, "benchscore.moral_roleplay.actor"
    try:
        reply = await model.chat(ChatRequest(messages=messages, step=step, **decoding))
    except RequestFailed:
        return ""
    return cleaned(reply.text, speaker)


async def _next_speaker(scene: Scene, turns: list[Line], current: str, world) -> str | None:
    choices = [*dict.fromkeys([*scene.speakers, *scene.actors]), RANDOM, END]
    messages = [_system("next_speaker_system.j2", book=scene.book, scenario=scene.scenario,
                        speakers=choices[:-2], end=END),
                _user("next_speaker_user.j2", turns=turns, current=current)]
    schema = {"type": "object", "required": ["next_speaker"], "additionalProperties": False,
              "properties": {"next_speaker": {"enum": choices}}}
    try:
        reply = await world.chat(ChatRequest(messages=messages, schema=schema, step="benchscore.moral_roleplay.nsp",
                                             **NSP))
    except RequestFailed:
        return None
    return reply.data["next_speaker"]


def _random_speaker(scene: Scene, current: str, rng: random.Random) -> str:
    pool = [name for name in (*scene.majors, ENVIRONMENT) if name != current] or list(scene.majors)
    return rng.choice(pool)


def cleaned(text: str, speaker: str) -> str:
    """The reply as others perceive it: no [thoughts], no leading "Name:", no repeated sentences."""
    text = strip_thoughts(text)
    text = re.sub(rf"^\W*{re.escape(speaker)}\s*:\s*", "", text, flags=re.IGNORECASE)
    kept, seen = [], set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        said = " ".join(re.sub(r"\([^)]*\)", " ", sentence).lower().split())  # the words, not the actions
        if sentence and (not said or said not in seen):
            kept.append(sentence)
            seen.add(said)
    return " ".join(kept).strip()


def _system(template: str, **variables) -> dict:
    return {"role": "system", "content": render(PROMPTS + template, **variables)}


def _user(template: str, **variables) -> dict:
    return {"role": "user", "content": render(PROMPTS + template, **variables)}


TEMPLATES = tuple(PROMPTS + name for name in ("actor_system.j2", "actor_user.j2", "environment_system.j2",
                                              "environment_user.j2", "next_speaker_system.j2",
                                              "next_speaker_user.j2", "_transcript.j2"))
