"""Cross-release leakage: how much of a new release's test data earlier releases already published.

Published benchmarks leak into training data, so an item that an earlier release carried verbatim
or nearly measures memory rather than skill. Two comparisons, reported separately:

- against the `train` splits of every earlier release (the classic train/test contamination);
- against every split of every earlier release (a regenerated benchmark should be fresh versus
  everything published before it).

The new side is the release's `test` split (every split when it has none). Both sides are read
back from parquet, so they are exactly what users load, and compared with
`builders.dedup.leakage_check` on the benchmark's `dedup_text`, the same text and threshold that
decide duplicates inside one build. Leakage never fails a release; it is reported in the manifest
and the card.

Only what `dedup_text` reads is decoded: a row is a lazy mapping that fetches a column of its row
group on first access, so a text built from two short fields never pays for a long transcript
column. A record is identified by (version, config, split, id); one that several configs or
versions carry with the same text is compared once, at its earliest place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq

from builders.benchmark import Benchmark
from builders.dedup import leakage_check
from release.arrow_schema import Node, decoded_values
from release.manifest import read_manifest

THRESHOLD = 0.85  # the dedup stage's default: "leaked" means what "duplicate" means within a build
MAX_MATCHES_LISTED = 50  # per comparison, in the manifest; counts stay exact
NEW_SPLIT = "test"
TRAIN_SPLIT = "train"

# {config: {split: [shard paths]}}, configs and splits in release order
Shards = dict[str, dict[str, list[Path]]]


class Place(NamedTuple):
    """Where one compared record lives."""

    version: str
    config: str
    split: str
    id: str


@dataclass
class Side:
    """The records of one side of a comparison: their places and dedup texts, index-aligned."""

    places: list[Place] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def add(self, place: Place, text: str) -> None:
        self.places.append(place)
        self.texts.append(text)

    def records(self) -> list[dict]:
        return [{"ref": index, "text": text} for index, text in enumerate(self.texts)]


def release_shards(release_dir: Path) -> Shards:
    """The parquet shards of a published release, from its manifest."""
    manifest = read_manifest(release_dir)
    return {config: {split: sorted(release_dir / path for path in manifest["files"]
                                   if path.startswith(f"data/{config}/{split}-"))
                     for split in splits}
            for config, splits in manifest["counts"].items()}


def check_leakage(
    benchmark: Benchmark,
    record_tree: Node,
    new_version: str,
    new_shards: Shards,
    earlier: list[tuple[str, Shards]],
    *,
    max_matches_listed: int | None = MAX_MATCHES_LISTED,
) -> dict:
    """The manifest's `leakage` object for a new release against `earlier` [(version, shards)],
    oldest first. `record_tree` is the release's parsed JSON schema (it says which columns hold
    JSON-encoded objects). `max_matches_listed=None` lists every match (benchmarks score them)."""
    new_splits = _new_splits(new_shards)
    report = {
        "new_splits": new_splits,
        "new_records": None,  # counted only when there is something to compare with
        "earlier_versions": [version for version, _ in earlier],
        "unreadable_versions": [],
        "not_checked": None,
        "threshold": THRESHOLD,
        "max_matches_listed": max_matches_listed,
        "against_train": None,
        "against_all": None,
    }
    if not earlier:
        return report
    try:
        new = _new_side(benchmark, record_tree, new_version, new_shards, new_splits)
    except Exception as error:  # noqa: BLE001 - a dedup text that fails here is reported, not fatal
        report["not_checked"] = _reason(error)
        return report
    report["new_records"] = len(new.texts)
    train, everything, report["unreadable_versions"] = _earlier_sides(benchmark, record_tree, earlier)
    report["against_train"] = _compare(new, train, max_matches_listed)
    report["against_all"] = _compare(new, everything, max_matches_listed)
    return report


def _new_splits(shards: Shards) -> list[str]:
    splits = list(dict.fromkeys(split for config in shards.values() for split in config))
    return [NEW_SPLIT] if NEW_SPLIT in splits else splits


def _new_side(benchmark, record_tree, version: str, shards: Shards, splits: list[str]) -> Side:
    """The new release's records in `splits`, once per id (configs are views of one set of records)."""
    side, seen = Side(), set()
    for place, text in _texts(benchmark, record_tree, version, shards, set(splits)):
        if place.id not in seen:
            seen.add(place.id)
            side.add(place, text)
    return side


def _earlier_sides(benchmark, record_tree, earlier) -> tuple[Side, Side, list[dict]]:
    """The earlier releases' `train` records and all their records, each once per (id, text) at its
    first place; and the versions that could not be read (e.g. `dedup_text` needs a field an old
    schema lacks), which are reported rather than fatal."""
    train, everything, unreadable = Side(), Side(), []
    seen_train, seen = set(), set()
    for version, shards in earlier:
        try:
            published = list(_texts(benchmark, record_tree, version, shards, None))
        except Exception as error:  # noqa: BLE001 - whatever fails on old data is reported
            unreadable.append({"version": version, "reason": _reason(error)})
            continue
        for place, text in published:
            key = (place.id, text)
            if key not in seen:
                seen.add(key)
                everything.add(place, text)
            if place.split == TRAIN_SPLIT and key not in seen_train:
                seen_train.add(key)
                train.add(place, text)
    return train, everything, unreadable


def _texts(benchmark: Benchmark, record_tree: Node, version: str, shards: Shards, splits: set[str] | None):
    """(place, dedup text) of every record in the given splits (None: all), in release order."""
    nodes = {name: node for name, node, _ in record_tree.properties}
    for config, by_split in shards.items():
        for split, paths in by_split.items():
            if splits is not None and split not in splits:
                continue
            for path in paths:
                parquet_file = pq.ParquetFile(path)
                for index in range(parquet_file.num_row_groups):
                    group = _RowGroup(parquet_file, index, nodes)
                    for row, record_id in enumerate(group.column(benchmark.id_field)):
                        text = benchmark.dedup_text(_LazyRow(group, row))
                        yield Place(version, config, split, str(record_id)), text


class _RowGroup:
    """One row group whose columns are read and decoded on first use."""

    def __init__(self, parquet_file: pq.ParquetFile, index: int, nodes: dict[str, Node]):
        self.parquet_file, self.index, self.nodes = parquet_file, index, nodes
        self.names = parquet_file.schema_arrow.names
        self.columns: dict[str, list] = {}

    def column(self, name: str) -> list:
        if name not in self.columns:
            if name not in self.names:
                raise KeyError(name)
            table = self.parquet_file.read_row_group(self.index, columns=[name])
            self.columns[name] = decoded_values(table.column(0), self.nodes.get(name))
        return self.columns[name]


class _LazyRow(Mapping):
    """A record as `dedup_text` sees it: a read-only mapping over one row of a row group."""

    __slots__ = ("group", "row")

    def __init__(self, group: _RowGroup, row: int):
        self.group, self.row = group, row

    def __getitem__(self, name: str):
        return self.group.column(name)[self.row]

    def __iter__(self):
        return iter(self.group.names)

    def __len__(self) -> int:
        return len(self.group.names)


def _compare(new: Side, previous: Side, max_matches_listed: int | None) -> dict:
    """One comparison's counts and its first matches (in the new release's order)."""
    result = leakage_check(new.records(), previous.records(), key="ref", text=_text, threshold=THRESHOLD)
    summary = result.summary
    return {
        "versions": list(dict.fromkeys(place.version for place in previous.places)),
        "previous_records": summary["previous_records"],
        "leaked_records": summary["leaked_records"],
        "leaked_share": summary["leaked_share"],
        "exact": summary["exact"],
        "near": summary["near"],
        "settings": {key: summary[key] for key in ("num_perm", "ngram", "shingles", "lsh_bands", "lsh_rows")},
        "matches": [
            {"id": new.places[match["id"]].id, "kind": match["kind"], "similarity": match["similarity"],
             "duplicate_of": previous.places[match["duplicate_of"]]._asdict()}
            for match in result.matches[:max_matches_listed]
        ],
    }


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]


def _text(record: dict) -> str:
    return record["text"]
