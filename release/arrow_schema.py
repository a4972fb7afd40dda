"""JSON Schema -> explicit Arrow schema, and records -> Arrow-ready rows.

Nothing here infers a type from data: every column type comes from the benchmark's JSON schema, so
LLM-written values can never turn a column from struct into string between releases.

Mapping (one JSON-schema node -> one `Node`):
- `string` -> string, `integer` -> int64, `number` -> float64, `boolean` -> bool
- `enum` / `const` -> the one JSON type all their values share (mixed types are an error)
- `array` with `items` -> list of the item type
- `object` with `properties` -> struct, fields in declaration order
- `object` without `properties` (free-form maps, e.g. an open `provenance` bag) -> a string column
  holding canonical JSON (sorted keys), because a free-form map has no Arrow type without inference
- nullable: `"type": [T, "null"]`, an `enum` containing null, or `anyOf`/`oneOf` of T and null;
  an object property that is not `required` is nullable too
- local `$ref`s (`#/$defs/...`, `#/definitions/...`) are followed
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

SCALAR_ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "json": pa.string(),
}


class SchemaConversionError(ValueError):
    """The JSON schema has a construct with no explicit Arrow type."""


class RecordShapeError(ValueError):
    """A record does not match the schema it is being written with."""


@dataclass(frozen=True)
class Node:
    """One JSON-schema node reduced to what the Arrow conversion needs."""

    kind: str  # string | integer | number | boolean | json | array | object
    nullable: bool
    items: Node | None = None
    # (name, node, required) in declaration order
    properties: tuple[tuple[str, Node, bool], ...] = ()


def parse_json_schema(json_schema: dict) -> Node:
    """Reduce a record's JSON schema to a `Node` tree; the top level must be an object."""
    root = _parse(json_schema, json_schema, "$")
    if root.kind != "object":
        raise SchemaConversionError(
            "$: a record schema must be an object with `properties`; got "
            f"{root.kind!r}. Declare the record fields under `properties`."
        )
    return root


def arrow_schema_from_json_schema(json_schema: dict) -> pa.Schema:
    root = parse_json_schema(json_schema)
    return pa.schema([_arrow_field(name, node, required) for name, node, required in root.properties])


def arrow_type(node: Node) -> pa.DataType:
    if node.kind == "array":
        return pa.list_(_arrow_field("item", node.items, required=True))
    if node.kind == "object":
        return pa.struct([_arrow_field(name, child, req) for name, child, req in node.properties])
    return SCALAR_ARROW_TYPES[node.kind]


def encode_record(record: dict, root: Node, where: str) -> dict:
    """Check `record` against the schema tree and encode free-form objects as canonical JSON.

    `where` names the record in errors (e.g. "record q_id=abc").
    """
    return _encode(record, root, where)


def _arrow_field(name: str, node: Node, required: bool) -> pa.Field:
    return pa.field(name, arrow_type(node), nullable=node.nullable or not required)


# --- parsing -------------------------------------------------------------------------------------


def _parse(node: Any, root: dict, path: str) -> Node:
    if not isinstance(node, dict):
        raise SchemaConversionError(f"{path}: expected a schema object, got {node!r}")
    node = _follow_ref(node, root, path)
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            return _parse_nullable_union(node[combinator], root, f"{path}.{combinator}")
    if "allOf" in node:
        raise SchemaConversionError(
            f"{path}: `allOf` has no single Arrow type; inline the combined schema instead."
        )
    if "enum" in node or "const" in node:
        values = node["enum"] if "enum" in node else [node["const"]]
        return _parse_enum(values, path)
    types = node.get("type")
    if types is None:
        raise SchemaConversionError(
            f"{path}: no `type`, `enum` or `const`; every field needs an explicit type "
            "(types are never inferred from data)."
        )
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    concrete = [t for t in types if t != "null"]
    if len(concrete) != 1:
        raise SchemaConversionError(
            f"{path}: type {types!r} must name exactly one non-null JSON type "
            "(optionally with \"null\")."
        )
    return _parse_typed(concrete[0], node, root, path, nullable)


def _parse_typed(json_type: str, node: dict, root: dict, path: str, nullable: bool) -> Node:
    if json_type in ("string", "integer", "number", "boolean"):
        return Node(json_type, nullable)
    if json_type == "array":
        if "items" not in node or not isinstance(node["items"], dict):
            raise SchemaConversionError(
                f"{path}: an array needs one `items` schema to get an Arrow list type."
            )
        return Node("array", nullable, items=_parse(node["items"], root, f"{path}[]"))
    if json_type == "object":
        properties = node.get("properties")
        if not properties:
            return Node("json", nullable)
        required = set(node.get("required", ()))
        children = tuple(
            (name, _parse(child, root, f"{path}.{name}"), name in required)
            for name, child in properties.items()
        )
        return Node("object", nullable, properties=children)
    raise SchemaConversionError(f"{path}: unsupported JSON type {json_type!r}.")


def _parse_nullable_union(branches: list, root: dict, path: str) -> Node:
    non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
    if len(non_null) != 1:
        raise SchemaConversionError(
            f"{path}: only a union of one schema with {{\"type\": \"null\"}} maps to Arrow; "
            f"got {len(non_null)} non-null branches."
        )
    inner = _parse(non_null[0], root, path)
    nullable = inner.nullable or len(non_null) < len(branches)
    return Node(inner.kind, nullable, inner.items, inner.properties)


def _parse_enum(values: list, path: str) -> Node:
    nullable = None in values
    kinds = {_json_kind(v) for v in values if v is not None}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1 or not kinds <= {"string", "integer", "number", "boolean"}:
        raise SchemaConversionError(
            f"{path}: enum/const values {values!r} must all be strings, all integers, all "
            "numbers or all booleans."
        )
    return Node(kinds.pop(), nullable)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _follow_ref(node: dict, root: dict, path: str) -> dict:
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            raise SchemaConversionError(f"{path}: only local, non-circular $refs are supported: {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise SchemaConversionError(f"{path}: $ref {ref!r} does not resolve.")
            target = target[part]
        node = target
    return node


# --- encoding records ----------------------------------------------------------------------------


def _encode(value: Any, node: Node, where: str) -> Any:
    if value is None:
        if not node.nullable:
            raise RecordShapeError(f"{where}: null where the schema does not allow null.")
        return None
    if node.kind == "json":
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    if node.kind == "object":
        return _encode_object(value, node, where)
    if node.kind == "array":
        if not isinstance(value, list):
            raise RecordShapeError(f"{where}: expected an array, got {type(value).__name__}.")
        return [_encode(item, node.items, f"{where}[{i}]") for i, item in enumerate(value)]
    if _json_kind(value) != node.kind and not (node.kind == "number" and _json_kind(value) == "integer"):
        raise RecordShapeError(f"{where}: expected {node.kind}, got {type(value).__name__} {value!r}.")
    return value


def _encode_object(value: Any, node: Node, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecordShapeError(f"{where}: expected an object, got {type(value).__name__}.")
    declared = {name for name, _, _ in node.properties}
    undeclared = sorted(set(value) - declared)
    if undeclared:
        raise RecordShapeError(
            f"{where}: field(s) {undeclared} are not in the schema; add them to the schema or drop "
            "them before releasing."
        )
    encoded = {}
    for name, child, required in node.properties:
        if name not in value and required:
            raise RecordShapeError(f"{where}.{name}: required field is missing.")
        encoded[name] = _encode(value.get(name), child if name in value else _nullable(child),
                                f"{where}.{name}")
    return encoded


def _nullable(node: Node) -> Node:
    return Node(node.kind, True, node.items, node.properties)
