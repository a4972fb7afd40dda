"""Where the scored release comes from: a local release folder, or a Hub dataset repo at a revision.

A Hub release is downloaded with `huggingface_hub.snapshot_download` into a plain local folder
(never into the Hub cache, whose files are links into shared blobs: results are written next to
the data, and writing through a link would corrupt the cache). HF_ENDPOINT selects the server and
HF_TOKEN (or the usual login) authenticates, as for `python -m release push`.

Before anything is scored, every data shard is checked against the manifest's sha256, so scores
are always of the data the manifest (and its content hash) describe.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchscore.protocol import ScoringError
from release.manifest import MANIFEST_NAME, read_manifest, sha256_file

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
DATA_PREFIX = "data/"


@dataclass(frozen=True)
class Release:
    path: Path
    manifest: dict
    repo_id: str | None  # the Hub repo it was downloaded from (or the one its manifest names)
    revision: str | None  # the Hub revision asked for; None for a local folder

    @property
    def benchmark(self) -> str:
        return self.manifest["benchmark"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def rows(self, config: str, split: str) -> list[dict]:
        """The records of one config and split, as users load them (release order)."""
        prefix = f"{DATA_PREFIX}{config}/{split}-"
        shards = sorted(path for path in self.manifest["files"] if path.startswith(prefix))
        return [row for shard in shards for row in pq.read_table(self.path / shard).to_pylist()]


def open_release(where: str, *, revision: str | None, download_dir: Path | None) -> Release:
    """A release folder given as a path, else a Hub repo id (org/name) downloaded at `revision`."""
    path = Path(where)
    if path.exists():
        if revision:
            raise ScoringError(f"--revision applies to a Hub repo; {where} is a local folder: pass the version "
                               "folder itself (e.g. releases/tomato/v1.0.0)")
        return _local(path)
    if not REPO_ID.match(where):
        raise ScoringError(f"{where} does not exist; give a release folder (the one holding {MANIFEST_NAME}, e.g. "
                           "releases/tomato/v1.0.0) or a Hub dataset repo as org/name")
    return _from_hub(where, revision, download_dir or default_download_dir(where, revision))


def default_download_dir(repo_id: str, revision: str | None) -> Path:
    return Path("releases") / "hub" / repo_id / (revision or "main")


def _local(path: Path) -> Release:
    if not path.is_dir():
        raise ScoringError(f"{path} is a file; give a release folder (the one holding {MANIFEST_NAME})")
    if not (path / MANIFEST_NAME).is_file():
        versions = sorted(p.name for p in path.iterdir() if p.is_dir() and (p / MANIFEST_NAME).is_file())
        hint = f"; it holds the releases {', '.join(versions)}: pass one of them" if versions else ""
        raise ScoringError(f"{path} is not a release: it has no {MANIFEST_NAME}{hint}")
    release = Release(path, _manifest(path), None, None)
    verify_data(release)
    return release


def _manifest(path: Path) -> dict:
    try:
        manifest = read_manifest(path)
    except ValueError as error:  # json.JSONDecodeError
        raise ScoringError(f"{path / MANIFEST_NAME} is not valid JSON ({error}); the release is damaged") from None
    missing = [key for key in ("benchmark", "version", "content_hash", "counts", "files") if key not in manifest]
    if missing:
        raise ScoringError(f"{path / MANIFEST_NAME} lacks {', '.join(missing)}: it is not a toolkit release manifest")
    return manifest


def verify_data(release: Release) -> None:
    """Every data shard the manifest lists exists and has its recorded sha256."""
    for relative, info in sorted(release.manifest["files"].items()):
        if relative.startswith(DATA_PREFIX):
            local = release.path / relative
            if not local.is_file() or sha256_file(local) != info["sha256"]:
                raise ScoringError(f"{local} is missing or differs from {MANIFEST_NAME}; the release data was changed "
                                   "after it was written: score an intact copy (or download it again)")


def _from_hub(repo_id: str, revision: str | None, target: Path) -> Release:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    try:
        snapshot_download(repo_id, repo_type="dataset", revision=revision, local_dir=target,
                          endpoint=os.environ.get("HF_ENDPOINT") or None)
    except RevisionNotFoundError:
        raise ScoringError(f"{repo_id} on {endpoint} has no revision {revision!r}; pass an existing tag such as "
                           f"v1.0.0{_tags_hint(repo_id)}") from None
    except RepositoryNotFoundError:
        raise ScoringError(f"{repo_id} is not a local folder, and {endpoint} has no dataset repo {repo_id} that this "
                           "token can read; check the name, HF_ENDPOINT and HF_TOKEN") from None
    except (HfHubHTTPError, OSError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScoringError(f"could not download {repo_id}@{revision or 'main'} from {endpoint}: {first}") from None
    if not (target / MANIFEST_NAME).is_file():
        raise ScoringError(f"{repo_id}@{revision or 'main'} is not a toolkit release: it has no {MANIFEST_NAME}")
    release = Release(target, _manifest(target), repo_id, revision)
    verify_data(release)
    return release


def _tags_hint(repo_id: str) -> str:
    """"; its tags are v1.0.0, v1.0.1" when the tags can be listed, else nothing."""
    from huggingface_hub import HfApi

    try:
        refs = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).list_repo_refs(repo_id, repo_type="dataset")
    except Exception:  # the hint is a courtesy: the error message stands without it
        return ""
    tags = sorted(tag.name for tag in refs.tags)
    return f"; its tags are {', '.join(tags)}" if tags else "; it has no tags"
