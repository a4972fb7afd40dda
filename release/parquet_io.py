"""Deterministic parquet shards: same rows + same schema => byte-identical files.

Every knob that changes bytes is pinned here: compression and its level, row-group size, page and
dictionary settings, and the schema metadata (the Arrow schema plus the `datasets` features,
nothing time- or host-dependent). Row order is the caller's. The writer's `created_by` string
names the pyarrow version, so upgrading pyarrow changes the bytes (and hence the content hash).

A split is written by a `SplitWriter`, fed Arrow tables of its rows in release order: it cuts them
into shards and row groups, so memory stays bounded by a few row groups whatever the split size.
The parquet encoding and compression run on the `WriteQueue`'s thread: pyarrow releases the GIL
while it compresses, so the caller's Python can encode the next row group meanwhile.
Reading back is by row group and by column.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from release.arrow_schema import Node, records_table

ZSTD_LEVEL = 3  # level 9 wrote ~6% smaller files at a quarter of the speed: most of a 10^6-record release
ROW_GROUP_SIZE = 10_000
MAX_ROWS_PER_SHARD = 500_000
MAX_QUEUED_WRITES = 4  # row groups waiting for the writer thread: bounds the memory they hold
# Arrow buffers of a release come from the C library's allocator: pyarrow's default pool (mimalloc)
# hands the pages of each freed row group back to the OS and faults fresh ones in for the next
# (measured on the 2-core VM, 2*10^5 records: 8.3-11.4 s CPU with mimalloc, 6.8-7.1 s with this).
MEMORY_POOL = pa.system_memory_pool()
PARQUET_OPTIONS = dict(
    memory_pool=MEMORY_POOL,
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


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenSplit:
    """One config/split as written: its shards (relative paths, in order), rows, and Arrow size."""

    paths: list[str]
    rows: int
    arrow_nbytes: int  # in-memory size as loaded: the `num_bytes` that `datasets` records for a split


class WriteQueue:
    """Runs write jobs on one background thread, in submission order, with at most
    `MAX_QUEUED_WRITES` waiting. A failed job's error is raised to the caller by a later `submit`
    or by `drain`, and every job after it is skipped. Use as a context manager: leaving it waits
    for the thread, so no file is touched after an error has propagated."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._queued: deque[Future] = deque()
        self._failed = threading.Event()

    def submit(self, job: Callable[..., None], *args) -> None:
        self._queued.append(self._executor.submit(self._run, job, *args))
        while len(self._queued) > MAX_QUEUED_WRITES or (self._queued and self._queued[0].done()):
            self._queued.popleft().result()

    def drain(self) -> None:
        """Wait until every submitted job has run; raise the first failure."""
        while self._queued:
            self._queued.popleft().result()

    def _run(self, job: Callable[..., None], *args) -> None:
        if self._failed.is_set():
            return
        try:
            job(*args)
        except BaseException:
            self._failed.set()
            raise

    def __enter__(self) -> WriteQueue:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            try:
                self.drain()
            finally:
                self._executor.shutdown(wait=True)
        else:
            self._failed.set()  # the caller is failing: skip what is still queued
            self._executor.shutdown(wait=True, cancel_futures=True)


class SplitWriter:
    """Writes one config/split, fed Arrow tables of its rows in release order (`append`), as
    shards of `MAX_ROWS_PER_SHARD` rows with row groups of `ROW_GROUP_SIZE` rows counted from each
    shard's start: the same bytes as writing each shard whole with `row_group_size=ROW_GROUP_SIZE`,
    however the rows arrive. `total_rows` must be known up front: it fixes the shard names.

    The files are complete once `close()` has been called and the queue drained.
    """

    def __init__(self, release_dir: Path, config: str, split: str, schema: pa.Schema, total_rows: int,
                 queue: WriteQueue):
        self.schema, self.total_rows, self.queue = schema, total_rows, queue
        self.shard_rows = MAX_ROWS_PER_SHARD  # read at run time: tests shrink it
        shards = max(1, -(-total_rows // self.shard_rows))
        self.paths = [shard_path(config, split, index, shards) for index in range(shards)]
        self.release_dir = release_dir
        self.pending: list[pa.Table] = []  # appended rows not yet cut into a row group
        self.pending_rows = 0
        self.rows = 0  # rows handed to the queue
        self.arrow_nbytes = 0
        self._open: tuple[int, pq.ParquetWriter] | None = None  # used on the writer thread only

    def append(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        if self.rows + self.pending_rows + table.num_rows > self.total_rows:
            raise ValueError(f"{self.paths[0]}: more rows appended than the {self.total_rows} announced.")
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self._next_group_rows() > 0:
            self._submit_group(self._next_group_rows())

    def close(self) -> WrittenSplit:
        if self.pending_rows:
            self._submit_group(self.pending_rows)
        if self.rows != self.total_rows:
            raise ValueError(f"{self.paths[0]}: {self.rows} rows were written where {self.total_rows} were announced.")
        if not self.total_rows:  # an empty split is still a file (with the schema), as loaders expect
            self.queue.submit(self._write_group, 0, self.schema.empty_table())
        self.queue.submit(self._close_file)
        return WrittenSplit(list(self.paths), self.rows, self.arrow_nbytes)

    def _next_group_rows(self) -> int:
        """Rows of the next row group: a full one, or what is left of the current shard."""
        shard_end = (self.rows // self.shard_rows + 1) * self.shard_rows
        return min(ROW_GROUP_SIZE, shard_end - self.rows, self.total_rows - self.rows)

    def _submit_group(self, rows: int) -> None:
        table = pa.concat_tables(self.pending, memory_pool=MEMORY_POOL) if len(self.pending) > 1 else self.pending[0]
        group, rest = table.slice(0, rows).combine_chunks(memory_pool=MEMORY_POOL), table.slice(rows)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), self.pending_rows - rows
        self.arrow_nbytes += loaded_nbytes(group)
        self.queue.submit(self._write_group, self.rows // self.shard_rows, group)
        self.rows += rows

    def _write_group(self, shard: int, group: pa.Table) -> None:
        if self._open is None or self._open[0] != shard:
            self._close_file()
            target = self.release_dir / self.paths[shard]
            target.parent.mkdir(parents=True, exist_ok=True)
            self._open = (shard, pq.ParquetWriter(target, self.schema, **PARQUET_OPTIONS))
        self._open[1].write_table(group, row_group_size=ROW_GROUP_SIZE)

    def _close_file(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None


def write_split(records: list[dict], record_tree: Node, schema: pa.Schema, release_dir: Path, config: str,
                split: str, *, describe: Callable[[dict], str]) -> WrittenSplit:
    """Write `records` (already in release order) as one config/split's shards.

    `describe(record)` names a record in shape errors (e.g. "all/test record q_id='x'").
    """
    schema = with_features_metadata(schema)
    with WriteQueue() as queue:
        writer = SplitWriter(release_dir, config, split, schema, len(records), queue)
        for start in range(0, len(records), ROW_GROUP_SIZE):
            writer.append(records_table(records[start : start + ROW_GROUP_SIZE], record_tree, schema, describe,
                                        MEMORY_POOL))
        written = writer.close()
    return written


# --- sizes ---------------------------------------------------------------------------------------


def loaded_nbytes(table: pa.Table) -> int:
    """`table.nbytes` of these rows as a parquet reader returns them (one chunk per column).

    Computed from the values rather than the buffers: a table built in memory may hold buffers a
    reader does not allocate (a validity bitmap without nulls, bytes behind null or sliced-off
    entries). What pyarrow's reader allocates (checked by tests/test_release_parquet_io.py): a
    validity bitmap for a nullable field that has nulls, and for every nullable integer or float
    field; int32 offsets for strings and lists (`nbytes` counts one per row); no bytes for a null
    string or list. A struct's `nbytes` is its children's: its own bitmap is not counted.
    """
    return sum(_loaded_nbytes(column, field.nullable) for column, field in zip(table.columns, table.schema))


def _loaded_nbytes(values: pa.Array | pa.ChunkedArray, nullable: bool) -> int:
    rows = len(values)
    if not rows:
        return 0
    kind = values.type
    fixed_width = not (pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_binary(kind)
                       or pa.types.is_list(kind) or pa.types.is_struct(kind))
    validity = _bitmap_bytes(rows) if nullable and (values.null_count or fixed_width) else 0
    if pa.types.is_boolean(kind):
        return validity + _bitmap_bytes(rows)
    if pa.types.is_string(kind) or pa.types.is_binary(kind):
        return validity + 4 * rows + (pc.sum(pc.binary_length(values)).as_py() or 0)
    if pa.types.is_list(kind):
        return validity + 4 * rows + _loaded_nbytes(pc.list_flatten(values), kind.value_field.nullable)
    if pa.types.is_struct(kind):  # struct_field merges the struct's nulls into the child, as a reader does
        return sum(_loaded_nbytes(pc.struct_field(values, [index]), kind.field(index).nullable)
                              for index in range(kind.num_fields))
    if kind.bit_width % 8 == 0:
        return validity + rows * kind.bit_width // 8
    raise TypeError(f"no loaded size rule for Arrow type {kind}; the release schema produces none such.")


def _bitmap_bytes(rows: int) -> int:
    return (rows + 7) // 8


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
