"""Publishing a release's results to its Hub dataset repo: one commit on main, no tag.

Results belong to the data they were computed on, so they are pushed only to a repo whose main
holds that data (the same content hash in its manifest.json); results of an older version are
kept in its local folder, never put next to newer data. The commit holds:

- results/index.json: the Hub's index merged with the local one (local runs win), so runs pushed
  from other machines are kept;
- every local run's scores.json and predictions.parquet;
- README.md: the Hub's card with only its results section re-rendered from the merged index.

It is guarded by `parent_commit` (a main that moved meanwhile makes the commit fail, and nothing
changes); when the Hub already has the same index and card, nothing is committed. Release tags are
never moved: a tag names the data as released, and results come after it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import EntryNotFoundError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from release.hub import REPO_TYPE, RETRY, HubState, PushError, is_transient, read_state
from release.manifest import canonical_json, read_manifest
from release.results import (
    INDEX_NAME,
    README_NAME,
    read_index,
    render_results_section,
    with_results_section,
)


def push_results(release_dir: Path, repo_id: str, *, dry_run: bool = False,
                 report: Callable[[str], None] = print) -> str | None:
    """Push the release's results; returns the commit sha (None when nothing needed committing)."""
    release_dir = Path(release_dir)
    manifest = read_manifest(release_dir)
    local = read_index(release_dir)
    if not local["runs"] and not local.get("calibration"):
        raise PushError(f"{release_dir} has no results to push: score a model first (python -m benchscore)")
    if not dry_run and not get_token():
        raise PushError(f"no Hugging Face token: set HF_TOKEN to a token with write access to {repo_id}; "
                        "nothing was pushed.")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
    state = _with_retries(read_state, api, repo_id)
    _check_same_data(state, manifest, repo_id)
    hub_index = _hub_index(api, repo_id, state)
    index = _merged(hub_index, local)
    card = with_results_section(state.readme or "", render_results_section(index)).encode("utf-8")
    files = _local_files(release_dir, local)
    if hub_index == index and (state.readme or "").encode("utf-8") == card:
        report(f"{repo_id}: the Hub already holds these results; no commit")
        return None
    if dry_run:
        report(f"dry run: would commit {len(files) + 2} file(s) to {repo_id} main (parent {state.head[:12]}): "
               f"{INDEX_NAME}, {README_NAME}, " + ", ".join(sorted(files)))
        return None
    operations = [CommitOperationAdd(INDEX_NAME, canonical_json(index)), CommitOperationAdd(README_NAME, card)]
    operations += [CommitOperationAdd(path, str(release_dir / path)) for path in sorted(files)]
    info = _with_retries(api.create_commit, repo_id, operations, repo_type=REPO_TYPE, parent_commit=state.head,
                         commit_message=f"Results for v{manifest['version']}",
                         commit_description=f"{len(local['runs'])} scored run(s) of v{manifest['version']}")
    report(f"committed results for v{manifest['version']} to {repo_id} main as {info.oid}")
    return info.oid


def _check_same_data(state: HubState, manifest: dict, repo_id: str) -> None:
    if not state.exists or state.manifest is None:
        raise PushError(f"{repo_id} holds no release yet; push the release first (python -m release push), "
                        "then its results.")
    if state.manifest.get("content_hash") != manifest["content_hash"]:
        raise PushError(f"{repo_id} main holds v{state.manifest.get('version')}, not the data these results are for "
                        f"(v{manifest['version']}); results are pushed only next to their own data. Score the "
                        "release on main, or keep these results in the local folder.")


def _hub_index(api: HfApi, repo_id: str, state: HubState) -> dict | None:
    if INDEX_NAME not in state.files:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = _with_retries(api.hf_hub_download, repo_id, INDEX_NAME, repo_type=REPO_TYPE,
                                 revision=state.head, cache_dir=scratch)
        except EntryNotFoundError:
            return None
        return json.loads(Path(path).read_text(encoding="utf-8"))


def _merged(hub: dict | None, local: dict) -> dict:
    """The local index with the Hub's runs for the same data that the local one does not have."""
    if not hub or hub.get("content_hash") != local["content_hash"]:
        return local
    runs = {**hub.get("runs", {}), **local["runs"]}
    return {**local, "runs": dict(sorted(runs.items())),
            "calibration": local.get("calibration") or hub.get("calibration")}


def _local_files(release_dir: Path, index: dict) -> list[str]:
    files = [path for run in index["runs"].values() for path in run["files"]]
    missing = [path for path in files if not (release_dir / path).is_file()]
    if missing:
        raise PushError(f"{release_dir} lists results files that are missing ({', '.join(missing[:3])}); score "
                        "the model again to rewrite them.")
    return files


def _with_retries(function, *args, **kwargs):
    """Transient Hub failures (5xx, 429, dropped connections) are retried, as release.hub does."""
    retrying = Retrying(retry=retry_if_exception(is_transient), stop=stop_after_attempt(RETRY.attempts),
                        wait=wait_exponential_jitter(multiplier=RETRY.initial_wait, jitter=RETRY.initial_wait,
                                                     max=RETRY.max_wait), reraise=True)
    return retrying(function, *args, **kwargs)
