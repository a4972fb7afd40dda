"""How every Moral RolePlay step asks the LLM: prompt rendering, hashing, the request, and the
contract the asked model gets.

A step is a pair of templates, prompts/moral_roleplay/<step>_system.j2 and <step>_user.j2 (both
may include the shared partials `_*.j2`: the reference dialogue, the portrayal an annotator reads,
the natural contract's field descriptions). A step's hash covers its pair and every partial. Reply
schemas are built next to each step because they carry per-scene enums (the scene's names, the line
count).

What a model is sent depends on its profile (builders/llm/profiles.yaml, `limits.moral_roleplay`),
read through `Contract`, never from a constant here:
- strict (the embedded model): every text field is the grammar's plain-prose pattern with tight
  lengths, speeches shown cut short, replies small; these requests are byte-identical to the ones
  the builder sent before contracts existed (tests/test_moral_roleplay_contract.py), so existing
  response caches keep hitting;
- natural (capable models): a text field asks for structure only (a string that is not blank) and
  takes any Unicode prose; its length target (data/original.json `writing_targets`) is stated in
  the prompt and in the property's description, and only a generous bound guards against runaway
  output. Templates branch on `natural`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.llm.structured import prose_field
from builders.prompts import render, template_hash
from builders.resources import PROMPTS

FOLDER = "moral_roleplay"
ORIGINAL = Path(__file__).resolve().parent / "data" / "original.json"
REASK_OFFSET = 10  # a builder's re-ask of sample k is sample k + 10: distinct cache keys, still reproducible
ASKS = 2  # a reply the builder's own check refuses is asked once more, then the work is dropped


@lru_cache(maxsize=1)
def writing_targets() -> dict[str, int]:
    """Words asked of a capable model per text field (data/original.json, from the original's figures)."""
    targets = json.loads(ORIGINAL.read_text(encoding="utf-8"))["writing_targets"]
    return {name: words for name, words in targets.items() if not name.startswith("_")}


def target_words(field: str) -> int:
    """A field's target; a top-up scene's fields (synthetic_scenario...) share their source twin's."""
    return writing_targets()[field.removeprefix("synthetic_")]


@dataclass(frozen=True)
class Contract:
    """How one model is asked: its profile's contract (natural or strict) and `moral_roleplay` limits."""

    profile: ModelProfile

    @property
    def natural(self) -> bool:
        return self.profile.natural

    def limit(self, name: str):
        return self.profile.limit(f"{FOLDER}.{name}")

    def text(self, field: str, *, name: str = "") -> dict:
        """A reply's text field, bounded by the profile's `<field>_chars` [min, max]. Strict: plain
        prose under the grammar's pattern. Natural: any prose that is not blank, described with
        its target length (prompts/moral_roleplay/_field.j2); max is only a bound against runaway output."""
        low, high = self.limit(f"{field}_chars")
        if not self.natural:
            return prose_field(low, high)
        description = render(f"{FOLDER}/_field.j2", field=field, words=target_words(field), character=name)
        return {"type": "string", "minLength": low, "maxLength": high, "pattern": r"\S", "description": description}

    def max_tokens(self, step: str, count: int | None = None) -> int:
        """A reply's max_tokens: the profile's `<step>_max_tokens`, or [base, per item] times `count`."""
        value = self.limit(f"{step}_max_tokens")
        if count is None:
            return value
        base, per_item = value
        return base + per_item * count

    def shorten(self, text: str) -> str:
        """A speech as shown to this model: one line, cut at the profile's `excerpt_chars`."""
        limit = self.limit("excerpt_chars")
        text = " ".join(text.split())
        return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."

    def excerpt(self, lines) -> list[dict]:
        """Lines (anything with .speaker and .text) as the prompt partial wants them."""
        return [{"speaker": line.speaker, "text": self.shorten(line.text)} for line in lines]

    def variables(self) -> dict:
        """What every template may branch on or state: the contract and the length targets."""
        return {"natural": self.natural, "words": writing_targets()}


def contract_of(llm) -> Contract:
    return Contract(profile_of(llm))


def step_hash(step: str) -> str:
    """One hash over the step's templates and the shared partials."""
    partials = sorted(f"{FOLDER}/{p.name}" for p in (PROMPTS / FOLDER).glob("_*.j2"))
    names = [f"{FOLDER}/{step}_system.j2", f"{FOLDER}/{step}_user.j2", *partials]
    return hashlib.sha256(":".join(template_hash(n) for n in names).encode()).hexdigest()[:32]


def messages(step: str, **variables) -> list[dict]:
    return [{"role": "system", "content": render(f"{FOLDER}/{step}_system.j2", **variables)},
            {"role": "user", "content": render(f"{FOLDER}/{step}_user.j2", **variables)}]


def request(step: str, schema: dict, contract: Contract, *, sample: int, max_tokens: int, temperature: float,
            reask: bool = False, **variables) -> ChatRequest:
    """`reask`: this asks again because the builder's own check refused the reply of an earlier
    sample (counted as a re-ask in the release's call ledger)."""
    return ChatRequest(messages=messages(step, **contract.variables(), **variables), schema=schema,
                       temperature=temperature, max_tokens=max_tokens, sample=sample, step=f"{FOLDER}.{step}",
                       prompt_hash=step_hash(step), reask=reask)


async def ask_checked(llm, make, check, *, sample: int = 0):
    """Ask `make(sample, reask)`, then `check(reply.data)` (why the reply is wrong, or None). A refused
    reply is asked once more as sample + REASK_OFFSET, marked as a re-ask; returns the accepted reply,
    or raises RequestFailed naming every refusal."""
    problems = []
    for ask in range(ASKS):
        reply = await llm.chat(make(sample + ask * REASK_OFFSET, ask > 0))
        problem = check(reply.data)
        if problem is None:
            return reply
        problems.append(problem)
    raise RequestFailed("refused by the builder's check: " + "; ".join(problems))


def call_provenance(reply) -> dict:
    """What a record keeps about one call: model, sample, request hash, prompt hash, cached."""
    keep = ("model", "sample", "request_hash", "prompt_hash", "temperature", "seed")
    return {**{k: reply.provenance.get(k) for k in keep}, "cached": bool(reply.cached)}


def strict_object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties),
            "additionalProperties": False}
