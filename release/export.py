"""Compatibility exports: a release folder written out in the original benchmark's file layout.

    python -m release export <release folder> --format original --out DIR

The benchmark comes from the release's manifest.json. Every record of the release is read once
(a record that several configs hold is taken once, by the benchmark's id field), its free-form JSON
columns decoded back into objects, put in release order (the benchmark's sort key) and handed to the
builder's own export, so a release and the records it was built from export the same files:

- tomato: tomato.json, tomato_first.json, tomato_second.json, tomato_fb.json
  (builders/tomato/export.py);
- personaeval: <Track>.csv per track (Drama.csv, ...), the columns `personaeval run` reads
  (builders/personaeval/export.py);
- litchartom: all_books_current.json, all_books_with_prev.json, ood_test_book.json, EvolvTrip's
  files (builders/litchartom/export.py gives their contents; this module writes them);
- moral_roleplay: moral_roleplay.json, moral_roleplay_test.json, moral_roleplay_manifest.json
  (builders/moral_roleplay/export.py).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

from builders.benchmark import Benchmark
from release.arrow_schema import decoded_values, parse_json_schema
from release.manifest import read_manifest
from release.parquet_io import iter_row_groups
from release.resources import load_json_schema

FORMATS = ("original",)

Writer = Callable[[list[dict], Path], dict[str, int]]  # records in release order, folder -> file: entries


def _tomato(records: list[dict], out_dir: Path) -> dict[str, int]:
    from builders.tomato.export import export_compat

    return export_compat(records, out_dir)


def _personaeval(records: list[dict], out_dir: Path) -> dict[str, int]:
    from builders.personaeval.export import export_csv

    return export_csv(records, out_dir)


def _litchartom(records: list[dict], out_dir: Path) -> dict[str, int]:
    from builders.litchartom.export import original_files

    # The builder gives the three files' contents but writes none. The published files' formatting is
    # not documented: UTF-8 with a 2-space indent, as the Moral RolePlay export writes its JSON.
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, rows in original_files(records).items():
        (out_dir / name).write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        counts[name] = len(rows)
    return counts


def _moral_roleplay(records: list[dict], out_dir: Path) -> dict[str, int]:
    from builders.moral_roleplay.export import export_compat

    return export_compat(records, out_dir)


# Imported lazily: each builder export pulls in its own builder's modules.
ORIGINAL_WRITERS: dict[str, Writer] = {
    "tomato": _tomato,
    "personaeval": _personaeval,
    "litchartom": _litchartom,
    "moral_roleplay": _moral_roleplay,
}


def export_release(release_dir: str | Path, out_dir: str | Path, *, fmt: str = "original") -> dict[str, int]:
    """Write the release in format `fmt` into `out_dir`; returns file name -> entries written."""
    release_dir, out_dir = Path(release_dir), Path(out_dir)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}.")
    manifest = _release_manifest(release_dir)
    name = manifest.get("benchmark")
    if name not in ORIGINAL_WRITERS:
        raise ValueError(f"{release_dir} is a release of {name!r}, which has no {fmt!r} export; "
                         f"exports exist for {', '.join(ORIGINAL_WRITERS)}.")
    if out_dir.resolve().is_relative_to(release_dir.resolve()):
        # files written into a release folder would no longer match the digests of its manifest
        raise ValueError(f"--out {out_dir} is inside the release folder {release_dir}; write the export "
                         "somewhere else, a release folder must stay as it was written.")
    return ORIGINAL_WRITERS[name](release_records(release_dir, manifest), out_dir)


def release_records(release_dir: Path, manifest: dict | None = None) -> list[dict]:
    """Every record of a release once, JSON columns decoded, in release order (the benchmark's sort key)."""
    manifest = manifest or _release_manifest(release_dir)
    benchmark = builder_benchmark(manifest["benchmark"])
    # Decoding follows the benchmark's current schema, as release.leakage reads earlier releases:
    # a column the schema no longer declares is returned as stored.
    nodes = {name: node for name, node, _ in parse_json_schema(load_json_schema(benchmark.name)).properties}
    records: dict[object, dict] = {}
    for path in _shards(release_dir, manifest):
        for table in iter_row_groups([path]):
            columns = {name: decoded_values(table.column(name), nodes.get(name)) for name in table.column_names}
            for row in range(table.num_rows):
                record_id = columns[benchmark.id_field][row]
                if record_id not in records:  # configs are views of one record set: e.g. `all` holds them all
                    records[record_id] = {name: values[row] for name, values in columns.items()}
    ordered = list(records.values())
    return sorted(ordered, key=benchmark.sort_key) if benchmark.sort_key else ordered


def builder_benchmark(name: str) -> Benchmark:
    """The `BENCHMARK` descriptor of builders/<name>/build.py."""
    try:
        module = importlib.import_module(f"builders.{name}.build")
    except ModuleNotFoundError as error:
        raise ValueError(f"no builder for benchmark {name!r} (builders/{name}/build.py): {error}") from error
    return module.BENCHMARK


def _release_manifest(release_dir: Path) -> dict:
    if not release_dir.is_dir():
        raise FileNotFoundError(f"{release_dir} does not exist; pass a release folder such as "
                                "releases/tomato/v1.0.0.")
    try:
        manifest = read_manifest(release_dir)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error} Pass a release folder (releases/<benchmark>/vX.Y.Z), the one "
                                "holding manifest.json, data/ and README.md.") from None
    for key in ("benchmark", "counts", "files"):
        if key not in manifest:
            raise ValueError(f"{release_dir / 'manifest.json'} has no {key!r}: it is not a release manifest "
                             "written by this toolkit; rebuild the release.")
    return manifest


def _shards(release_dir: Path, manifest: dict) -> list[Path]:
    """The parquet shards the manifest lists for every released config and split, checked present."""
    shards = []
    for config, splits in manifest["counts"].items():
        for split in splits:
            prefix = f"data/{config}/{split}-"
            listed = sorted(p for p in manifest["files"] if p.startswith(prefix) and p.endswith(".parquet"))
            missing = [p for p in listed if not (release_dir / p).is_file()]
            if not listed or missing:
                raise FileNotFoundError(
                    f"{release_dir} is incomplete: {', '.join(missing) or prefix + '*.parquet'} missing for "
                    f"config {config!r}, split {split!r}; copy the whole release folder or rebuild it.")
            shards.extend(release_dir / p for p in listed)
    return shards
