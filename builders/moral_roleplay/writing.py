"""The LLM writing steps around an authentic source scene (spec Step B/C): the scene brief
(topic, scenario, summary, prominence, each key character's thought), one inner thought per line,
the scene rating (completeness) and one profile per (work, character). The rating reply still
carries a tone (its request is unchanged, so existing response caches keep hitting), but a model
never labels the scene it wrote: that tone is kept in provenance only, and the released tone is the
annotators' (annotate.annotate_tone).

Each step returns its parsed reply and the call's provenance, or raises RequestFailed after the
LLM layer's bounded retries; the caller counts and drops. How much is shown and how each text
field is held come from the model's profile (steps.Contract): a brief past the benchmark's own
limits (a scenario of 200 words or more, a thought of 100 or more) is asked once more, marked as a
re-ask, then dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from builders.moral_roleplay.invariants import word_limit_problem
from builders.moral_roleplay.steps import (
    Contract,
    ask_checked,
    call_provenance,
    contract_of,
    request,
    strict_object,
)
from builders.moral_roleplay.windows import SourceScene
from builders.sources import Work

TONES = ("Positive", "Neutral", "Negative")
KIND_WORDS = {"play": "the play", "novel": "the novel", "script": "the script"}


@dataclass(frozen=True)
class Reply:
    data: dict
    provenance: dict


def brief_schema(contract: Contract, names: list[str]) -> dict:
    """Every text field as the contract holds it (steps.Contract.text); the strict scenario's
    minimum (profiles.yaml) keeps the embedded model from writing scenarios of a few words."""
    thoughts = strict_object({name: contract.text("thought", name=name) for name in names})
    return strict_object({"topic": contract.text("topic"), "scenario": contract.text("scenario"),
                          "summary": contract.text("summary"),
                          "prominence": {"type": "integer", "minimum": 1, "maximum": 100},
                          "thoughts": thoughts})


def thoughts_schema(contract: Contract, count: int) -> dict:
    return strict_object({"thoughts": {"type": "array", "minItems": count, "maxItems": count,
                                       "items": contract.text("line_thought")}})


RATING_SCHEMA = strict_object({"tone": {"enum": list(TONES)}, "completeness": {"enum": [1, 2, 3, 4, 5]}})


def profile_schema(contract: Contract, name: str) -> dict:
    return strict_object({"profile": contract.text("profile", name=name)})


def brief_problem(data: dict) -> str | None:
    return word_limit_problem(data["scenario"], data["thoughts"])


async def write_brief(llm, scene: SourceScene, names: list[str], *, temperature: float, sample: int = 0) -> Reply:
    contract = contract_of(llm)

    def make(sample: int, reask: bool):
        return request("scene", brief_schema(contract, names), contract, sample=sample,
                       max_tokens=contract.max_tokens("brief"), temperature=temperature, reask=reask,
                       kind_word=KIND_WORDS.get(scene.kind, "the work"), book=scene.book, author=scene.author,
                       chapter=scene.chapter, names=names, lines=contract.excerpt(scene.lines))

    reply = await ask_checked(llm, make, brief_problem, sample=sample)
    return Reply(reply.data, call_provenance(reply))


async def write_thoughts(llm, book: str, scenario: str, lines, *, temperature: float, sample: int = 0) -> Reply:
    """One thought per line, asked for the profile's `thought_lines_per_call` lines at a time: a
    small model on a slow machine must finish each reply within the LLM layer's request timeout."""
    contract = contract_of(llm)
    lines = list(lines)
    size = contract.limit("thought_lines_per_call")
    thoughts, calls = [], []
    for start in range(0, len(lines), size):
        part = lines[start:start + size]
        reply = await llm.chat(request("thoughts", thoughts_schema(contract, len(part)), contract, sample=sample,
                                       max_tokens=contract.max_tokens("thoughts", len(part)),
                                       temperature=temperature, book=book, scenario=scenario, count=len(part),
                                       lines=contract.excerpt(part)))
        thoughts.extend(reply.data["thoughts"])
        calls.append(call_provenance(reply))
    return Reply({"thoughts": thoughts}, calls[0] if len(calls) == 1 else {"chunks": calls})


async def rate_scene(llm, book: str, scenario: str, lines, *, sample: int = 0) -> Reply:
    contract = contract_of(llm)
    reply = await llm.chat(request("rating", RATING_SCHEMA, contract, sample=sample,
                                   max_tokens=contract.max_tokens("rating"), temperature=0.0, book=book,
                                   scenario=scenario, lines=contract.excerpt(lines)))
    return Reply(reply.data, call_provenance(reply))


class Profiles:
    """One profile per (work, character), written once and shared by every scene that needs it."""

    def __init__(self, llm, *, temperature: float):
        self._llm, self._temperature = llm, temperature
        self._tasks: dict[tuple[str, str], asyncio.Task] = {}

    async def get(self, work: Work, char_id: str) -> Reply:
        key = (work.id, char_id)
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(self._write(work, char_id))
        return await self._tasks[key]

    async def _write(self, work: Work, char_id: str) -> Reply:
        contract = contract_of(self._llm)
        name = work.characters[char_id].name
        spoken = work.speaker_lines(char_id)[:contract.limit("profile_lines")]
        reply = await self._llm.chat(request("profile", profile_schema(contract, name), contract, sample=0,
                                             max_tokens=contract.max_tokens("profile"),
                                             temperature=self._temperature, character=name, book=work.title,
                                             author=work.author, lines=[contract.shorten(t.text) for t in spoken]))
        return Reply(reply.data, call_provenance(reply))
