"""Validation stage: keep the records that match the benchmark's JSON Schema, reject the rest.

Two engines, each for what it is good at:
- `jsonschema_rs` (compiled, Rust) answers "is this record valid?" on the hot path, about 50x
  faster than the pure-Python engine; at 10^6 records that is seconds instead of minutes.
- `jsonschema` (pure Python) meta-validates the schema when it is loaded and, for the rare invalid
  record, explains what is wrong as "<json path>: <message>".

After the schema, optional record checks run on the schema-valid records: plain callables that
return an error string (or None) for cross-field invariants a JSON Schema cannot express.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import jsonschema
import jsonschema.exceptions
import jsonschema_rs

Record = dict
# A cross-field check: returns None when the record is fine, else a short error message.
RecordCheck = Callable[[Record], "str | None"]

INLINE_SCHEMA = "<in-memory schema>"


class SchemaError(ValueError):
    """The schema itself is unusable (unreadable file, bad JSON, or not a valid JSON Schema)."""


def load_schema(path: str | Path) -> dict:
    """Read a JSON Schema file and meta-validate it; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SchemaError(f"cannot read schema file {path}: {error.strerror or error}") from error
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaError(
            f"schema file {path} is not valid JSON (line {error.lineno}, column {error.colno}: "
            f"{error.msg}); fix the file"
        ) from error
    check_schema(schema, source=str(path))
    return schema


def check_schema(schema: dict, *, source: str = INLINE_SCHEMA) -> None:
    """Meta-validate `schema` against its declared draft (2020-12 when it declares none)."""
    if not isinstance(schema, dict):
        raise SchemaError(f"schema {source} must be a JSON object, got {type(schema).__name__}")
    engine = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        engine.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        raise SchemaError(
            f"schema {source} is not a valid JSON Schema at {error.json_path}: {error.message}; "
            "fix the schema file"
        ) from error


class RecordValidator:
    """A schema compiled once for both engines, plus the extra record checks."""

    def __init__(self, schema: dict, checks: Iterable[RecordCheck] = (), *, source: str = INLINE_SCHEMA):
        check_schema(schema, source=source)
        self.schema = schema
        self.source = source
        self.checks = tuple(checks)
        for check in self.checks:
            if not callable(check):
                raise TypeError(f"record check {check!r} is not callable; pass functions record -> str | None")
        explainer_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        self._explainer = explainer_class(schema)
        self._compiled = jsonschema_rs.validator_for(schema)

    def is_valid(self, record: Record) -> bool:
        """The hot path: schema validity only, no explanation."""
        return self._compiled.is_valid(record)

    def reason(self, record: Record) -> str | None:
        """None when the record passes the schema and every check, else why it does not."""
        if not self._compiled.is_valid(record):
            return self._schema_reason(record)
        for check in self.checks:
            error = check(record)
            if error:
                return f"{_check_name(check)}: {error}"
        return None

    def _schema_reason(self, record: Record) -> str:
        error = jsonschema.exceptions.best_match(self._explainer.iter_errors(record))
        if error is None:
            # The engines disagree (e.g. a regex feature only one of them has); say so plainly.
            return "$: rejected by jsonschema_rs but accepted by jsonschema; check the schema's patterns"
        return f"{error.json_path}: {error.message}"


def validate_records(
    records: Iterable[Record],
    schema: dict | str | Path | RecordValidator,
    *,
    checks: Iterable[RecordCheck] = (),
) -> tuple[list[Record], list[dict]]:
    """Split records into (valid, rejects), both in input order.

    `schema` is a schema dict, a path to a schema file, or a prepared `RecordValidator`.
    A reject is {"stage": "validate", "reason": "<json path>: <message>", "record": record};
    a failed check gives "<check name>: <its message>" as the reason.
    """
    validator = _as_validator(schema, tuple(checks))
    valid: list[Record] = []
    rejects: list[dict] = []
    is_valid = validator.is_valid
    schema_only = not validator.checks
    for record in records:
        # Fast path: one compiled call per record; reasons are computed only for rejects.
        if schema_only and is_valid(record):
            valid.append(record)
            continue
        reason = validator.reason(record)
        if reason is None:
            valid.append(record)
        else:
            rejects.append({"stage": "validate", "reason": reason, "record": record})
    return valid, rejects


def _as_validator(schema, checks: tuple[RecordCheck, ...]) -> RecordValidator:
    if isinstance(schema, RecordValidator):
        if checks:
            return RecordValidator(schema.schema, schema.checks + checks, source=schema.source)
        return schema
    if isinstance(schema, (str, Path)):
        return RecordValidator(load_schema(schema), checks, source=str(schema))
    if isinstance(schema, dict):
        return RecordValidator(schema, checks)
    raise TypeError(
        f"schema must be a dict, a path to a schema file or a RecordValidator, got {type(schema).__name__}"
    )


def _check_name(check: RecordCheck) -> str:
    return getattr(check, "__name__", None) or type(check).__name__
