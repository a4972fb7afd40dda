"""How every Moral RolePlay step asks the LLM: prompt rendering, hashing and the request itself.

A step is a pair of templates, prompts/moral_roleplay/<step>_system.j2 and <step>_user.j2 (both
may include the shared partials `_*.j2`: the reference dialogue, the portrayal an annotator reads).
A step's hash covers its pair and every partial. Reply schemas are built next to each step because
they carry per-scene enums (the scene's names, the line count).
"""

from __future__ import annotations

import hashlib

from builders.llm import ChatRequest
from builders.prompts import render, template_hash
from builders.resources import PROMPTS

FOLDER = "moral_roleplay"
EXCERPT_CHARS = 120  # a speech shown to a model is cut here: the tiny local model has 2k tokens of context


def step_hash(step: str) -> str:
    """One hash over the step's templates and the shared partials."""
    partials = sorted(f"{FOLDER}/{p.name}" for p in (PROMPTS / FOLDER).glob("_*.j2"))
    names = [f"{FOLDER}/{step}_system.j2", f"{FOLDER}/{step}_user.j2", *partials]
    return hashlib.sha256(":".join(template_hash(n) for n in names).encode()).hexdigest()[:32]


def messages(step: str, **variables) -> list[dict]:
    return [{"role": "system", "content": render(f"{FOLDER}/{step}_system.j2", **variables)},
            {"role": "user", "content": render(f"{FOLDER}/{step}_user.j2", **variables)}]


def shorten(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def excerpt(lines) -> list[dict]:
    """Lines (anything with .speaker and .text) as the prompt partial wants them."""
    return [{"speaker": line.speaker, "text": shorten(line.text)} for line in lines]


def request(step: str, schema: dict, *, sample: int, max_tokens: int, temperature: float,
            **variables) -> ChatRequest:
    return ChatRequest(messages=messages(step, **variables), schema=schema, temperature=temperature,
                       max_tokens=max_tokens, sample=sample, step=f"moral_roleplay.{step}",
                       prompt_hash=step_hash(step))


def call_provenance(reply) -> dict:
    """What a record keeps about one call: model, sample, request hash, prompt hash, cached."""
    keep = ("model", "sample", "request_hash", "prompt_hash", "temperature", "seed")
    return {**{k: reply.provenance.get(k) for k in keep}, "cached": bool(reply.cached)}


def strict_object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties),
            "additionalProperties": False}


