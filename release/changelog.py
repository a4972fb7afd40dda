"""CHANGELOG.md: what a release adds, removes and changes against the previous one.

Records are matched by the benchmark's id field; a record "changed" when its id is kept but the
hash of its canonical JSON differs. Both sides are compared as read back from parquet, so the
comparison sees exactly what users load. Entries accumulate, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from release.manifest import canonical_json, sha256_bytes

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHANGELOG_NAME = "CHANGELOG.md"
MAX_IDS_LISTED = 50  # per kind and split; counts stay exact


@dataclass
class SplitDiff:
    config: str
    split: str
    rows: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0


def diff_split(config: str, split: str, old_rows: list[dict], new_rows: list[dict], id_field: str) -> SplitDiff:
    old = _hash_by_id(old_rows, id_field)
    new = _hash_by_id(new_rows, id_field)
    diff = SplitDiff(config, split, rows=len(new_rows))
    diff.added = sorted(set(new) - set(old))
    diff.removed = sorted(set(old) - set(new))
    kept = sorted(set(new) & set(old))
    diff.changed = [record_id for record_id in kept if old[record_id] != new[record_id]]
    diff.unchanged = len(kept) - len(diff.changed)
    return diff


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


def _hash_by_id(rows: list[dict], id_field: str) -> dict[str, str]:
    return {str(row[id_field]): sha256_bytes(canonical_json(row)) for row in rows}


def _entries_of(changelog: str | None) -> str:
    """The previous file without its title, so entries accumulate under one heading."""
    if not changelog:
        return ""
    body = changelog.split("\n", 1)[1] if changelog.startswith("# Changelog") else changelog
    return body.strip()
