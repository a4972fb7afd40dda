"""Compatibility export: released rows -> the three files of the original release (spec §2).

Drops what the original did not have (`record_id`, `record_type`, `relation`,
`triples_structured`, `provenance`), restores the `{"Target Character": [...]}` wrapper of ID
triples, and removes the null dimension keys that parquet adds to `qa_data` items.

A file that would hold no record is not given (an export, like a release, holds no empty file): a
release built without held-out works has no `ood` rows, so its export has no `ood_test_book.json`,
and a `[]` there would read as a test set that exists and is empty.
"""

from __future__ import annotations

from builders.litchartom.records import WRAPPER_KEY

CURRENT_FIELDS = ("book_name", "character", "plot_index", "plot_summary", "scenario", "triples", "qa_data")
OOD_FIELDS = ("messages", "corresponding_triples", "triples", "plot_id", "book_name", "character",
              "correct_answer", "qa_type")


def original_files(rows: list[dict]) -> dict[str, list[dict]]:
    current = [_current(r) for r in rows if r["record_type"] == "current"]
    with_prev = [{**c, "previous_plots": r["previous_plots"]}
                 for c, r in zip(current, [r for r in rows if r["record_type"] == "current"])]
    ood = [{k: r[k] for k in OOD_FIELDS} for r in rows if r["record_type"] == "ood"]
    files = {"all_books_current.json": current, "all_books_with_prev.json": with_prev, "ood_test_book.json": ood}
    return {name: entries for name, entries in files.items() if entries}


def _current(row: dict) -> dict:
    record = {k: row[k] for k in CURRENT_FIELDS}
    record["triples"] = {WRAPPER_KEY: list(row["triples"])}
    items = [{label: body for label, body in item.items() if body is not None}
             for item in row["qa_data"][WRAPPER_KEY]]
    record["qa_data"] = {WRAPPER_KEY: items}
    return record
