"""JSON Schema -> Arrow conversion: explicit types only, clear errors for what has no Arrow type."""

from __future__ import annotations

import pyarrow as pa
import pytest

from release.arrow_schema import (
    RecordShapeError,
    SchemaConversionError,
    arrow_schema_from_json_schema,
    encode_record,
    parse_json_schema,
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
