"""Compatibility export: the four files of the original release, from built records.

tomato.json (all), tomato_first.json (order 1), tomato_second.json (order 2) and tomato_fb.json
(order 2 with false_belief). Provenance is dropped; rows are sorted by (sotopia_environment,
sotopia_agents, mental_state, int(u_id)); keys sorted, 4-space indent, as the original files.

The original's `false_belief` is a boolean, and its tools take the false-belief subset from
tomato_fb.json. An item released as not judged (false_belief null: no fit judge decided it) is
written with false_belief false, so it is in tomato.json and tomato_second.json but never in
tomato_fb.json: that file holds only items a fit judge labelled false beliefs (with none, it is an
empty list). The Hub release keeps the null; the card says how many items are not judged.
"""

from __future__ import annotations

import json
from pathlib import Path

RELEASED_FIELDS = ("q", "a0", "a1", "a2", "a3", "a_idx", "a_str", "big_five", "conversation", "false_belief",
                   "mental_state", "order", "q_id", "sotopia_agents", "sotopia_environment", "u_id")

FILES = {
    "tomato.json": lambda r: True,
    "tomato_first.json": lambda r: r["order"] == 1,
    "tomato_second.json": lambda r: r["order"] == 2,
    "tomato_fb.json": lambda r: r["order"] == 2 and r["false_belief"] is True,
}


def release_sort_key(record: dict) -> tuple:
    return (record["sotopia_environment"], tuple(record["sotopia_agents"]), record["mental_state"],
            int(record["u_id"]))


def compat_record(record: dict) -> dict:
    missing = [f for f in RELEASED_FIELDS if f not in record]
    if missing:
        raise ValueError(f"record {record.get('q_id', '?')} lacks released fields {missing}; "
                         "export only records built by builders.tomato")
    row = {field: record[field] for field in RELEASED_FIELDS}
    row["false_belief"] = record["false_belief"] is True  # not judged (null) is not in the FB subset
    return row


def dumps(rows: list[dict]) -> str:
    return json.dumps(rows, sort_keys=True, indent=4)


def export_compat(records: list[dict], out_dir: str | Path) -> dict[str, int]:
    """Writes the four files into `out_dir`, each one that has rows (an empty `[]` file is not written: no
    loader reads it); returns file name -> row count, 0 for a file not written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted((compat_record(r) for r in records), key=release_sort_key)
    counts = {}
    for name, keep in FILES.items():
        selected = [r for r in rows if keep(r)]
        counts[name] = len(selected)
        if selected:
            (out_dir / name).write_text(dumps(selected), encoding="utf-8")
    return counts
