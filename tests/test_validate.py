"""Validation stage: compiled fast path, readable reasons, record checks, schema meta-validation."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from builders.validate import RecordValidator, SchemaError, load_schema, validate_records

ITEM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["q_id", "a_idx", "options", "a_str", "order"],
    "properties": {
        "q_id": {"type": "string", "pattern": "^q[0-9]+$"},
        "a_idx": {"type": "integer", "minimum": 0, "maximum": 3},
        "options": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 4, "maxItems": 4},
        "a_str": {"type": "string"},
        "order": {"enum": [1, 2]},
        "provenance": {"type": "object"},
    },
}


def item(number: int, **changes) -> dict:
    record = {"q_id": f"q{number}", "a_idx": number % 4, "options": ["w", "x", "y", "z"], "order": 1 + number % 2}
    record["a_str"] = record["options"][record["a_idx"]]
    record.update(changes)
    return record


def gold_matches(record: dict) -> str | None:
    if record["a_str"] != record["options"][record["a_idx"]]:
        return f"a_str {record['a_str']!r} is not option {record['a_idx']}"
    return None


def test_valid_and_rejected_records_keep_input_order():
    records = [item(0), item(1, a_idx=7), item(2), item(3, order=3), item(4)]
    valid, rejects = validate_records(records, ITEM_SCHEMA)
    assert [r["q_id"] for r in valid] == ["q0", "q2", "q4"]
    assert [r["record"]["q_id"] for r in rejects] == ["q1", "q3"]
    assert all(r["stage"] == "validate" and set(r) == {"stage", "reason", "record"} for r in rejects)
    assert rejects[0]["record"] is records[1]


@pytest.mark.parametrize(
    "record, reason",
    [
        (item(1, a_idx=7), "$.a_idx: 7 is greater than the maximum of 3"),
        (item(1, q_id="x1"), "$.q_id: 'x1' does not match '^q[0-9]+$'"),
        (item(1, options=["a", "", "c", "d"]), "$.options[1]: '' should be non-empty"),
        (item(1, extra=True), "$: Additional properties are not allowed ('extra' was unexpected)"),
        ({k: v for k, v in item(1).items() if k != "order"}, "$: 'order' is a required property"),
        ("not a record", "$: 'not a record' is not of type 'object'"),
    ],
)
def test_reject_reason_is_json_path_and_message(record, reason):
    _, rejects = validate_records([record], ITEM_SCHEMA)
    assert rejects[0]["reason"] == reason


def test_record_checks_run_after_the_schema():
    calls = []

    def counting_check(record):
        calls.append(record["q_id"])
        return gold_matches(record)

    records = [item(0), item(1, a_str="nope"), item(2, a_idx=9)]
    valid, rejects = validate_records(records, ITEM_SCHEMA, checks=[counting_check])
    assert [r["q_id"] for r in valid] == ["q0"]
    assert [r["reason"] for r in rejects] == [
        "counting_check: a_str 'nope' is not option 1",
        "$.a_idx: 9 is greater than the maximum of 3",
    ]
    assert calls == ["q0", "q1"]  # the schema-invalid record never reaches the checks


def test_prepared_validator_and_extra_checks_combine():
    validator = RecordValidator(ITEM_SCHEMA, [gold_matches])
    valid, rejects = validate_records([item(0), item(1, a_str="nope")], validator)
    assert len(valid) == 1 and rejects[0]["reason"].startswith("gold_matches: ")

    def never_q0(record):
        return "q0 is banned" if record["q_id"] == "q0" else None

    valid, rejects = validate_records([item(0)], validator, checks=[never_q0])
    assert valid == [] and rejects[0]["reason"] == "never_q0: q0 is banned"


def test_fast_engine_agrees_with_reference_engine():
    reference = jsonschema.Draft202012Validator(ITEM_SCHEMA)
    mutations = [
        {}, {"a_idx": -1}, {"a_idx": 3}, {"a_idx": 2.0}, {"a_idx": True}, {"order": "1"}, {"order": 2},
        {"q_id": "q12"}, {"q_id": "q"}, {"options": ["a", "b", "c"]}, {"options": ["a", "b", "c", 4]},
        {"provenance": {"model": "m"}}, {"provenance": []}, {"a_str": None},
    ]
    records = [item(n, **change) for n, change in enumerate(mutations)]
    valid, rejects = validate_records(records, ITEM_SCHEMA)
    assert [reference.is_valid(r) for r in records] == [any(r is v for v in valid) for r in records]
    assert len(valid) + len(rejects) == len(records)


def test_load_schema_reads_and_meta_validates(tmp_path):
    path = tmp_path / "item.schema.json"
    path.write_text(json.dumps(ITEM_SCHEMA), encoding="utf-8")
    assert load_schema(path) == ITEM_SCHEMA
    valid, rejects = validate_records([item(0), item(1, a_idx=4)], path)
    assert len(valid) == 1 and len(rejects) == 1


def test_schema_file_errors_name_the_file(tmp_path):
    broken_json = tmp_path / "broken.schema.json"
    broken_json.write_text('{"type": "object",', encoding="utf-8")
    with pytest.raises(SchemaError, match=r"broken\.schema\.json is not valid JSON \(line 1"):
        load_schema(broken_json)

    bad_schema = tmp_path / "bad.schema.json"
    schema = copy.deepcopy(ITEM_SCHEMA)
    schema["properties"]["a_idx"]["minimum"] = "zero"
    bad_schema.write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"bad\.schema\.json is not a valid JSON Schema at \$\.properties\.a_idx\.minimum"):
        load_schema(bad_schema)

    with pytest.raises(SchemaError, match=r"cannot read schema file .*missing\.schema\.json"):
        load_schema(tmp_path / "missing.schema.json")


def test_bad_arguments_get_clear_errors():
    with pytest.raises(SchemaError, match="not a valid JSON Schema"):
        validate_records([item(0)], {"type": "objekt"})
    with pytest.raises(SchemaError, match="must be a JSON object"):
        RecordValidator(["not", "a", "schema"])
    with pytest.raises(TypeError, match="schema must be a dict, a path"):
        validate_records([item(0)], 42)
    with pytest.raises(TypeError, match="is not callable"):
        validate_records([item(0)], ITEM_SCHEMA, checks=["a_str == a0"])


def test_empty_input():
    assert validate_records([], ITEM_SCHEMA) == ([], [])
