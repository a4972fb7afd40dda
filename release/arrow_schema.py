"""JSON Schema -> explicit Arrow schema, and records -> Arrow-ready rows.

Also the way back: `decode_value` / `decoded_values` turn stored JSON strings into objects again.

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

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable

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
        return canonical_json_text(value)
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


# One encoder reused for every value: `json.dumps` with these options builds a new encoder per call.
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_json_text(value: Any) -> str:
    """The text stored for a free-form object: sorted keys, no spaces, UTF-8 characters kept."""
    return _CANONICAL_ENCODER.encode(value)


# --- records -> Arrow, a column at a time ----------------------------------------------------------


class _NotSimple(Exception):
    """Some value needs the per-record encoder: it has a shape error, or a type the fast path skips."""


def records_table(records: list[dict], record_tree: Node, schema: pa.Schema,
                  describe: Callable[[dict], str], memory_pool: pa.MemoryPool | None = None) -> pa.Table:
    """The Arrow table of `records`, exactly as `encode_record` row by row would build it.

    The fast path checks and encodes whole columns (one comprehension per field instead of one
    recursive call per value). Whenever a column holds anything it does not accept as plainly
    valid, the batch goes through `encode_record`, which raises the precise error naming the
    record (`describe(record)`, e.g. "all/test record q_id='x'"), or builds the same rows the slow way.
    `memory_pool` allocates the Arrow buffers (default: pyarrow's default pool).
    """
    try:
        columns, _ = _object_columns(records, record_tree, top_level=True)
    except Exception:  # the exact path re-raises a genuine error with the record's name
        rows = [encode_record(record, record_tree, describe(record)) for record in records]
        return pa.Table.from_pylist(rows, schema=schema, memory_pool=memory_pool)
    arrays = [pa.array(values, type=field.type, from_pandas=False, memory_pool=memory_pool)
              for values, field in zip(columns, schema)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _object_columns(values: list, node: Node, *, top_level: bool = False) -> tuple[list[list], bool]:
    """Per declared property of `node`, its encoded values (None where absent or the object is
    null); and whether encoding changed any of them (a free-form object inside)."""
    present = values if top_level else [value for value in values if value is not None]
    if not set(map(type, present)) <= {dict}:
        raise _NotSimple
    declared = {name for name, _, _ in node.properties}
    if not set().union(*(value.keys() for value in present)) <= declared:
        raise _NotSimple
    columns, changed = [], False
    for name, child, required in node.properties:
        if required:  # a missing key raises KeyError: not simple
            column = [value[name] for value in values] if top_level else \
                [None if value is None else value[name] for value in values]
        else:
            column = [None if value is None else value.get(name) for value in values]
        if not child.nullable and None in column and any(
                v is None and value is not None and name in value for v, value in zip(column, values)):
            raise _NotSimple  # an explicit null where the schema allows none
        encoded = _encoded_values(column, child)
        changed = changed or encoded is not column
        columns.append(encoded)
    return columns, changed


def _encoded_values(values: list, node: Node) -> list:
    """`values` encoded for Arrow (nulls already checked); the same list object when unchanged."""
    kind = node.kind
    if kind == "json":
        encode = _CANONICAL_ENCODER.encode
        return [None if v is None else encode(v) for v in values]
    if kind == "object":
        columns, changed = _object_columns(values, node)
        if not changed:
            return values
        names = [name for name, _, _ in node.properties]
        return [None if value is None else dict(zip(names, row)) for value, row in zip(values, zip(*columns))]
    if kind == "array":
        if not set(map(type, values)) <= {list, type(None)}:
            raise _NotSimple
        flat = [item for v in values if v is not None for item in v]
        if not node.items.nullable and None in flat:
            raise _NotSimple
        encoded = _encoded_values(flat, node.items)
        if encoded is flat:
            return values
        items = iter(encoded)
        return [None if v is None else [next(items) for _ in v] for v in values]
    if not set(map(type, values)) <= _SIMPLE_TYPES[kind]:
        raise _NotSimple
    return values


_SIMPLE_TYPES = {"string": {str, type(None)}, "integer": {int, type(None)}, "number": {int, float, type(None)},
                 "boolean": {bool, type(None)}}


# --- Arrow -> records ----------------------------------------------------------------------------


def decoded_values(column: pa.ChunkedArray | pa.Array, node: Node | None) -> list:
    """A column as Python values, free-form JSON strings turned back into objects.

    `node` is the column's schema node (None for a column the current schema does not declare:
    its values are returned as stored).
    """
    values = column.to_pylist()
    if node is None or not _holds_json(node):
        return values
    return [decode_value(value, node) for value in values]


def decode_value(value, node: Node):
    """The inverse of the release encoding for one value: JSON strings back to objects."""
    if value is None:
        return None
    if node.kind == "json":
        return json.loads(value)
    if node.kind == "array":
        return [decode_value(item, node.items) for item in value]
    if node.kind == "object":
        children = {name: child for name, child, _ in node.properties}
        return {name: decode_value(item, children[name]) if name in children else item
                for name, item in value.items()}
    return value


@functools.lru_cache(maxsize=None)
def _holds_json(node: Node) -> bool:
    if node.kind == "json":
        return True
    if node.kind == "array":
        return _holds_json(node.items)
    return any(_holds_json(child) for _, child, _ in node.properties)
