"""Deterministic parquet shards: same records + same schema => byte-identical files.

Every knob that changes bytes is pinned here: row order (decided by the caller), compression and
its level, row-group size, page and dictionary settings, and the schema metadata (the Arrow schema
plus the `datasets` features, nothing time- or host-dependent). The writer's `created_by` string
names the pyarrow version, so upgrading pyarrow changes the bytes (and hence the content hash).
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

ZSTD_LEVEL = 9
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
    rows: list[dict],
    schema: pa.Schema,
    release_dir: Path,
    config: str,
    split: str,
    *,
    max_rows_per_shard: int | None = None,
) -> list[str]:
    """Write `rows` (already in release order) as shards; return their relative paths."""
    limit = max_rows_per_shard or MAX_ROWS_PER_SHARD
    total = max(1, -(-len(rows) // limit))
    schema = with_features_metadata(schema)
    paths = []
    for index in range(total):
        chunk = rows[index * limit : (index + 1) * limit]
        relative = shard_path(config, split, index, total)
        target = release_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(chunk, schema=schema)
        pq.write_table(table, target, row_group_size=ROW_GROUP_SIZE, **PARQUET_OPTIONS)
        paths.append(relative)
    return paths


def read_rows(paths: list[Path]) -> list[dict]:
    """Rows of the given shards, in order, as plain Python values."""
    rows: list[dict] = []
    for path in paths:
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def arrow_nbytes(paths: list[Path]) -> int:
    """In-memory Arrow size of the shards: the `num_bytes` that `datasets` records for a split."""
    return sum(pq.read_table(path).nbytes for path in paths)
