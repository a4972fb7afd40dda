"""Compatibility export: one CSV per track with the published columns, in the published order.

The original harness reads `prompt`, `gt`, `option1`..`option5` and `option1_profile`..
`option5_profile` (spec section 3); `Literary.csv` and `Drama.csv` have identical columns, with
`option5` and `option5_profile` empty. Extra columns and provenance are dropped. Rows keep the
release order. With `with_ids=True` the stable `id` column comes first (spec section 11, item 2:
resuming by prompt text breaks on duplicates; an id column fixes it).

    python -m builders.personaeval.export <release folder or parquet files...> --out DIR
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

PUBLISHED_COLUMNS = (
    "prompt", "gt", "option1", "option2", "option3", "option4",
    "option1_profile", "option2_profile", "option3_profile", "option4_profile",
    "option5", "option5_profile",
)


def csv_text(records: list[dict], *, with_ids: bool = False) -> str:
    columns = (("id",) if with_ids else ()) + PUBLISHED_COLUMNS
    missing = sorted({column for record in records for column in columns if column not in record})
    if missing:
        raise ValueError(f"records lack published columns {missing}; export rows built by builders.personaeval")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([record[column] for column in columns])
    return buffer.getvalue()


def export_csv(records: list[dict], out_dir: str | Path, *, with_ids: bool = False) -> dict[str, int]:
    """Write `<track>.csv` per track found in `records` (e.g. Drama.csv); returns file name -> rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_track: dict[str, list[dict]] = {}
    for record in records:
        by_track.setdefault(record["track"], []).append(record)
    counts = {}
    for track, rows in sorted(by_track.items()):
        name = f"{track}.csv"
        (out_dir / name).write_text(csv_text(rows, with_ids=with_ids), encoding="utf-8")
        counts[name] = len(rows)
    return counts


def read_release(paths: list[Path]) -> list[dict]:
    """Rows of a release folder (every data/<config>/*.parquet) or of the given parquet files."""
    import pyarrow.parquet as pq

    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("data/*/*.parquet")) if path.is_dir() else [path])
    if not files:
        raise SystemExit(f"no parquet files under {', '.join(map(str, paths))}; pass a release folder (with data/)")
    rows, seen = [], set()
    for file in files:
        for row in pq.read_table(file).to_pylist():
            if row["id"] not in seen:  # a row belongs to one config, but be safe with overlapping globs
                seen.add(row["id"])
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.personaeval.export",
                                     description="Write the published PersonaEval CSV files from a release.")
    parser.add_argument("paths", nargs="+", type=Path, help="a release folder, or parquet files")
    parser.add_argument("--out", type=Path, required=True, help="folder for Drama.csv / Literary.csv")
    parser.add_argument("--with-ids", action="store_true", help="add the stable id column first")
    args = parser.parse_args(argv)
    counts = export_csv(read_release(args.paths), args.out, with_ids=args.with_ids)
    for name, rows in counts.items():
        print(f"{args.out / name}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
