"""The LLM writing steps around an authentic source scene (spec Step B/C): the scene brief
(topic, scenario, summary, prominence, each key character's thought), one inner thought per line,
the scene rating (tone, completeness) and one profile per (work, character).

Each step returns its parsed reply and the call's provenance, or raises RequestFailed after the
LLM layer's bounded retries; the caller counts and drops.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from builders.llm.structured import prose_field
from builders.moral_roleplay.steps import (
    call_provenance,
    excerpt,
    request,
    shorten,
    strict_object,
)
from builders.moral_roleplay.windows import SourceScene
from builders.sources import Work

TONES = ("Positive", "Neutral", "Negative")
PROFILE_LINES = 8  # speeches of a character shown to the profile writer
KIND_WORDS = {"play": "the play", "novel": "the novel", "script": "the script"}
LOCAL_THOUGHT_CHUNK = 4  # lines per thoughts call on the embedded model (about 80 output tokens)
SCENARIO_MIN_CHARS = 90  # about 15 words


def thought_chunk(model_label: str) -> int | None:
    """Hosted models write every line's thought in one reply; the embedded model a few at a time."""
    return LOCAL_THOUGHT_CHUNK if model_label.startswith("local:") else None


@dataclass(frozen=True)
class Reply:
    data: dict
    provenance: dict


def brief_schema(names: list[str]) -> dict:
    """Every text is plain prose (builders.llm.structured.prose_field). The scenario must be at least SCENARIO_MIN_CHARS
    long: left free, the embedded model wrote scenarios of a few words, under CoSER's 14-word minimum."""
    thoughts = strict_object({name: prose_field(5, 200) for name in names})
    return strict_object({"topic": prose_field(5, 80), "scenario": prose_field(SCENARIO_MIN_CHARS, 600),
                          "summary": prose_field(10, 250),
                          "prominence": {"type": "integer", "minimum": 1, "maximum": 100},
                          "thoughts": thoughts})


def thoughts_schema(count: int) -> dict:
    return strict_object({"thoughts": {"type": "array", "minItems": count, "maxItems": count,
                                       "items": prose_field(2, 60)}})


RATING_SCHEMA = strict_object({"tone": {"enum": list(TONES)}, "completeness": {"enum": [1, 2, 3, 4, 5]}})
PROFILE_SCHEMA = strict_object({"profile": prose_field(40, 500)})


async def write_brief(llm, scene: SourceScene, names: list[str], *, temperature: float, sample: int = 0) -> Reply:
    reply = await llm.chat(request("scene", brief_schema(names), sample=sample, max_tokens=300,
                                   temperature=temperature, kind_word=KIND_WORDS.get(scene.kind, "the work"),
                                   book=scene.book, author=scene.author, chapter=scene.chapter, names=names,
                                   lines=excerpt(scene.lines)))
    return Reply(reply.data, call_provenance(reply))


async def write_thoughts(llm, book: str, scenario: str, lines, *, temperature: float, chunk: int | None = None,
                         sample: int = 0) -> Reply:
    """One thought per line, asked for `chunk` lines at a time (all at once when None): a small
    model on a slow machine must finish each reply within the LLM layer's request timeout."""
    lines = list(lines)
    size = chunk or len(lines)
    thoughts, calls = [], []
    for start in range(0, len(lines), size):
        part = lines[start:start + size]
        reply = await llm.chat(request("thoughts", thoughts_schema(len(part)), sample=sample,
                                       max_tokens=20 * len(part) + 40, temperature=temperature, book=book,
                                       scenario=scenario, count=len(part), lines=excerpt(part)))
        thoughts.extend(reply.data["thoughts"])
        calls.append(call_provenance(reply))
    return Reply({"thoughts": thoughts}, calls[0] if len(calls) == 1 else {"chunks": calls})


async def rate_scene(llm, book: str, scenario: str, lines, *, sample: int = 0) -> Reply:
    reply = await llm.chat(request("rating", RATING_SCHEMA, sample=sample, max_tokens=40, temperature=0.0,
                                   book=book, scenario=scenario, lines=excerpt(lines)))
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
        name = work.characters[char_id].name
        lines = [shorten(turn.text) for turn in work.speaker_lines(char_id)[:PROFILE_LINES]]
        reply = await self._llm.chat(request("profile", PROFILE_SCHEMA, sample=0, max_tokens=180,
                                             temperature=self._temperature, character=name, book=work.title,
                                             author=work.author, lines=lines))
        return Reply(reply.data, call_provenance(reply))
