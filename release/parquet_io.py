"""Deterministic parquet shards: same records + same schema => byte-identical files.

Every knob that changes bytes is pinned here: row order (decided by the caller), compression and
its level, row-group size, page and dictionary settings, and the schema metadata (the Arrow schema
plus the `datasets` features, nothing time- or host-dependent). The writer's `created_by` string
names the pyarrow version, so upgrading pyarrow changes the bytes (and hence the content hash).

Records are written one row group at a time, so memory stays bounded by a row group whatever the
split size, and turned into Arrow columns column by column (see `records_table`): a 10^6-record
release spends seconds here, not minutes. Reading back is also by row group and by column.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable, Iterator

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from release.arrow_schema import Node, encode_record

ZSTD_LEVEL = 3  # level 9 wrote ~6% smaller files at a quarter of the speed: most of a 10^6-record release
ROW_GROUP_SIZE = 10_000
MAX_ROWS_PER_SHARD = 500_000
PARQUET_OPTIONS = dict(
    compression="zstd",
    compression_level=ZSTD_LEVEL,
    use_dictionary=True,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
    store_schema=True,
    write_page_index=False,
)


def shard_path(config: str, split: str, index: int, total: int) -> str:
    """Repository-relative path of one shard, as `datasets.push_to_hub` names them."""
    return f"data/{config}/{split}-{index:05d}-of-{total:05d}.parquet"


def split_glob(config: str, split: str) -> str:
    return f"data/{config}/{split}-*.parquet"


def with_features_metadata(schema: pa.Schema) -> pa.Schema:
    """Attach the `datasets` features so loaders read exactly these types back."""
    features = datasets.Features.from_arrow_schema(schema)
    metadata = {"huggingface": json.dumps({"info": {"features": features.to_dict()}}, sort_keys=True)}
    return schema.with_metadata(metadata)


def write_split(
    records: list[dict],
    record_tree: Node,
    schema: pa.Schema,
    release_dir: Path,
    config: str,
    split: str,
    *,
    describe: Callable[[dict], str],
    max_rows_per_shard: int | None = None,
) -> list[str]:
    """Write `records` (already in release order) as shards; return their relative paths.

    `describe(record)` names a record in shape errors (e.g. "all/test record q_id='x'").
    """
    limit = max_rows_per_shard or MAX_ROWS_PER_SHARD
    total = max(1, -(-len(records) // limit))
    schema = with_features_metadata(schema)
    paths = []
    for index in range(total):
        shard = records[index * limit : (index + 1) * limit]
        relative = shard_path(config, split, index, total)
        target = release_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(target, schema, **PARQUET_OPTIONS) as writer:
            # One call per row group: the same row groups, pages and bytes as writing the whole
            # shard at once with row_group_size=ROW_GROUP_SIZE, without holding the shard in memory.
            for start in range(0, max(len(shard), 1), ROW_GROUP_SIZE):
                group = shard[start : start + ROW_GROUP_SIZE]
                writer.write_table(records_table(group, record_tree, schema, describe),
                                   row_group_size=ROW_GROUP_SIZE)
        paths.append(relative)
    return paths


# --- records -> Arrow ----------------------------------------------------------------------------


class _NotSimple(Exception):
    """Some value needs the per-record encoder: it has a shape error, or a type the fast path skips."""


def records_table(records: list[dict], record_tree: Node, schema: pa.Schema,
                  describe: Callable[[dict], str]) -> pa.Table:
    """The Arrow table of `records`, exactly as `encode_record` row by row would build it.

    The fast path checks and encodes whole columns (one comprehension per field instead of one
    recursive call per value). Whenever a column holds anything it does not accept as plainly
    valid, the batch goes through `encode_record`, which raises the precise error naming the
    record, or builds the same rows the slow way.
    """
    try:
        columns, _ = _object_columns(records, record_tree, top_level=True)
    except Exception:  # the exact path re-raises a genuine error with the record's name
        rows = [encode_record(record, record_tree, describe(record)) for record in records]
        return pa.Table.from_pylist(rows, schema=schema)
    arrays = [pa.array(values, type=field.type, from_pandas=False) for values, field in zip(columns, schema)]
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
        return [None if v is None else _canonical(v) for v in values]
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


def _canonical(value) -> str:
    # the same text `encode_record` stores for a free-form object
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# --- reading back --------------------------------------------------------------------------------


def iter_row_groups(paths: list[Path], columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The shards' row groups in order, each as a table of the given columns (default: all)."""
    for path in paths:
        parquet_file = pq.ParquetFile(path)
        for index in range(parquet_file.num_row_groups):
            yield parquet_file.read_row_group(index, columns=columns)


def read_columns(paths: list[Path], columns: list[str]) -> pa.Table:
    """The given columns of the shards (those the files have), as one table; other columns are not read."""
    available = set(pq.read_schema(paths[0]).names)
    wanted = [name for name in dict.fromkeys(columns) if name in available]
    return pa.concat_tables([pq.read_table(path, columns=wanted) for path in paths])


def arrow_nbytes(paths: list[Path]) -> int:
    """In-memory Arrow size of the shards: the `num_bytes` that `datasets` records for a split.

    Summed row group by row group: a whole split read at once would need its full Arrow size in
    memory, and reading it whole gives one chunk per row group, so the sum is the same.
    """
    return sum(table.nbytes for table in iter_row_groups(paths))


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
