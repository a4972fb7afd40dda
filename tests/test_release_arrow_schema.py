"""JSON Schema -> Arrow conversion: explicit types only, clear errors for what has no Arrow type."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from release.arrow_schema import (
    RecordShapeError,
    SchemaConversionError,
    arrow_schema_from_json_schema,
    canonical_json_text,
    decode_value,
    encode_record,
    parse_json_schema,
    records_table,
)
from tests.test_release_fixtures import QUIZ_SCHEMA, quiz_record


def record_schema(properties: dict, required: list[str] | None = None, **extra) -> dict:
    return {"type": "object", "properties": properties, "required": required or list(properties), **extra}


def test_quiz_schema_maps_every_json_type_to_an_explicit_arrow_type():
    schema = arrow_schema_from_json_schema(QUIZ_SCHEMA)
    assert schema.field("id").type == pa.string() and not schema.field("id").nullable
    assert schema.field("options").type == pa.list_(pa.field("item", pa.string(), nullable=False))
    assert schema.field("answer_idx").type == pa.int64()
    assert schema.field("category").type == pa.string()  # string enum
    assert schema.field("level").type == pa.int64()  # integer enum
    assert schema.field("score").type == pa.float64() and schema.field("score").nullable  # not required
    assert schema.field("hard").type == pa.bool_()
    assert schema.field("notes").type == pa.string() and schema.field("notes").nullable
    meta = schema.field("meta").type  # followed the $ref
    assert pa.types.is_struct(meta)
    assert [meta.field(i).name for i in range(meta.num_fields)] == ["model", "seed", "samples"]
    assert meta.field("samples").type == pa.list_(pa.field("item", pa.int64(), nullable=False))
    assert schema.field("extra").type == pa.string()  # free-form object -> canonical JSON text


@pytest.mark.parametrize(
    "node, arrow_type, nullable",
    [
        ({"type": ["integer", "null"]}, pa.int64(), True),
        ({"anyOf": [{"type": "number"}, {"type": "null"}]}, pa.float64(), True),
        ({"enum": ["a", "b", None]}, pa.string(), True),
        ({"enum": [1, 2.5]}, pa.float64(), False),
        ({"const": True}, pa.bool_(), False),
        ({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
         pa.list_(pa.field("item", pa.struct([pa.field("x", pa.string())]), nullable=False)), False),
    ],
)
def test_nullable_unions_enums_and_nesting(node, arrow_type, nullable):
    field = arrow_schema_from_json_schema(record_schema({"f": node})).field("f")
    assert field.type == arrow_type
    assert field.nullable is nullable


@pytest.mark.parametrize(
    "node, message",
    [
        ({"description": "no type"}, "no `type`"),
        ({"enum": ["a", 1]}, "must all be strings"),
        ({"type": ["string", "integer"]}, "exactly one non-null"),
        ({"type": "array"}, "needs one `items`"),
        ({"allOf": [{"type": "string"}]}, "allOf"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "non-null branches"),
        ({"$ref": "#/$defs/missing"}, "does not resolve"),
    ],
)
def test_constructs_without_an_arrow_type_are_rejected_with_the_path(node, message):
    with pytest.raises(SchemaConversionError, match=message) as error:
        arrow_schema_from_json_schema(record_schema({"field": node}))
    assert "$.field" in str(error.value)


def test_top_level_must_be_an_object_with_properties():
    with pytest.raises(SchemaConversionError, match="must be an object"):
        arrow_schema_from_json_schema({"type": "string"})


def test_encoding_fills_optional_fields_and_serialises_free_form_objects():
    tree = parse_json_schema(QUIZ_SCHEMA)
    encoded = encode_record(quiz_record(3), tree, "record")
    assert encoded["score"] == 3 / 7
    assert encoded["notes"] is None  # absent optional field -> explicit null
    assert encoded["extra"] == '{"alpha":{"nested":[1,2]},"zeta":3}'


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.update(surprise=1), r"\['surprise'\] are not in the schema"),
        (lambda r: r.pop("question"), r"question: required field is missing"),
        (lambda r: r.update(answer_idx=True), r"answer_idx: expected integer, got bool"),
        (lambda r: r.update(answer_idx="2"), r"answer_idx: expected integer, got str"),
        (lambda r: r["meta"].update(seed=None), r"meta.seed: null where the schema does not allow null"),
        (lambda r: r.update(options="a b"), r"options: expected an array"),
        (lambda r: r["meta"].update(extra_key=1), r"record.meta: field\(s\) \['extra_key'\]"),
    ],
)
def test_records_that_do_not_match_the_schema_are_rejected(mutate, message):
    record = quiz_record(1)
    mutate(record)
    with pytest.raises(RecordShapeError, match=message):
        encode_record(record, parse_json_schema(QUIZ_SCHEMA), "record")


def quiz_variety() -> list[dict]:
    records = [quiz_record(i) for i in range(12)]
    records[3].pop("score")  # absent optional field
    records[4]["notes"] = None  # explicit null where allowed
    records[5]["meta"].pop("samples")  # absent optional nested field
    records[6]["extra"] = {"ü": [1.5, None, {"b": 1, "a": "x"}]}
    return records


def test_records_table_builds_the_rows_encode_record_builds():
    tree, schema = parse_json_schema(QUIZ_SCHEMA), arrow_schema_from_json_schema(QUIZ_SCHEMA)
    records = quiz_variety()
    table = records_table(records, tree, schema, describe=str)
    exact = pa.Table.from_pylist([encode_record(record, tree, "record") for record in records], schema=schema)
    assert table.equals(exact)
    assert table.column("extra")[6].as_py() == '{"ü":[1.5,null,{"a":"x","b":1}]}'


def test_records_table_names_the_record_of_a_shape_error():
    tree, schema = parse_json_schema(QUIZ_SCHEMA), arrow_schema_from_json_schema(QUIZ_SCHEMA)
    records = quiz_variety()
    records[2]["answer_idx"] = "2"
    with pytest.raises(RecordShapeError, match=r"all/test record id='q0002'\.answer_idx: expected integer, got str"):
        records_table(records, tree, schema, describe=lambda record: f"all/test record id={record['id']!r}")


@pytest.mark.parametrize("value", [{"b": 1, "a": [1.0, 2.5e-07, None]}, {"ü": "ß", "n": {"z": True, "y": False}}, [],
                                   {"big": 2**70, "neg": -0.0}])
def test_canonical_json_text_is_sorted_compact_json_keeping_characters(value):
    assert canonical_json_text(value) == json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_decoding_turns_stored_json_back_into_objects():
    tree = parse_json_schema(QUIZ_SCHEMA)
    for record in quiz_variety():
        encoded = encode_record(record, tree, "record")
        decoded = {name: decode_value(encoded[name], node) for name, node, _ in tree.properties}
        expected = {name: record.get(name) for name, _, _ in tree.properties}
        expected["meta"] = {"samples": None, **expected["meta"]}  # an absent optional field loads as null
        assert decoded == expected
