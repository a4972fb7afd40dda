"""Scores that travel with a release: results folders, their index, and the card's results table.

Layout inside a release folder (written by `python -m benchscore`, never by a build):

    results/index.json                every scored run (model, metric, score, interval, n,
                                      unparseable, sha256 of its files) and, after a calibrated
                                      rebuild, the reference models' scores against the previous version
    results/<run>/scores.json         one run's scores with intervals and everything that produced them
    results/<run>/predictions.parquet one row per scored answer

Results are listed in their own index, not in the manifest's `files`: the manifest records the
release as it was built (and `python -m release push` publishes exactly that), while results are
added later, by anyone, any number of times. Nothing here touches data/, so the content hash and
every data digest stay as they were. The one manifest entry that changes is the card's: the card
gets a results table (`<!-- toolkit:begin results -->` section), and its digest in the manifest is
updated with it, so `release.hub.check_release_files` still verifies the folder. The content hash
never covered the card.

An index written for other data (a folder re-downloaded after the Hub's main moved) is stale: its
runs are dropped when the next run is recorded.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from release.card_merge import SECTION
from release.manifest import (
    MANIFEST_NAME,
    canonical_json,
    read_manifest,
    sha256_bytes,
    sha256_file,
)
from release.resources import card_environment

RESULTS_DIR = "results"
INDEX_NAME = f"{RESULTS_DIR}/index.json"
README_NAME = "README.md"
SECTION_NAME = "results"
TEMPLATE = "_results.md"
INDEX_FORMAT = 1
# Owned sections the results table goes before, in order of preference: results sit after the
# statistics and before how the release was built.
INSERT_BEFORE = ("build", "usage", "citation")


def read_index(release_dir: Path) -> dict:
    """The results index of a release (an empty one when nothing was scored, or it was for other data)."""
    manifest = read_manifest(release_dir)
    empty = {"format": INDEX_FORMAT, "benchmark": manifest["benchmark"], "version": manifest["version"],
             "content_hash": manifest["content_hash"], "runs": {}, "calibration": None}
    path = Path(release_dir) / INDEX_NAME
    if not path.is_file():
        return empty
    index = json.loads(path.read_text(encoding="utf-8"))
    return index if index.get("content_hash") == manifest["content_hash"] else empty


def record_run(release_dir: Path, run: str, entry: dict, files: dict[str, bytes]) -> dict:
    """Write one run's files under results/<run>/, list them in the index, refresh the card.
    `files` maps file names ("scores.json") to their bytes. Returns the updated index."""
    release_dir = Path(release_dir)
    digests = {}
    for name, data in sorted(files.items()):
        relative = f"{RESULTS_DIR}/{run}/{name}"
        _write_atomically(release_dir / relative, data)
        digests[relative] = {"sha256": sha256_bytes(data), "size": len(data)}
    index = read_index(release_dir)
    index["runs"][run] = {**entry, "files": digests}
    index["runs"] = dict(sorted(index["runs"].items()))
    _save(release_dir, index)
    return index


def record_calibration(release_dir: Path, calibration: dict) -> dict:
    """Store a rebuild's calibration (reference scores on this and the previous version) and refresh the card."""
    index = read_index(release_dir)
    index["calibration"] = calibration
    _save(release_dir, index)
    return index


def result_files(release_dir: Path) -> list[str]:
    """Every results file of the release (index first), relative to the release folder."""
    index = read_index(release_dir)
    return [INDEX_NAME, *sorted(path for run in index["runs"].values() for path in run["files"])]


def _save(release_dir: Path, index: dict) -> None:
    _write_atomically(release_dir / INDEX_NAME, canonical_json(index))
    refresh_card(release_dir, index)


def refresh_card(release_dir: Path, index: dict) -> None:
    """Re-render the card's results section from the index and update the card's manifest digest."""
    card_path = Path(release_dir) / README_NAME
    if not card_path.is_file():  # a release always has a card; a damaged copy keeps its results anyway
        return
    card = card_path.read_text(encoding="utf-8")
    _write_atomically(card_path, with_results_section(card, render_results_section(index)).encode("utf-8"))
    _update_card_digest(Path(release_dir))


def render_results_section(index: dict) -> str:
    """The `<!-- toolkit:begin results -->` ... `<!-- toolkit:end results -->` block of a card."""
    template = card_environment().get_template(TEMPLATE)
    return template.render(runs=list(index["runs"].values()), calibration=index.get("calibration"),
                           version=index["version"]).strip()


def with_results_section(card: str, section: str) -> str:
    """`card` with its results section replaced by `section`, or `section` inserted (before the
    build, usage or citation section, else at the end). Nothing else in the card changes."""
    for match in SECTION.finditer(card):
        if match["name"] == SECTION_NAME:
            return card[:match.start()] + section + card[match.end():]
    starts = {match["name"]: match.start() for match in SECTION.finditer(card)}
    for name in INSERT_BEFORE:
        if name in starts:
            return card[:starts[name]] + section + "\n\n" + card[starts[name]:]
    return card.rstrip("\n") + "\n\n" + section + "\n"


def _update_card_digest(release_dir: Path) -> None:
    manifest = read_manifest(release_dir)
    if README_NAME not in manifest["files"]:
        return
    card = release_dir / README_NAME
    manifest["files"][README_NAME] = {"sha256": sha256_file(card), "size": card.stat().st_size}
    _write_atomically(release_dir / MANIFEST_NAME, canonical_json(manifest))


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file next to `path` and rename it into place: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are mode 0600, and a results file must be readable as the release is.
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "xb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
