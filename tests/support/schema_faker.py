"""A deterministic stand-in for a model: answers any JSON schema with a valid instance.

Used behind the scripted OpenAI-compatible server to run whole builds fast and offline. The
reply depends only on the request body, so an interrupted build and an uninterrupted one see
exactly the same replies, as they would from a cache.

Behind the scripted Anthropic server it honours the constraints the Anthropic provider moved from
the tool schema into descriptions (builders/llm/providers/anthropic_api.py), as a real model reads
them there. An array that may be empty (an explicit `"minItems": 0`, e.g. a judge's list of
objections) is empty three times in four, so list-valued verdicts come out both ways.
"""

from __future__ import annotations

import hashlib
import json
import random
import re

from builders.llm.providers.anthropic_api import CONSTRAINTS_NOTE

WORDS = ("quiet garden letter river morning promise window harvest lantern journey meeting answer "
         "careful honest bright worried hopeful curious patient certain gentle sudden distant familiar "
         "plan visit story question dinner market project offer chance reason favour secret").split()


def fake_instance(schema: dict, rng: random.Random) -> object:
    schema = with_described_constraints(schema)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            options = [s for s in schema[union] if s.get("type") != "null"] or schema[union]
            return fake_instance(options[0], rng)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: fake_instance(sub, rng) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(schema.get("minItems", 1), min(schema.get("maxItems", 3), 3))
        if schema.get("minItems") == 0 and rng.random() < 0.75:
            count = 0
        items = schema.get("items", {"type": "string"})
        values: list = []
        while len(values) < count:
            value = fake_instance(items, rng)
            if value not in values or not schema.get("uniqueItems"):
                values.append(value)
        return values
    if kind == "integer":
        return rng.randint(schema.get("minimum", 0), schema.get("maximum", 100))
    if kind == "number":
        return round(rng.uniform(schema.get("minimum", 0), schema.get("maximum", 1)), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _fake_string(schema, rng)


def with_described_constraints(schema: dict) -> dict:
    """`schema` plus the keywords its description carries after the Anthropic provider's note."""
    description = schema.get("description")
    if not isinstance(description, str) or CONSTRAINTS_NOTE not in description:
        return schema
    described = json.loads(description.split(CONSTRAINTS_NOTE, 1)[1])
    return {**schema, **described}


def _fake_string(schema: dict, rng: random.Random) -> str:
    prefix = ""
    pattern = schema.get("pattern")
    if pattern:
        literal = re.match(r"\^((?:[A-Za-z ,'.]|\\.)*)", pattern)
        prefix = literal.group(1).replace("\\", "") if literal else ""
    minimum, maximum = schema.get("minLength", 1), schema.get("maxLength", 120)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
    text = (prefix + words).strip()[:maximum].rstrip()
    while len(text) < minimum:
        text += " " + rng.choice(WORDS)
    return text + ("." if len(text) < maximum else "")


def reply_for(body: dict) -> str:
    """The JSON text a fake model returns for one chat-completions request body."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    rng = random.Random(digest)
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if schema is None:
        return " ".join(rng.choice(WORDS) for _ in range(12))
    return json.dumps(fake_instance(schema, rng))


def fake_model(request) -> "Action":
    """A scripted-server responder (tests/support/scripted_llm.py) backed by `reply_for`."""
    from tests.support.scripted_llm import reply_json, reply_text

    body = request.json or {}
    if body.get("tools"):  # Anthropic-style structured output
        schema = body["tools"][0].get("input_schema", {})
        body = {**body, "response_format": {"json_schema": {"schema": schema}}}
    text = reply_for(body)
    try:
        return reply_json(json.loads(text), usage=(len(str(body)) // 4, len(text) // 4))
    except json.JSONDecodeError:
        return reply_text(text, usage=(len(str(body)) // 4, len(text) // 4))
