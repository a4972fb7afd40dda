"""CHANGELOG.md: what a release adds, removes and changes against the previous one.

Records are matched by the benchmark's id field; a record "changed" when its id is kept but its
content differs. Both sides are compared as read back from parquet, so the comparison sees exactly
what users load. Entries accumulate, newest first.

Content is compared through row fingerprints computed column-wise, one row group at a time: a
128-bit hash of each row (polars `hash_rows` with two seeds) when both releases store the same
column types, else the sha256 of each row's canonical JSON (slow, but exact across a schema change:
a new column or a changed type makes every kept record differ, as its JSON would). The fingerprints
never leave this process, so the hash function only has to agree with itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from release.manifest import canonical_json, sha256_bytes
from release.parquet_io import iter_row_groups

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHANGELOG_NAME = "CHANGELOG.md"
MAX_IDS_LISTED = 50  # per kind and split; counts stay exact
_SEEDS = (0, 1)  # two 64-bit row hashes: one 128-bit fingerprint


@dataclass
class SplitDiff:
    config: str
    split: str
    rows: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0


def diff_split(config: str, split: str, old_paths: list[Path], new_paths: list[Path], id_field: str) -> SplitDiff:
    """Added, removed and changed ids of one config/split between two sets of shards."""
    if not (old_paths and new_paths):  # a first release, or a config gone: only ids, no content to compare
        old_ids, new_ids = record_ids(old_paths, id_field), record_ids(new_paths, id_field)
        return SplitDiff(config, split, rows=len(new_ids), added=sorted(new_ids), removed=sorted(old_ids))
    exact = _row_types(old_paths) != _row_types(new_paths)
    old = fingerprints(old_paths, id_field, exact=exact)
    new = fingerprints(new_paths, id_field, exact=exact)
    kept = new.join(old, on="id", how="inner", suffix="_old")
    is_changed = (pl.col("h0") != pl.col("h0_old")) | (pl.col("h1") != pl.col("h1_old"))
    return SplitDiff(
        config,
        split,
        rows=new.height,
        added=_sorted_ids(new.join(old, on="id", how="anti")),
        removed=_sorted_ids(old.join(new, on="id", how="anti")),
        changed=_sorted_ids(kept.filter(is_changed)),
        unchanged=kept.filter(~is_changed).height,
    )


def fingerprints(paths: list[Path], id_field: str, *, exact: bool) -> pl.DataFrame:
    """One row per record: `id` (as str) and two 64-bit halves `h0`, `h1` of its content fingerprint."""
    frames = [_empty_fingerprints()]
    for table in iter_row_groups(paths):
        ids = [str(value) for value in table.column(id_field).to_pylist()]
        hashes = _canonical_hashes(table) if exact else _row_hashes(table)
        frames.append(pl.DataFrame({"id": ids, "h0": hashes[0], "h1": hashes[1]},
                                   schema=_empty_fingerprints().schema))
    return pl.concat(frames)


def record_ids(paths: list[Path], id_field: str) -> list[str]:
    """The ids (as str) of the shards' records, reading only the id column."""
    return [str(value) for table in iter_row_groups(paths, [id_field]) for value in table.column(0).to_pylist()]


def render_changelog(
    *,
    version: str,
    previous_version: str | None,
    id_field: str,
    diffs: list[SplitDiff],
    previous_changelog: str | None,
) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("changelog.md.j2").render(
        version=version,
        previous_version=previous_version,
        id_field=id_field,
        diffs=diffs,
        max_ids=MAX_IDS_LISTED,
        previous_entries=_entries_of(previous_changelog),
    )


def _row_types(paths: list[Path]) -> list[tuple[str, pa.DataType]]:
    """Column names and types (metadata aside) of a split's shards: what its rows' JSON depends on."""
    return [(f.name, f.type) for f in pq.read_schema(paths[0])]


def _row_hashes(table: pa.Table) -> tuple[pl.Series, pl.Series]:
    frame = pl.from_arrow(table)
    return tuple(frame.hash_rows(seed=seed) for seed in _SEEDS)


def _canonical_hashes(table: pa.Table) -> tuple[list[int], list[int]]:
    digests = [bytes.fromhex(sha256_bytes(canonical_json(row))) for row in table.to_pylist()]
    return ([int.from_bytes(d[:8], "little") for d in digests], [int.from_bytes(d[8:16], "little") for d in digests])


def _empty_fingerprints() -> pl.DataFrame:
    return pl.DataFrame(schema={"id": pl.String, "h0": pl.UInt64, "h1": pl.UInt64})


def _sorted_ids(frame: pl.DataFrame) -> list[str]:
    return sorted(frame.get_column("id").to_list())  # Python's order, as the ids are listed


def _entries_of(changelog: str | None) -> str:
    """The previous file without its title, so entries accumulate under one heading."""
    if not changelog:
        return ""
    body = changelog.split("\n", 1)[1] if changelog.startswith("# Changelog") else changelog
    return body.strip()
