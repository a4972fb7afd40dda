"""Structured output: the schema each provider accepts, and local parsing and validation.

Providers accept different subsets of JSON Schema. We send each the subset it understands and
always validate the reply against the full schema locally, so a reply that slipped past a
provider's weaker check is still caught.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

import jsonschema

from .cache import canonical_json
from .errors import ConfigError

# Keywords Anthropic's tool input_schema rejects or ignores; we check them locally instead.
_ANTHROPIC_UNSUPPORTED = ("minLength", "maxLength", "pattern", "minItems", "maxItems", "minimum",
                          "maximum", "exclusiveMinimum", "exclusiveMaximum", "format", "$schema", "$id")


# Keywords OpenAI's strict structured outputs reject with HTTP 400.
_OPENAI_STRICT_UNSUPPORTED = ("minLength", "maxLength", "minProperties", "maxProperties", "uniqueItems")


class InvalidReply(ValueError):
    """The reply is not the JSON the schema asks for; the reason goes into the retry/failure report."""


def openai_strict_schema(schema: dict) -> dict:
    """OpenAI strict mode: every object closed and every property required (optional ones nullable).

    Keywords strict mode rejects are dropped (the reply is still checked against them locally); a
    null for a property that was optional means "absent" and is removed again by `parse_reply`."""
    out = copy.deepcopy(schema)
    out.pop("$schema", None)
    out.pop("$id", None)

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for keyword in _OPENAI_STRICT_UNSUPPORTED:
                if not isinstance(node.get(keyword), dict):  # a dict here is a property of that name
                    node.pop(keyword, None)
            if node.get("type") == "object" and "properties" in node:
                required = set(node.get("required", []))
                for name, sub in node["properties"].items():
                    if name not in required:
                        node["properties"][name] = {"anyOf": [sub, {"type": "null"}]}
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(out)
    return out


_ESCAPED_SPACE = re.compile(r"(?<!\\)((?:\\\\)*)\\ ")  # "\ " not itself escaped ("\\ " is a backslash, a space)


def llamacpp_schema(schema: dict) -> dict:
    """llama.cpp turns a schema into a grammar but only honours fully anchored patterns (it
    accepts any string otherwise), and a `.` in a pattern can emit a raw quote that breaks the
    JSON. JSON Schema patterns are unanchored searches, so "^I feel " ("starts with") becomes
    "^I feel " + FREE + "$": same meaning, and the free part can never end the string early. FREE
    takes any character but a quote, a backslash, and raw newlines and tabs, which a JSON string
    cannot hold (the embedded model's replies failed with "Invalid control character": most of 64
    failed PersonaEval profiles)."""
    free = '[^"\\\\\\n\\r\\t]*'

    def anchor(pattern: str, max_length: int | None) -> str:
        # llama.cpp knows no "\ " escape (re.escape writes one for every space) and silently
        # accepts any string for a pattern it cannot read.
        pattern = _ESCAPED_SPACE.sub(r"\1 ", pattern)
        # With a pattern, llama.cpp ignores maxLength, so the bound moves into the free part.
        literal = len(re.sub(r"[\^$\\]", "", pattern))
        tail = free if max_length is None else free[:-1] + "{0,%d}" % max(1, max_length - literal)
        if not pattern.startswith("^"):
            pattern = "^" + free + pattern
        if not pattern.endswith("$") or pattern.endswith("\\$"):
            pattern = pattern + tail + "$"
        return pattern

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (anchor(v, node.get("maxLength")) if k == "pattern" and isinstance(v, str) else visit(v))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [visit(v) for v in node]
        return node

    return visit(schema)


def anthropic_tool_schema(schema: dict) -> dict:
    """The tool input_schema: the full schema minus the keywords Anthropic does not take."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in _ANTHROPIC_UNSUPPORTED}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(schema)


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def check_schema(schema: dict) -> None:
    """Fail early (before any request) on a schema that is itself invalid."""
    try:
        _validator(canonical_json(schema))
    except jsonschema.SchemaError as error:
        where = "/".join(str(p) for p in error.path) or "(root)"
        raise ConfigError(f"the request's JSON schema is invalid at {where}: {error.message[:200]}; "
                          "fix the schema file that the builder passes") from None


def validate(data: Any, schema: dict) -> None:
    errors = sorted(_validator(canonical_json(schema)).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        raise InvalidReply(f"reply fails the schema at {where}: {first.message[:200]}")


def parse_reply(text: str, schema: dict, *, data: Any = None) -> Any:
    """JSON from a reply (tolerating a fenced block), unwrapped if wrapped, then validated."""
    if data is None:
        data = _load_json(text)
    data = _drop_optional_nulls(_unwrap(data, schema), schema)
    validate(data, schema)
    return data


def _load_json(text: str) -> Any:
    stripped = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", stripped, flags=re.DOTALL)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as error:
        raise InvalidReply(f"reply is not valid JSON ({error.msg} at char {error.pos}): {text[:120]!r}") from None


def _unwrap(data: Any, schema: dict) -> Any:
    """Some providers wrap the object in one extra key ({"reply": {...}}); take it out if that fixes it."""
    if isinstance(data, dict) and len(data) == 1 and schema.get("type") == "object":
        (inner,) = data.values()
        if isinstance(inner, dict) and not _validator(canonical_json(schema)).is_valid(data):
            if _validator(canonical_json(schema)).is_valid(inner):
                return inner
    return data


def _drop_optional_nulls(data: Any, schema: Any) -> Any:
    """Remove `"name": null` where `name` is optional and its schema takes no null (strict mode's
    stand-in for an absent property), so that the reply validates against the full schema."""
    if not isinstance(schema, dict):
        return data
    properties = schema.get("properties")
    if isinstance(data, dict) and isinstance(properties, dict):
        required = set(schema.get("required", []))
        return {name: _drop_optional_nulls(value, properties.get(name)) for name, value in data.items()
                if not (value is None and name not in required and name in properties
                        and not _accepts_null(properties[name]))}
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [_drop_optional_nulls(value, schema["items"]) for value in data]
    return data


def _accepts_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return True  # `true` or an unknown form: leave the value to the validator
    types = schema.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types) or None in schema.get("enum", ()):
        return True
    if "const" in schema and schema["const"] is None:
        return True
    if "$ref" in schema:
        return True  # cannot tell without resolving; keep the null and let validation decide
    return any(_accepts_null(alt) for alt in schema.get("anyOf", []) + schema.get("oneOf", []))


# Characters plain prose never needs: markup, code, quotes and the CoSER delimiters ([thought], (action)).
NOT_PROSE = r'{}<>\[\]()\\"|#*_=~^@$%&/\n\r\t'


def prose_field(min_length: int, max_length: int) -> dict:
    """Plain prose that starts with a letter. The pattern becomes part of the local model's grammar, so
    a small model cannot wander into JSON, HTML or code inside a text field (measured: SmolLM2-135M
    writes `{<name>}` and `<i class=...>` without it); the lengths move into the pattern because
    llama.cpp ignores maxLength next to one."""
    return {"type": "string", "minLength": min_length, "maxLength": max_length,
            "pattern": f"^[A-Za-z][^{NOT_PROSE}]{{{min_length - 1},{max_length - 1}}}$"}
