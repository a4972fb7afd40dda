"""The release manifest: file digests, counts, the build report, and the content hash.

The `leakage` object is `release.leakage.check_leakage`'s report: the new release's test records
against earlier releases (versions compared, counts of exact and near duplicates, threshold, and
the first matches with their ids and similarity).

The content hash covers only what a user loads: the parquet shards and the JSON schema. Cards,
charts, changelog and the build report (timings, costs) are left out, so a rebuild that produces
the same data is recognised as the same release.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


def canonical_json(value: Any) -> bytes:
    """Sorted keys, fixed separators, UTF-8, trailing newline: equal values give equal bytes."""
    text = json.dumps(
        value, sort_keys=True, ensure_ascii=False, indent=2, separators=(",", ": "), default=_jsonable
    )
    return (text + "\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(json_schema: dict, data_digests: dict[str, str]) -> str:
    """sha256 over the schema and the (path, sha256) of every parquet shard."""
    return sha256_bytes(canonical_json({"schema": json_schema, "data": data_digests}))


def file_digests(release_dir: Path, known_sha256: dict[str, str] | None = None) -> dict[str, dict]:
    """{relative path: {"sha256", "size"}} for every file in the release except the manifest.

    `known_sha256` ({relative path: sha256}) spares hashing files again (the shards, hashed for the
    content hash: hundreds of MiB in a large release)."""
    known_sha256 = known_sha256 or {}
    digests = {}
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(release_dir).as_posix()
        if relative != MANIFEST_NAME:
            sha256 = known_sha256.get(relative) or sha256_file(path)
            digests[relative] = {"sha256": sha256, "size": path.stat().st_size}
    return digests


def build_manifest(
    *,
    benchmark: str,
    version: str,
    previous_version: str | None,
    toolkit_version: str,
    content_hash_value: str,
    counts: dict[str, dict[str, int]],
    files: dict[str, dict],
    build_report: dict,
    repo_id: str | None,
    leakage: dict,
) -> dict:
    return {
        "format": MANIFEST_FORMAT,
        "benchmark": benchmark,
        "version": version,
        "previous_version": previous_version,
        "toolkit_version": toolkit_version,
        "content_hash": content_hash_value,
        "counts": counts,
        "files": files,
        "build_report": build_report,
        "repo_id": repo_id,
        "leakage": leakage,
    }


def read_manifest(release_dir: Path) -> dict:
    path = release_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{release_dir} is not a release: it has no {MANIFEST_NAME}.")
    return json.loads(path.read_text(encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    # Build reports come from builders; accept the few non-JSON types they naturally hold.
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(
        f"build report value of type {type(value).__name__} is not JSON-serialisable; "
        "give the release plain dicts, lists, strings and numbers."
    )
