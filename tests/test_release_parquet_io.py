"""parquet_io: shards and row groups however rows arrive, the Arrow size a loader sees, the write queue."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from release import parquet_io
from release.arrow_schema import arrow_schema_from_json_schema, parse_json_schema, records_table
from release.parquet_io import SplitWriter, WriteQueue, loaded_nbytes, with_features_metadata, write_split
from tests.test_release_fixtures import QUIZ_SCHEMA, quiz_record


def field(name: str, kind: pa.DataType, nullable: bool) -> pa.Field:
    return pa.field(name, kind, nullable=nullable)


# Every Arrow type a release schema produces, nested both ways, each nullable and not.
KINDS = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "ints": pa.list_(field("item", pa.int64(), True)),
    "strs": pa.list_(field("item", pa.string(), False)),
    "bools": pa.list_(field("item", pa.bool_(), True)),
    "struct": pa.struct([field("a", pa.int64(), True), field("b", pa.float64(), False), field("c", pa.string(), True),
                         field("d", pa.bool_(), True), field("e", pa.list_(field("item", pa.int64(), False)), True)]),
    "structs": pa.list_(field("item", pa.struct([field("a", pa.int64(), True), field("c", pa.string(), False)]), True)),
}
ALL_KINDS = pa.schema([field(f"{name}_{nullable}", kind, nullable) for name, kind in KINDS.items()
                       for nullable in (True, False)])


def random_value(kind: pa.DataType, rng: random.Random, null_share: float):
    if rng.random() < null_share:
        return None
    if pa.types.is_list(kind):
        item = kind.value_field
        return [random_value(item.type, rng, null_share if item.nullable else 0) for _ in range(rng.randint(0, 3))]
    if pa.types.is_struct(kind):
        return {f.name: random_value(f.type, rng, null_share if f.nullable else 0) for f in kind}
    return {pa.int64(): lambda: rng.randint(-5, 5), pa.float64(): rng.random, pa.bool_(): lambda: rng.random() < 0.5,
            pa.string(): lambda: "é" * rng.randint(0, 4)}[kind]()


def random_table(seed: int, rows: int, null_share: float) -> pa.Table:
    rng = random.Random(seed)
    return pa.Table.from_pylist([{f.name: random_value(f.type, rng, null_share if f.nullable else 0) for f in ALL_KINDS}
                                 for _ in range(rows)], schema=ALL_KINDS)


def read_back(table: pa.Table, tmp_path) -> pa.Table:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, **parquet_io.PARQUET_OPTIONS)
    return pq.read_table(path)


@pytest.mark.parametrize("null_share", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("shape", ["built", "filtered", "sliced", "empty"])
def test_loaded_nbytes_is_the_size_of_the_rows_read_back(tmp_path, null_share, shape):
    table = random_table(seed=int(null_share * 10), rows=40, null_share=null_share)
    if shape == "filtered":  # buffers keep the dropped rows' bytes and a validity bitmap
        table = table.filter(pa.array([i % 3 != 0 for i in range(table.num_rows)]))
    elif shape == "sliced":
        table = table.slice(5, 20)
    elif shape == "empty":
        table = table.slice(0, 0)
    loaded = read_back(table, tmp_path)
    for name in table.column_names:  # column by column, so a failure names the type
        nullable = table.schema.field(name).nullable
        assert parquet_io._loaded_nbytes(table.column(name), nullable) == loaded.column(name).nbytes, name
    assert loaded_nbytes(table) == loaded.nbytes


def quiz_rows(count: int) -> tuple[pa.Table, pa.Schema]:
    schema = with_features_metadata(arrow_schema_from_json_schema(QUIZ_SCHEMA))
    records = [quiz_record(i) for i in range(count)]
    return records_table(records, parse_json_schema(QUIZ_SCHEMA), schema, str), schema


def row_groups(path) -> list[int]:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def test_rows_appended_in_any_pieces_give_the_same_shards_and_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_io, "ROW_GROUP_SIZE", 4)
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 10)
    table, schema = quiz_rows(23)
    outputs = []
    for name, pieces in [("whole", [23]), ("ones", [1] * 23), ("uneven", [3, 9, 1, 7, 3])]:
        with WriteQueue() as queue:
            writer = SplitWriter(tmp_path / name, "all", "test", schema, 23, queue)
            start = 0
            for size in pieces:
                writer.append(table.slice(start, size))
                start += size
            written = writer.close()
        assert written.paths == [f"data/all/test-0000{i}-of-00003.parquet" for i in range(3)]
        assert written.rows == 23
        outputs.append([(tmp_path / name / path).read_bytes() for path in written.paths])
    assert outputs[0] == outputs[1] == outputs[2]
    shards = [tmp_path / "whole" / path for path in written.paths]
    assert [row_groups(path) for path in shards] == [[4, 4, 2], [4, 4, 2], [3]]
    assert pa.concat_tables(pq.read_table(path) for path in shards).equals(table)
    assert written.arrow_nbytes == sum(pq.ParquetFile(p).read_row_group(i).nbytes
                                       for p in shards for i in range(pq.ParquetFile(p).num_row_groups))


def test_write_split_of_records_matches_pyarrow_writing_the_table_at_once(tmp_path):
    table, schema = quiz_rows(25)
    records = [quiz_record(i) for i in range(25)]
    written = write_split(records, parse_json_schema(QUIZ_SCHEMA), arrow_schema_from_json_schema(QUIZ_SCHEMA),
                          tmp_path / "ours", "all", "test", describe=str)
    reference = tmp_path / "reference.parquet"
    pq.write_table(table, reference, row_group_size=parquet_io.ROW_GROUP_SIZE, **parquet_io.PARQUET_OPTIONS)
    assert (tmp_path / "ours" / written.paths[0]).read_bytes() == reference.read_bytes()


def test_an_empty_split_is_a_file_with_the_schema_and_no_rows(tmp_path):
    _, schema = quiz_rows(0)
    with WriteQueue() as queue:
        written = SplitWriter(tmp_path, "all", "validation", schema, 0, queue).close()
    assert (written.paths, written.rows, written.arrow_nbytes) == (["data/all/validation-00000-of-00001.parquet"], 0, 0)
    loaded = pq.read_table(tmp_path / written.paths[0])
    assert loaded.num_rows == 0 and loaded.schema.names == schema.names
    assert loaded.schema.metadata[b"huggingface"] == schema.metadata[b"huggingface"]  # the features datasets reads


def test_row_counts_that_differ_from_the_announced_one_are_errors(tmp_path):
    table, schema = quiz_rows(5)
    with pytest.raises(ValueError, match="more rows appended than the 4 announced"), WriteQueue() as queue:
        SplitWriter(tmp_path, "all", "test", schema, 4, queue).append(table)
    with pytest.raises(ValueError, match="3 rows were written where 5 were announced"), WriteQueue() as queue:
        writer = SplitWriter(tmp_path, "all", "test", schema, 5, queue)
        writer.append(table.slice(0, 3))
        writer.close()


def test_a_failed_write_is_raised_to_the_caller_and_later_writes_are_skipped():
    ran = []

    def fail():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        with WriteQueue() as queue:
            queue.submit(ran.append, 1)
            queue.submit(fail)
            for number in range(2, 20):
                queue.submit(ran.append, number)
    assert ran == [1]
