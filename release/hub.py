"""Publishing a release folder to the Hugging Face Hub: one commit, one tag, then verify.

A push reads the Hub's state (main head, tags, files, manifest.json, README), plans, and then:
- the Hub's manifest has the same content hash => nothing to commit (the tag is added if a previous
  push committed but failed to tag);
- otherwise ONE `create_commit` holding every release file (shards, merged card, manifest, charts,
  changelog) plus deletes of stale files under data/ and charts/, guarded by `parent_commit` = the
  head read before; then `create_tag vX.Y.Z` on that commit. A release built for no repo or another
  one gets its card's owned sections rendered for this repo and tag (`destination_card`), and the
  manifest it uploads says so (`card_rendered_for`); data files and their digests are as built;
- the tag is verified with `datasets.load_dataset(repo, config, revision=tag)` and per-file sha256.

Transient failures (5xx, 429 honouring Retry-After, dropped connections) are retried, bounded. A
409/412 on the commit (main moved) re-reads the state and re-plans once. A commit is atomic on the
Hub, so a failed push leaves main and the tags as they were. Every failure ends in one PushError
line that says what state the Hub is in (nothing pushed; main unchanged; committed but not tagged;
tagged but not verified) and how to continue, which is always: run the same push again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

try:  # the HTTP library huggingface_hub uses: httpx2 in 2.x, httpx before
    from httpx2 import TransportError as _TransportError
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    from httpx import TransportError as _TransportError
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi, get_token
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from release.card_merge import merge_card
from release.card import card_for_repo
from release.manifest import MANIFEST_NAME, canonical_json, read_manifest, sha256_bytes, sha256_file
from release.versioning import Version

REPO_TYPE = "dataset"
# What huggingface_hub raises when the Hub cannot be reached or the connection drops.
CONNECTION_ERRORS = (_TransportError, ConnectionError, TimeoutError)
README_NAME = "README.md"
# Stale files here are deleted by a release commit; an earlier version's results/ stay under its tag.
OWNED_PREFIXES = ("data/", "charts/", "results/")
CONFLICT_STATUSES = (409, 412)


@dataclass
class RetryPolicy:
    attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 30.0  # also caps a server's Retry-After


RETRY = RetryPolicy()


class PushError(RuntimeError):
    """A push could not complete; the message says what state the Hub was left in."""


@dataclass(frozen=True)
class HubState:
    exists: bool
    head: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> commit sha
    files: dict[str, int] = field(default_factory=dict)  # path -> size, on main
    manifest: dict | None = None
    readme: str | None = None


@dataclass(frozen=True)
class PushPlan:
    repo_id: str
    version: str
    create_repo: bool
    parent_commit: str | None
    adds: list[tuple[str, int]]  # (path, size)
    deletes: list[tuple[str, int]]
    readme: bytes  # the card as committed: the release card merged into the Hub's card
    commit: bool  # False: the Hub already holds this content
    tag_only: bool  # content is on main but the tag is missing (an earlier push failed to tag)
    reason: str
    manifest_json: bytes = b""  # manifest.json as committed (see manifest_for_repo)

    @property
    def tag(self) -> str:
        return f"v{self.version}"


@dataclass
class PushResult:
    plan: PushPlan
    commit: str | None = None
    tagged: bool = False
    verified: bool = False
    dry_run: bool = False
    messages: list[str] = field(default_factory=list)


def push_release(
    release_dir: Path,
    repo_id: str,
    *,
    dry_run: bool = False,
    verify: bool = True,
    report: Callable[[str], None] = print,
) -> PushResult:
    release_dir = Path(release_dir)
    manifest = read_manifest(release_dir)
    check_release_files(release_dir, manifest)
    if not dry_run:
        _require_token(repo_id)
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
    with _nothing_pushed_yet(f"read the state of {repo_id}"):
        state = read_state(api, repo_id)
    plan = make_plan(release_dir, manifest, repo_id, state)
    result = PushResult(plan=plan, dry_run=dry_run)
    say = _collector(result, report)
    if dry_run:
        for line in describe_plan(plan):
            say(line)
        say("dry run: nothing was committed or tagged")
        return result
    if not plan.commit and not plan.tag_only:
        say(f"{repo_id}: {plan.reason}; no commit, no tag")
        return result
    if plan.create_repo:
        with _nothing_pushed_yet(f"create the dataset repo {repo_id}"):
            _retry(api.create_repo, repo_id, repo_type=REPO_TYPE, exist_ok=True)
            say(f"created dataset repo {repo_id}")
            plan = make_plan(release_dir, manifest, repo_id, read_state(api, repo_id))
    commit = _commit_or_replan(api, release_dir, manifest, plan, say)
    result.plan, result.commit = commit
    if result.commit is None:  # re-planning found the content already there, tagged
        return result
    _tag(api, repo_id, result.plan.tag, result.commit, say)
    result.tagged = True
    if verify:
        with _verification_unreachable(repo_id, result.plan.tag, result.commit):
            verify_release_on_hub(api, repo_id, result.plan.tag, manifest, result.plan.readme)
        result.verified = True
        say(f"verified {repo_id}@{result.plan.tag}: row counts and sha256 of every file match the manifest")
    return result


# --- reading and planning -----------------------------------------------------------------------


def read_state(api: HfApi, repo_id: str) -> HubState:
    try:
        refs = _retry(api.list_repo_refs, repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError:
        return HubState(exists=False)
    head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
    tags = {t.name: t.target_commit for t in refs.tags}
    if head is None:
        return HubState(exists=True, tags=tags)
    entries = _retry(lambda: list(api.list_repo_tree(repo_id, recursive=True, revision=head, repo_type=REPO_TYPE)))
    files = {e.path: e.size for e in entries if getattr(e, "size", None) is not None}
    with tempfile.TemporaryDirectory() as scratch:
        manifest_path = _download(api, repo_id, MANIFEST_NAME, head, scratch) if MANIFEST_NAME in files else None
        readme_path = _download(api, repo_id, README_NAME, head, scratch) if README_NAME in files else None
        manifest = read_manifest(manifest_path.parent) if manifest_path else None
        readme = DatasetCard.load(readme_path, repo_type=REPO_TYPE).content if readme_path else None
    return HubState(exists=True, head=head, tags=tags, files=files, manifest=manifest, readme=readme)


def make_plan(release_dir: Path, manifest: dict, repo_id: str, state: HubState) -> PushPlan:
    version = manifest["version"]
    tag = f"v{version}"
    readme = merge_card(state.readme, destination_card(release_dir, manifest, repo_id)).encode("utf-8")
    manifest_json = manifest_for_repo(manifest, repo_id, readme)
    uploaded = {README_NAME: len(readme), MANIFEST_NAME: len(manifest_json)}
    release_files = [*manifest["files"], MANIFEST_NAME]
    adds = [(path, uploaded[path] if path in uploaded else (release_dir / path).stat().st_size)
            for path in sorted(release_files)]
    deletes = sorted((path, size) for path, size in state.files.items()
                     if path.startswith(OWNED_PREFIXES) and path not in release_files)
    base = dict(repo_id=repo_id, version=version, create_repo=not state.exists,
                parent_commit=state.head, adds=adds, deletes=deletes, readme=readme, manifest_json=manifest_json)

    hub_manifest = state.manifest or {}
    if hub_manifest.get("content_hash") == manifest["content_hash"]:
        if tag in state.tags or hub_manifest.get("version") != version:
            return PushPlan(**base, commit=False, tag_only=False,
                            reason=f"main already holds this content (v{hub_manifest.get('version')})")
        return PushPlan(**base, commit=False, tag_only=True,
                        reason=f"main holds this content but tag {tag} is missing")
    _check_version_is_new(tag, version, state.tags)
    return PushPlan(**base, commit=True, tag_only=False, reason="content differs from main")


def destination_card(release_dir: Path, manifest: dict, repo_id: str) -> str:
    """The card as the repo gets it: a release built for another repo (or for none, the README's
    build-then-push workflow) has its owned sections rendered again for `repo_id` and the tag, so
    every snippet names them. The local folder is never written."""
    try:
        return card_for_repo(release_dir, manifest, repo_id)
    except (ValueError, FileNotFoundError) as error:
        raise PushError(f"could not render the card of {release_dir} for {repo_id}: {error}; rebuild the "
                        f"release with --repo-id {repo_id} so that its card names the repo. Nothing was pushed.") \
            from None


def manifest_for_repo(manifest: dict, repo_id: str, readme: bytes) -> bytes:
    """manifest.json as uploaded: the local one, recording the repo and tag the card was rendered for
    and the digest of the card as committed. The content hash and every data digest stay as built."""
    files = {**manifest["files"], README_NAME: {"sha256": sha256_bytes(readme), "size": len(readme)}}
    rendered_for = {"repo": repo_id, "tag": f"v{manifest['version']}"}
    return canonical_json({**manifest, "files": files, "card_rendered_for": rendered_for})


def describe_plan(plan: PushPlan) -> list[str]:
    lines = [f"push {plan.repo_id} {plan.tag}: {plan.reason}"]
    if plan.create_repo:
        lines.append(f"  create  dataset repo {plan.repo_id}")
    if plan.commit:
        parent = plan.parent_commit[:12] if plan.parent_commit else "(new repo)"
        lines.append(f"  commit  {len(plan.adds)} add(s), {len(plan.deletes)} delete(s) on main, parent {parent}")
        lines += [f"  add     {path}  {size} bytes" for path, size in plan.adds]
        lines += [f"  delete  {path}  {size} bytes" for path, size in plan.deletes]
    if plan.commit or plan.tag_only:
        lines.append(f"  tag     {plan.tag}")
    else:
        lines.append("  nothing to do: no commit, no tag")
    return lines


def check_release_files(release_dir: Path, manifest: dict) -> None:
    """Refuse to publish a release whose files no longer match its manifest."""
    for path, info in manifest["files"].items():
        local = release_dir / path
        if not local.is_file() or sha256_file(local) != info["sha256"]:
            raise PushError(
                f"{local} is missing or differs from manifest.json; releases are immutable, so write a "
                "new release instead of editing this one."
            )


def _require_token(repo_id: str) -> None:
    """A push needs a token; without one the Hub answers 401 half-way through reading its state."""
    if not get_token():
        raise PushError(f"no Hugging Face token: set HF_TOKEN to a token with write access to {repo_id} "
                        "(or run `hf auth login`); nothing was pushed.")


def describe_hub_error(error: HfHubHTTPError) -> str:
    """One line for the command line: the status, the Hub's message, and for 401/403 what to check."""
    hint = {401: "the Hub did not accept the token: check HF_TOKEN (and HF_ENDPOINT)",
            403: "the token may not write to this repo: check HF_TOKEN's permissions"}.get(_status(error))
    return _describe(error) + (f"; {hint}" if hint else "")


def _check_version_is_new(tag: str, version: str, hub_tags: dict[str, str]) -> None:
    if tag in hub_tags:
        raise PushError(
            f"tag {tag} already exists on the Hub with different content; releases are immutable, "
            "write a new release (a higher version) and push that."
        )
    hub_versions = [Version.parse(name) for name in hub_tags if _is_version(name)]
    if hub_versions and Version.parse(version) < max(hub_versions):
        raise PushError(
            f"{tag} is older than the Hub's latest release {max(hub_versions).tag}; push a newer release."
        )


def _is_version(name: str) -> bool:
    try:
        Version.parse(name)
    except ValueError:
        return False
    return name.startswith("v")


# --- writing ------------------------------------------------------------------------------------


def _commit_or_replan(api, release_dir, manifest, plan: PushPlan, say) -> tuple[PushPlan, str | None]:
    """Commit; on a 409/412 (main moved) re-read the Hub and re-plan once. Returns (plan, commit sha)."""
    if plan.tag_only:
        say(f"{plan.repo_id}: {plan.reason}; tagging main head {plan.parent_commit[:12]}")
        return plan, plan.parent_commit
    try:
        return plan, _commit(api, release_dir, plan, say)
    except CONNECTION_ERRORS as error:  # still dropped after the retries
        raise _commit_failed(api, plan, manifest, error) from None
    except HfHubHTTPError as error:
        if _status(error) not in CONFLICT_STATUSES:
            raise _commit_failed(api, plan, manifest, error) from error
        say(f"main moved while pushing ({_status(error)}); re-reading the Hub and re-planning once")
    try:
        plan = make_plan(release_dir, manifest, plan.repo_id, read_state(api, plan.repo_id))
    except CONNECTION_ERRORS as error:
        raise _commit_failed(api, plan, manifest, error) from None
    if plan.tag_only:
        return _commit_or_replan(api, release_dir, manifest, plan, say)
    if not plan.commit:
        say(f"{plan.repo_id}: {plan.reason}; no commit, no tag")
        return plan, None
    try:
        return plan, _commit(api, release_dir, plan, say)
    except CONNECTION_ERRORS as error:
        raise _commit_failed(api, plan, manifest, error) from None
    except HfHubHTTPError as error:
        raise _commit_failed(api, plan, manifest, error) from error


def _commit(api: HfApi, release_dir: Path, plan: PushPlan, say) -> str:
    def attempt() -> str:
        # operations are mutated by create_commit, so every attempt builds fresh ones
        operations = [
            CommitOperationAdd(path, {README_NAME: plan.readme, MANIFEST_NAME: plan.manifest_json}.get(path)
                               or str(release_dir / path))
            for path, _ in plan.adds
        ] + [CommitOperationDelete(path) for path, _ in plan.deletes]
        info = api.create_commit(
            plan.repo_id,
            operations,
            commit_message=f"Release {plan.tag}",
            commit_description=f"{len(plan.adds)} file(s) added or updated, {len(plan.deletes)} stale file(s) deleted.",
            repo_type=REPO_TYPE,
            parent_commit=plan.parent_commit,
        )
        return info.oid

    commit = _retry(attempt)
    say(f"committed {plan.tag} to {plan.repo_id} main as {commit}")
    return commit


def _commit_failed(api: HfApi, plan: PushPlan, manifest: dict, error: Exception) -> PushError:
    """The state line after a failed commit: the Hub is read again, since a dropped connection may
    hide a commit that landed."""
    failed = f"commit of {plan.tag} to {plan.repo_id} failed: {_describe(error)}"
    again = "Run the same push again"
    try:
        state = read_state(api, plan.repo_id)
    except Exception as read_error:  # the Hub may be unreachable; say so instead of guessing
        return PushError(f"{failed}; could not re-read the Hub to confirm its state ({type(read_error).__name__}): "
                         f"no tag was created, and main is either unchanged or holds this release. {again} when "
                         "the Hub is reachable: it commits only if main lacks this content, then tags.")
    if state.head == plan.parent_commit:
        return PushError(f"{failed}; main is unchanged, no tag created. {again} to retry; the local release "
                         "folder is untouched.")
    if (state.manifest or {}).get("content_hash") == manifest["content_hash"]:
        return PushError(f"{failed}, but the commit landed: main is at {state.head}, no tag created. {again}: "
                         f"it will only add tag {plan.tag}.")
    return PushError(f"{failed}; main is now at {state.head} (moved by someone else), no tag created. {again}: "
                     "it plans against the new main.")


@contextlib.contextmanager
def _nothing_pushed_yet(what: str):
    """Connection failures before anything was written: one line instead of the client's traceback."""
    try:
        yield
    except CONNECTION_ERRORS as error:
        raise PushError(f"could not reach the Hub at {_endpoint()} to {what} ({_describe(error)}, after "
                        f"{RETRY.attempts} attempts); nothing was pushed. Check the network connection and "
                        "HF_ENDPOINT, then run the same command again.") from None


@contextlib.contextmanager
def _verification_unreachable(repo_id: str, tag: str, commit: str):
    try:
        yield
    except CONNECTION_ERRORS as error:
        raise PushError(f"{tag} is committed ({commit}) and tagged on {repo_id}, but verifying it failed: could "
                        f"not reach the Hub at {_endpoint()} ({_describe(error)}). Nothing needs pushing again; "
                        f"check it later with datasets.load_dataset({repo_id!r}, revision={tag!r}).") from None


def _endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _tag(api: HfApi, repo_id: str, tag: str, commit: str, say) -> None:
    try:
        _retry(api.create_tag, repo_id, tag=tag, revision=commit, repo_type=REPO_TYPE)
    except HfHubHTTPError as error:
        existing = _existing_tag(api, repo_id, tag)
        if _status(error) == 409 and existing == commit:
            say(f"tag {tag} already points at {commit}")
            return
        raise PushError(
            f"commit {commit} is on {repo_id} main but creating tag {tag} failed: {_describe(error)}. "
            "Run the same push again: it will see the content on main and only add the tag."
        ) from error
    except Exception as error:
        raise PushError(
            f"commit {commit} is on {repo_id} main but creating tag {tag} failed: {_describe(error)}. "
            "Run the same push again: it will see the content on main and only add the tag."
        ) from error
    say(f"tagged {commit} as {tag}")


def _existing_tag(api: HfApi, repo_id: str, tag: str) -> str | None:
    try:
        return read_state(api, repo_id).tags.get(tag)
    except Exception:
        return None


# --- verification -------------------------------------------------------------------------------


def verify_release_on_hub(api: HfApi, repo_id: str, tag: str, manifest: dict, readme: bytes) -> None:
    """Load every config/split at the tag and compare files and row counts with the manifest."""
    import datasets  # heavy; only needed here

    with tempfile.TemporaryDirectory() as scratch:
        expected = {path: info["sha256"] for path, info in manifest["files"].items()}
        expected[README_NAME] = sha256_bytes(readme)
        for path, digest in sorted(expected.items()):
            local = _download(api, repo_id, path, tag, scratch)
            if sha256_file(local) != digest:
                raise PushError(f"verification failed: {path} at {repo_id}@{tag} differs from the manifest.")
        for config, splits in manifest["counts"].items():
            loaded = datasets.load_dataset(repo_id, config, revision=tag, cache_dir=str(Path(scratch) / "datasets"))
            for split, rows in splits.items():
                if split not in loaded or loaded[split].num_rows != rows:
                    found = loaded[split].num_rows if split in loaded else "no split"
                    raise PushError(
                        f"verification failed: load_dataset({repo_id!r}, {config!r}, revision={tag!r})"
                        f"[{split!r}] has {found} rows, the manifest says {rows}."
                    )


# --- plumbing -----------------------------------------------------------------------------------


def _download(api: HfApi, repo_id: str, path: str, revision: str, cache_dir: str) -> Path | None:
    try:
        return Path(_retry(api.hf_hub_download, repo_id, path, repo_type=REPO_TYPE,
                           revision=revision, cache_dir=cache_dir))
    except EntryNotFoundError:
        return None


def _retry(function, *args, **kwargs):
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=_wait,
        stop=stop_after_attempt(RETRY.attempts),
        reraise=True,
    )
    return retrying(function, *args, **kwargs)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, HfHubHTTPError):
        status = _status(error)
        return status == 429 or (status is not None and status >= 500)
    return isinstance(error, CONNECTION_ERRORS)


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    retry_after = _retry_after(error)
    if retry_after is not None:
        return min(retry_after, RETRY.max_wait)
    return wait_exponential_jitter(multiplier=RETRY.initial_wait, jitter=RETRY.initial_wait, max=RETRY.max_wait)(state)


def _retry_after(error: BaseException | None) -> float | None:
    response = getattr(error, "response", None)
    if response is None or _status(error) != 429:
        return None
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _describe(error: BaseException) -> str:
    status = _status(error)
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"HTTP {status}: {first_line}" if status else f"{type(error).__name__}: {first_line}"


def _collector(result: PushResult, report: Callable[[str], None]) -> Callable[[str], None]:
    def say(message: str) -> None:
        result.messages.append(message)
        report(message)

    return say
