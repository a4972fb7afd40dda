"""Statistics the card shows, computed from the released rows (never from the build report)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Distribution:
    """Counts of one categorical field, per split, with overall totals and shares.

    For a list-valued field (e.g. a character's key traits) every element is counted, so
    `grand_total` counts elements and the shares are shares of all elements, not of rows.
    """

    field: str
    splits: list[str]
    values: list[str]
    counts: dict[str, list[int]]  # value -> count per split, in `splits` order
    totals: dict[str, int]
    grand_total: int
    rows: int = 0  # rows the counts come from
    list_valued: bool = False  # some row holds a list, whose elements were counted one by one

    def share(self, value: str) -> str:
        if not self.grand_total:
            return "0.0%"
        return f"{100 * self.totals[value] / self.grand_total:.1f}%"


def record_counts(rows_by_config: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, int]]:
    return {
        config: {split: len(rows) for split, rows in splits.items()}
        for config, splits in rows_by_config.items()
    }


def distribution(rows_by_split: dict[str, list[dict]], field: str) -> Distribution:
    per_split = {split: Counter(label for row in rows for label in category_labels(row.get(field)))
                 for split, rows in rows_by_split.items()}
    list_valued = any(isinstance(row.get(field), list) for rows in rows_by_split.values() for row in rows)
    rows = sum(len(rows) for rows in rows_by_split.values())
    return _distribution(field, per_split, rows, list_valued)


def table_distribution(tables_by_split: dict[str, pa.Table], field: str) -> Distribution:
    """`distribution` over the rows of Arrow tables, counted column-wise: the same result as over
    the rows as Python dicts, without building them (a 10^6-row split takes a fraction of a second).

    A field the tables lack counts as null in every row, as `row.get(field)` would.
    """
    per_split, list_valued = {}, False
    for split, table in tables_by_split.items():
        if field not in table.column_names:
            per_split[split] = Counter({"null": table.num_rows}) if table.num_rows else Counter()
            continue
        column = table.column(field)
        if _is_list(column.type):
            list_valued = list_valued or column.null_count < len(column)
            counts = Counter({"null": column.null_count}) if column.null_count else Counter()
            counts.update(_label_counts(pc.list_flatten(column)))
        else:
            counts = _label_counts(column)
        per_split[split] = counts
    rows = sum(table.num_rows for table in tables_by_split.values())
    return _distribution(field, per_split, rows, list_valued)


def _distribution(field: str, per_split: dict[str, Counter], rows: int, list_valued: bool) -> Distribution:
    splits = list(per_split)
    totals: Counter = Counter()
    for counter in per_split.values():
        totals.update(counter)
    values = sorted(totals, key=_category_order)
    return Distribution(
        field=field,
        splits=splits,
        values=values,
        counts={value: [per_split[split][value] for split in splits] for value in values},
        totals=dict(totals),
        grand_total=sum(totals.values()),
        rows=rows,
        list_valued=list_valued,
    )


def _label_counts(values: pa.ChunkedArray | pa.Array) -> Counter:
    """Counts of `category_label` over an Arrow column's values.

    Strings, integers and booleans are counted by Arrow, then labelled once per distinct value;
    other types (floats, whose -0.0 and 0.0 Arrow would merge; lists; structs) value by value.
    """
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) \
            or pa.types.is_boolean(kind):
        counts: Counter = Counter()
        for entry in pc.value_counts(values).to_pylist():
            counts[category_label(entry["values"])] += entry["counts"]
        return counts
    return Counter(category_label(value) for value in values.to_pylist())


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def category_labels(value) -> list[str]:
    """The categories one row contributes: one per element of a list, else its one value."""
    if isinstance(value, list):
        return [category_label(element) for element in value]
    return [category_label(value)]


def category_label(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def size_category(total_rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    for bound, label in _SIZE_BUCKETS:
        if total_rows < bound:
            return label
    return "n>1T"


_SIZE_BUCKETS = [
    (10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"), (10**12, "100B<n<1T"),
]


def _category_order(label: str) -> tuple:
    # numeric labels (answer positions, orders) sort as numbers, everything else alphabetically
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
