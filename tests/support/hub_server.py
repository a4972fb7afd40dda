"""A local Hugging Face Hub-compatible HTTP server for tests, backed by real bare git repositories.

The real `huggingface_hub` client (HfApi, hf_hub_download, HfFileSystem) and `datasets.load_dataset`
reach it through `HF_ENDPOINT`. It implements the part of the Hub HTTP API those clients use:

    POST   /api/repos/create                                    create_repo
    DELETE /api/repos/delete                                    delete_repo
    GET    /api/whoami-v2                                       whoami
    POST   /api/validate-yaml                                   README front matter check (create_commit)
    GET    /api/{type}s/{ns}/{name}[/revision/{rev}]            repo_info / dataset_info / model_info
    GET    /api/{type}s/{ns}/{name}/refs                        list_repo_refs
    GET    /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]         list_repo_tree, HfFileSystem listings
    POST   /api/{type}s/{ns}/{name}/paths-info/{rev}            get_paths_info, HfFileSystem.info
    POST   /api/{type}s/{ns}/{name}/preupload/{rev}             upload modes (always "regular")
    POST   /api/{type}s/{ns}/{name}/commit/{branch}             create_commit (NDJSON, atomic, parentCommit)
    GET    /api/{type}s/{ns}/{name}/commits/{rev}               list_repo_commits
    POST   /api/{type}s/{ns}/{name}/tag/{rev}                   create_tag
    DELETE /api/{type}s/{ns}/{name}/tag/{tag}                   delete_tag
    POST   /api/{type}s/{ns}/{name}/branch/{branch}             create_branch
    DELETE /api/{type}s/{ns}/{name}/branch/{branch}             delete_branch
    HEAD   /[datasets/]{ns}/{name}/resolve/{rev}/{path}         hf_hub_download metadata
    GET    /[datasets/]{ns}/{name}/resolve/{rev}/{path}         file contents (Range supported)

Repo types "dataset" and "model" are served. Storage: one bare git repository per repo under the
server's root directory; commits, tags and branches are real git objects and refs written with the
git CLI. Every file is a plain git blob: the preupload endpoint answers "regular" for every file, so
the client sends contents base64-encoded inside the commit request and never uses LFS or Xet.

Behaviour that tests rely on:
  - a commit applies all of its operations or none: the new tree is built in a private index and the
    branch moves with one compare-and-swap `git update-ref`;
  - `parentCommit` different from the branch head answers 412, like the Hub;
  - preupload reports the blob id of files that already exist, so the client skips unchanged files
    (and skips a commit that would change nothing); a commit request that changes nothing still
    creates a commit, as the Hub does;
  - branch names, tag names and full commit SHAs resolve everywhere a revision is accepted;
  - with a token configured, every request needs `Authorization: Bearer <token>` (401 otherwise);
  - `inject_fault` makes the next N requests of an endpoint kind fail (HTTP status, Retry-After, or
    a dropped connection), optionally after letting some through, and `request_counts` counts
    requests per endpoint kind.

Not implemented: pull requests (`create_pr`), LFS/Xet transfers, .gitignore-based `shouldIgnore`,
pagination of tree listings (everything is returned in one page), gated repos, Spaces.

Manual use: `python -m tests.support.hub_server --port 8900 [--token TOKEN] [--root DIR]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.support.http_base import TrackingHTTPServer

logger = logging.getLogger(__name__)

# Endpoint kinds, the unit of `request_counts` and `inject_fault`.
ENDPOINT_KINDS = (
    "create_repo",
    "delete_repo",
    "whoami",
    "validate_yaml",
    "repo_info",
    "refs",
    "tree",
    "paths_info",
    "preupload",
    "commit",
    "commits",
    "tag",
    "branch",
    "resolve",
    "unknown",
)
FAULT_KINDS = (
    "status",  # answer with the given HTTP status, without touching the repo
    "drop",  # close the connection without a reply, without touching the repo
    "drop_after",  # handle the request fully (e.g. the commit lands), then close without a reply
)

DEFAULT_BRANCH = "main"
URL_TYPE_TO_REPO_TYPE = {"datasets": "dataset", "models": "model"}
REPO_TYPE_URL_PREFIX = {"dataset": "datasets/", "model": ""}

# The Hub creates every repo with an initial commit holding a .gitattributes file; so do we, so that
# `parent_commit` of a first upload has something to point at. Files are stored as plain blobs here
# whatever these patterns say: the patterns only mirror what a Hub repo contains.
INITIAL_GITATTRIBUTES = b"""\
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""

PARENT_COMMIT_MISMATCH = "A commit has happened since. Please refresh and try again."
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"  # the client maps this text to a plain 401

_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_ZERO_SHA = "0" * 40
_COMMITTER = {
    "GIT_AUTHOR_NAME": "local-hub",
    "GIT_AUTHOR_EMAIL": "local-hub@localhost",
    "GIT_COMMITTER_NAME": "local-hub",
    "GIT_COMMITTER_EMAIL": "local-hub@localhost",
}
# Git must not read the developer's configuration nor treat paths as globs.
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


class HubError(Exception):
    """An error answered to the client the way the Hub answers it (status, X-Error-Code, JSON body)."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


class GitError(Exception):
    """A git command failed; `stderr` tells why."""

    def __init__(self, args: tuple, stderr: bytes):
        self.stderr = stderr.decode(errors="replace").strip()
        super().__init__(f"git {' '.join(args[:2])} failed: {self.stderr}")


# --------------------------------------------------------------------------------------------------
# Storage: one bare git repository
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeEntry:
    path: str
    kind: str  # "file" | "directory"
    oid: str  # blob id for files, tree id for directories
    size: int


@dataclass
class CommitOperations:
    """The parsed body of a commit request."""

    summary: str
    description: str = ""
    parent_commit: str | None = None
    # In request order: ("add", path, content) | ("delete_file", path, None) | ("delete_folder", path, None)
    steps: list[tuple[str, str, bytes | None]] = field(default_factory=list)


class GitRepo:
    """A bare git repository driven through the git CLI. Writers hold `write_lock`; readers need none."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir
        self.write_lock = threading.Lock()

    # ---- plumbing ----

    def run(self, *args: str, stdin: bytes = b"", env: dict | None = None) -> bytes:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        full_env = {**base_env, **_GIT_ENV, "GIT_DIR": str(self.git_dir), **(env or {})}
        proc = subprocess.run(["git", *args], input=stdin, capture_output=True, env=full_env)
        if proc.returncode != 0:
            raise GitError(args, proc.stderr)
        return proc.stdout

    def probe(self, *args: str) -> bytes | None:
        """Run a git command whose failure only means "no such thing"."""
        try:
            return self.run(*args)
        except GitError:
            return None

    @classmethod
    def create(cls, git_dir: Path, *, private: bool) -> GitRepo:
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        repo = cls(git_dir)
        repo.run("init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(git_dir))
        repo.run("config", "hub.private", "true" if private else "false")
        tree = repo._write_tree({".gitattributes": repo._write_blobs([INITIAL_GITATTRIBUTES])[0]})
        commit = repo._write_commit(tree, parent=None, message="initial commit")
        repo.run("update-ref", f"refs/heads/{DEFAULT_BRANCH}", commit, _ZERO_SHA)
        return repo

    @property
    def private(self) -> bool:
        return (self.probe("config", "--get", "hub.private") or b"").strip() == b"true"

    # ---- revisions ----

    def refs(self) -> dict[str, str]:
        """Full ref name -> commit id (annotated tags peeled)."""
        out = self.run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)")
        refs = {}
        for line in out.decode().splitlines():
            name, target, peeled = line.split("\0")
            refs[name] = peeled or target
        return refs

    def resolve(self, revision: str) -> str | None:
        """A branch name, tag name, full ref or full commit SHA -> commit id; None when unknown."""
        if _FULL_SHA.fullmatch(revision):
            return revision if self.probe("cat-file", "-e", f"{revision}^{{commit}}") is not None else None
        refs = self.refs()
        candidates = [revision] if revision.startswith("refs/") else []
        candidates += [f"refs/heads/{revision}", f"refs/tags/{revision}"]
        return next((refs[name] for name in candidates if name in refs), None)

    def branch_head(self, branch: str) -> str | None:
        return self.refs().get(f"refs/heads/{branch}")

    def is_valid_ref_name(self, ref: str) -> bool:
        return self.probe("check-ref-format", ref) is not None

    # ---- reading trees and blobs ----

    def files(self, commit: str) -> dict[str, str]:
        """Every file of a commit: path -> blob id."""
        return {e.path: e.oid for e in self.list_tree(commit, "", recursive=True) if e.kind == "file"}

    def object_type(self, commit: str, path: str) -> str | None:
        """ "blob", "tree" or None for a path inside a commit ('' is the root tree)."""
        out = self.probe("cat-file", "-t", f"{commit}:{path}")
        return out.decode().strip() if out is not None else None

    def list_tree(self, commit: str, path: str, *, recursive: bool) -> list[TreeEntry]:
        """Entries under a directory (direct children, or all descendants with their folders)."""
        args = ["ls-tree", "-l", "-z", "--full-tree"]
        if recursive:
            args += ["-r", "-t"]
        args.append(commit)
        if path:
            args += ["--", path + "/"]
        entries = self._parse_ls_tree(self.run(*args))
        # `-t` also lists the folders leading to `path`: keep only what is inside it.
        return [e for e in entries if not path or e.path.startswith(path + "/")]

    def entries(self, commit: str, paths: list[str]) -> list[TreeEntry]:
        """The entries of the given paths that exist (files or folders), in `paths` order."""
        paths = [p for p in dict.fromkeys(paths) if p and "\n" not in p]
        if not paths:
            return []
        # One `commit:path` lookup per line; unknown paths answer "<name> missing".
        lookups = "".join(f"{commit}:{p}\n" for p in paths).encode()
        out = self.run("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", stdin=lookups)
        entries = []
        for path, line in zip(paths, out.decode().splitlines()):
            oid, kind, size = (line.rsplit(" ", 2) + ["", ""])[:3]
            if kind == "blob":
                entries.append(TreeEntry(path, "file", oid, int(size)))
            elif kind == "tree":
                entries.append(TreeEntry(path, "directory", oid, 0))
        return entries

    @staticmethod
    def _parse_ls_tree(out: bytes) -> list[TreeEntry]:
        entries = []
        for record in out.decode().split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            _mode, kind, oid, size = meta.split()
            if kind == "blob":
                entries.append(TreeEntry(path, "file", oid, int(size)))
            elif kind == "tree":
                entries.append(TreeEntry(path, "directory", oid, 0))
        return entries

    def read_blob(self, oid: str) -> bytes:
        return self.run("cat-file", "blob", oid)

    def last_commit(self, commit: str, path: str) -> dict:
        """The Hub's `lastCommit` object for a path: the newest commit that touched it."""
        out = self.run("log", "-1", "--format=%H%x00%s%x00%ct", commit, "--", path).decode().strip()
        oid, title, timestamp = out.split("\0")
        return {"id": oid, "title": title, "date": _iso(int(timestamp))}

    def commit_time(self, commit: str) -> int:
        return int(self.run("log", "-1", "--format=%ct", commit).strip())

    def first_commit_time(self) -> int:
        roots = self.run("rev-list", "--max-parents=0", f"refs/heads/{DEFAULT_BRANCH}").split()
        return self.commit_time(roots[-1].decode()) if roots else int(time.time())

    def log(self, commit: str) -> list[dict]:
        """Commits reachable from `commit`, newest first, as the Hub's /commits endpoint lists them."""
        out = self.run("log", "--format=%H%x00%an%x00%ct%x00%s%x00%b%x1e", commit).decode()
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if record:
                oid, author, timestamp, title, body = record.split("\0")
                commits.append(
                    {
                        "id": oid,
                        "title": title,
                        "message": body.strip(),
                        "date": _iso(int(timestamp)),
                        "authors": [{"user": author}],
                    }
                )
        return commits

    # ---- writing ----

    def commit(self, branch: str, operations: CommitOperations) -> str:
        """Apply all operations as one commit on `branch`, or none of them. Returns the new commit id."""
        with self.write_lock:
            head = self.branch_head(branch)
            if head is None:
                raise HubError(404, f"Invalid rev id: {branch}", code="RevisionNotFound")
            if operations.parent_commit is not None and operations.parent_commit != head:
                raise HubError(412, PARENT_COMMIT_MISMATCH)
            files = self.files(head)
            added = [(path, content) for step, path, content in operations.steps if step == "add"]
            blob_ids = dict(zip([p for p, _ in added], self._write_blobs([c for _, c in added])))
            for step, path, _content in operations.steps:
                _apply_step(files, step, path, blob_ids)
            tree = self._write_tree(files)
            message = operations.summary
            if operations.description:
                message += "\n\n" + operations.description
            new_commit = self._write_commit(tree, parent=head, message=message)
            # Compare-and-swap: the branch only moves if it still points at `head`.
            self.run("update-ref", f"refs/heads/{branch}", new_commit, head)
            return new_commit

    def create_ref(self, ref: str, commit: str, *, message: str | None = None) -> None:
        """Create a branch or tag; a tag with a message becomes an annotated tag. 409 if it exists."""
        with self.write_lock:
            if ref in self.refs():
                kind = "Tag" if ref.startswith("refs/tags/") else "Branch"
                raise HubError(409, f"{kind} {ref.split('/', 2)[2]} already exists")
            if message is not None and ref.startswith("refs/tags/"):
                self.run("tag", "-a", "-m", message, ref.removeprefix("refs/tags/"), commit, env=_COMMITTER)
            else:
                self.run("update-ref", ref, commit, _ZERO_SHA)

    def delete_ref(self, ref: str) -> None:
        with self.write_lock:
            if ref not in self.refs():
                raise HubError(404, f"Invalid rev id: {ref.split('/', 2)[2]}", code="RevisionNotFound")
            self.run("update-ref", "-d", ref)

    def _write_blobs(self, contents: list[bytes]) -> list[str]:
        """Store contents as blobs in one git call; returns their ids in order."""
        if not contents:
            return []
        with tempfile.TemporaryDirectory(dir=self.git_dir) as scratch:
            paths = []
            for index, content in enumerate(contents):
                path = Path(scratch) / str(index)
                path.write_bytes(content)
                paths.append(str(path))
            out = self.run(
                "hash-object", "-w", "--no-filters", "--stdin-paths", stdin="\n".join(paths).encode() + b"\n"
            )
        return out.decode().split()

    def _write_tree(self, files: dict[str, str]) -> str:
        """Build a tree object from path -> blob id in a private index (the repo's state is untouched)."""
        with tempfile.TemporaryDirectory(dir=self.git_dir) as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            index_info = "".join(f"100644 {oid}\t{path}\0" for path, oid in sorted(files.items()))
            self.run("update-index", "-z", "--index-info", stdin=index_info.encode(), env=env)
            return self.run("write-tree", env=env).decode().strip()

    def _write_commit(self, tree: str, *, parent: str | None, message: str) -> str:
        args = ["commit-tree", tree] + (["-p", parent] if parent else []) + ["-F", "-"]
        return self.run(*args, stdin=message.encode(), env=_COMMITTER).decode().strip()


def _apply_step(files: dict[str, str], step: str, path: str, blob_ids: dict[str, str]) -> None:
    """Apply one commit operation to the path -> blob id map of the tree being built."""
    if step == "add":
        _check_no_file_folder_clash(files, path)
        files[path] = blob_ids[path]
    elif step == "delete_file":
        if path not in files:
            raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
        del files[path]
    elif step == "delete_folder":
        prefix = path.rstrip("/") + "/"
        doomed = [p for p in files if p.startswith(prefix)]
        if not doomed:
            raise HubError(404, f"A folder with this name doesn't exist: {path}", code="EntryNotFound")
        for p in doomed:
            del files[p]


def _check_no_file_folder_clash(files: dict[str, str], path: str) -> None:
    parents = [path.rsplit("/", depth)[0] for depth in range(1, path.count("/") + 1)]
    clash = next((p for p in parents if p in files), None)
    if clash is None and any(p.startswith(path + "/") for p in files):
        clash = path
    if clash is not None:
        raise HubError(400, f"Cannot add '{path}': '{clash}' is both a file and a folder")


def _iso(timestamp: int) -> str:
    """The Hub's date format, which the client parses strictly."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --------------------------------------------------------------------------------------------------
# HTTP plumbing: requests, responses, routes, faults
# --------------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str  # raw (percent-encoded) path
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError as error:
            raise HubError(400, f"Request body is not valid JSON: {error}") from None

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[0].lower() in ("1", "true")


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_length: int | None = None  # for HEAD: the length the GET would have


DROP = object()  # handler outcome: close the connection without answering


def _json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode())


def _error_response(error: HubError) -> Response:
    # Header values must stay on one latin-1 line.
    header_message = error.message.replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
    headers = {"X-Error-Message": header_message, **error.headers}
    if error.code:
        headers["X-Error-Code"] = error.code
    return _json_response({"error": error.message}, error.status, headers)


@dataclass
class Fault:
    endpoint_kind: str
    kind: str
    status: int
    retry_after: int | None
    remaining: int
    let_through: int = 0  # requests of the kind answered normally before the fault starts

    def response(self) -> Response:
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        message = (
            PARENT_COMMIT_MISMATCH if self.status == 412 else f"Injected fault on the '{self.endpoint_kind}' endpoint"
        )
        return _error_response(HubError(self.status, message, headers=headers))


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    kind: str
    handler: Callable[..., Response]


_REPO = r"/api/(?P<url_type>[a-z]+)/(?P<namespace>[^/]+)/(?P<name>[^/]+)"
_RESOLVE = r"/(?:(?P<url_type>datasets)/)?(?P<namespace>[^/]+)/(?P<name>[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)"


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class LocalHub:
    """A Hub-compatible server on 127.0.0.1, one bare git repository per repo.

    Use as a context manager (`with LocalHub(token="...") as hub:`) or call `start()` / `stop()`.
    `token=None` accepts every request; otherwise requests need `Authorization: Bearer <token>`.
    `root=None` stores repositories in a temporary directory removed on `stop()`.
    """

    def __init__(
        self, *, token: str | None = None, port: int = 0, root: Path | str | None = None, user: str = "local-user"
    ):
        self.token = token
        self.user = user
        self._requested_port = port
        self._given_root = Path(root) if root is not None else None
        self._temp_root: tempfile.TemporaryDirectory | None = None
        self.root: Path | None = None
        self._httpd: _HubHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards counts, faults and the repo registry
        self._counts: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._repos: dict[Path, GitRepo] = {}
        self._routes = self._build_routes()

    # ---- lifecycle ----

    @property
    def endpoint(self) -> str:
        if self._httpd is None:
            raise RuntimeError("LocalHub is not started: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> LocalHub:
        if self._httpd is not None:
            raise RuntimeError("LocalHub is already started")
        if self._given_root is None:
            self._temp_root = tempfile.TemporaryDirectory(prefix="local-hub-")
            self.root = Path(self._temp_root.name)
        else:
            self.root = self._given_root
            self.root.mkdir(parents=True, exist_ok=True)
        self._httpd = _HubHTTPServer(("127.0.0.1", self._requested_port), _HubRequestHandler, hub=self)
        self._serve_thread = threading.Thread(target=self._httpd.serve_forever, name="local-hub", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()  # stop accepting
        self._httpd.close_open_connections()  # wake handler threads idling on keep-alive connections
        self._httpd.server_close()  # joins the handler threads
        self._serve_thread.join()
        self._httpd = None
        self._serve_thread = None
        with self._lock:
            self._repos.clear()
        if self._temp_root is not None:
            self._temp_root.cleanup()
            self._temp_root = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---- test controls ----

    def inject_fault(
        self,
        endpoint_kind: str,
        status: int = 500,
        *,
        times: int = 1,
        kind: str = "status",
        retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        """Make the next `times` requests of `endpoint_kind` fail, once `after` more have been answered.

        kind="status" answers `status` (429 always carries Retry-After, default 1 s); kind="drop" closes the
        connection without a reply; in both cases the request is not executed. kind="drop_after" executes the
        request, then closes the connection without a reply (a commit that lands but whose answer is lost).
        `after` lets a fault start part-way through a client's sequence (e.g. the Hub becomes unreachable
        after the first preupload of a push).
        """
        if endpoint_kind not in ENDPOINT_KINDS:
            raise ValueError(f"Unknown endpoint kind {endpoint_kind!r}: use one of {', '.join(ENDPOINT_KINDS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if after < 0:
            raise ValueError(f"after must be 0 or more, got {after}")
        if kind == "status" and not 400 <= status <= 599:
            raise ValueError(f"A status fault needs an HTTP error status (400-599), got {status}")
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(Fault(endpoint_kind, kind, status, retry_after, times, after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per endpoint kind (faulted ones included), as a snapshot."""
        with self._lock:
            return dict(self._counts)

    def reset_request_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    def git_dir(self, repo_id: str, repo_type: str = "dataset") -> Path:
        """The bare repository of a repo (it exists once the repo is created)."""
        if self.root is None:
            raise RuntimeError("LocalHub is not started")
        namespace, name = _split_repo_id(repo_id)
        return self.root / f"{repo_type}s" / namespace / f"{name}.git"

    # ---- dispatch ----

    def handle(self, request: Request) -> Response | object:
        """Route, count, apply faults, authenticate and answer one request."""
        route, params = self._match(request)
        kind = route.kind if route else "unknown"
        fault = self._count_and_take_fault(kind)
        if fault is not None and fault.kind == "drop":
            return DROP
        if fault is not None and fault.kind == "status":
            return fault.response()
        try:
            self._authenticate(request)
            if route is None:
                raise HubError(404, f"The local hub has no route for {request.method} {request.path}")
            response = route.handler(request, **params)
        except HubError as error:
            response = _error_response(error)
        except Exception as error:  # a bug here must reach the test as a 500, not a hung connection
            logger.exception("local hub failed on %s %s", request.method, request.path)
            response = _error_response(HubError(500, f"Local hub internal error: {error}"))
        return DROP if fault is not None else response  # only "drop_after" gets here with a fault

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == request.method or (route.method == "GET" and request.method == "HEAD"):
                match = route.pattern.fullmatch(request.path)
                if match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    return route, params
        return None, {}

    def _count_and_take_fault(self, kind: str) -> Fault | None:
        with self._lock:
            self._counts[kind] += 1
            fault = next((f for f in self._faults if f.endpoint_kind == kind), None)
            if fault is not None and fault.let_through > 0:
                fault.let_through -= 1
                return None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
            return fault

    def _authenticate(self, request: Request) -> None:
        if self.token is None:
            return
        header = request.headers.get("authorization", "")
        if not header:
            raise HubError(401, "Authentication required: send 'Authorization: Bearer <token>' (set HF_TOKEN)")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            raise HubError(401, INVALID_CREDENTIALS)

    def _build_routes(self) -> list[Route]:
        table = [
            ("POST", r"/api/repos/create", "create_repo", self._create_repo),
            ("DELETE", r"/api/repos/delete", "delete_repo", self._delete_repo),
            ("GET", r"/api/whoami-v2", "whoami", self._whoami),
            ("POST", r"/api/validate-yaml", "validate_yaml", self._validate_yaml),
            ("GET", _REPO, "repo_info", self._repo_info),
            ("GET", _REPO + r"/revision/(?P<revision>[^/]+)", "repo_info", self._repo_info),
            ("GET", _REPO + r"/refs", "refs", self._refs),
            ("GET", _REPO + r"/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?", "tree", self._tree),
            ("POST", _REPO + r"/paths-info/(?P<revision>[^/]+)", "paths_info", self._paths_info),
            ("POST", _REPO + r"/preupload/(?P<revision>[^/]+)", "preupload", self._preupload),
            ("POST", _REPO + r"/commit/(?P<revision>[^/]+)", "commit", self._commit),
            ("GET", _REPO + r"/commits/(?P<revision>[^/]+)", "commits", self._commits),
            ("POST", _REPO + r"/tag/(?P<revision>[^/]+)", "tag", self._create_tag),
            ("DELETE", _REPO + r"/tag/(?P<tag>[^/]+)", "tag", self._delete_tag),
            ("POST", _REPO + r"/branch/(?P<branch>[^/]+)", "branch", self._create_branch),
            ("DELETE", _REPO + r"/branch/(?P<branch>[^/]+)", "branch", self._delete_branch),
            ("GET", _RESOLVE, "resolve", self._resolve),
        ]
        return [Route(method, re.compile(pattern), kind, handler) for method, pattern, kind, handler in table]

    # ---- repo lookup ----

    def _repo(self, url_type: str, namespace: str, name: str) -> tuple[str, GitRepo]:
        """(repo type, repo) for a URL, or 404 RepoNotFound."""
        repo_type = URL_TYPE_TO_REPO_TYPE.get(url_type)
        if repo_type is None:
            raise HubError(404, f"Repo type '{url_type}' is not served by the local hub", code="RepoNotFound")
        git_dir = self.git_dir(f"{namespace}/{name}", repo_type)
        with self._lock:
            repo = self._repos.get(git_dir)
            if repo is None and (git_dir / "HEAD").is_file():  # e.g. a persistent --root from an earlier run
                repo = self._repos[git_dir] = GitRepo(git_dir)
        if repo is None:
            raise HubError(404, f"Repository not found: {namespace}/{name}", code="RepoNotFound")
        return repo_type, repo

    def _commit_at(self, repo: GitRepo, revision: str) -> str:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return commit

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{REPO_TYPE_URL_PREFIX[repo_type]}{repo_id}"

    # ---- handlers: account and repos ----

    def _whoami(self, request: Request) -> Response:
        return _json_response(
            {"type": "user", "name": self.user, "fullname": self.user, "orgs": [], "auth": {"type": "access_token"}}
        )

    def _create_repo(self, request: Request) -> Response:
        payload = request.json()
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPE_URL_PREFIX:
            raise HubError(400, f"Repo type '{repo_type}' is not served by the local hub (use dataset or model)")
        repo_id = f"{payload.get('organization') or self.user}/{payload.get('name', '')}"
        git_dir = self.git_dir(repo_id, repo_type)
        with self._lock:
            if git_dir in self._repos or git_dir.exists():
                raise HubError(409, f"You already created this {repo_type} repo: {repo_id}")
            private = payload.get("private") is True or payload.get("visibility") == "private"
            self._repos[git_dir] = GitRepo.create(git_dir, private=private)
        url = self._repo_url(repo_type, repo_id)
        return _json_response({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, request: Request) -> Response:
        payload = request.json()
        repo_type = payload.get("type") or "model"
        url_type = {v: k for k, v in URL_TYPE_TO_REPO_TYPE.items()}.get(repo_type, repo_type)
        namespace = payload.get("organization") or self.user
        _repo_type, repo = self._repo(url_type, namespace, payload.get("name", ""))
        with self._lock, repo.write_lock:
            self._repos.pop(repo.git_dir, None)
            shutil.rmtree(repo.git_dir)
        return _json_response({})

    def _validate_yaml(self, request: Request) -> Response:
        content = request.json().get("content", "")
        front_matter = _front_matter(content)
        if front_matter is None:
            return _json_response(
                {"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]}
            )
        try:
            metadata = yaml.safe_load(front_matter)
        except yaml.YAMLError as error:
            return _json_response({"errors": [{"message": f"Invalid YAML in README.md front matter: {error}"}]}, 400)
        if metadata is not None and not isinstance(metadata, dict):
            return _json_response({"errors": [{"message": "README.md front matter must be a YAML mapping"}]}, 400)
        return _json_response({"errors": [], "warnings": []})

    def _repo_info(
        self, request: Request, url_type: str, namespace: str, name: str, revision: str = DEFAULT_BRANCH
    ) -> Response:
        repo_type, repo = self._repo(url_type, namespace, name)
        commit = self._commit_at(repo, revision)
        files = [e for e in repo.list_tree(commit, "", recursive=True) if e.kind == "file"]
        with_blobs = request.flag("blobs")
        siblings = [{"rfilename": f.path, **({"size": f.size, "blobId": f.oid} if with_blobs else {})} for f in files]
        repo_id = f"{namespace}/{name}"
        info = {
            "_id": repo_id,
            "id": repo_id,
            "author": namespace,
            "sha": commit,
            "createdAt": _iso(repo.first_commit_time()),
            "lastModified": _iso(repo.commit_time(commit)),
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
        }
        card_data = _card_data(repo, files)
        if card_data is not None:
            info["cardData"] = card_data
        if repo_type == "model":
            info["modelId"] = repo_id
        return _json_response(info)

    def _refs(self, request: Request, url_type: str, namespace: str, name: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        listing = {"branches": [], "converts": [], "tags": [], "pullRequests": []}
        groups = {
            "refs/heads/": "branches",
            "refs/tags/": "tags",
            "refs/convert/": "converts",
            "refs/pr/": "pullRequests",
        }
        for ref, commit in sorted(repo.refs().items()):
            for prefix, group in groups.items():
                if ref.startswith(prefix):
                    short = ref.removeprefix(prefix) if group in ("branches", "tags") else ref.removeprefix("refs/")
                    listing[group].append({"name": short, "ref": ref, "targetCommit": commit})
        return _json_response(listing)

    # ---- handlers: reading files ----

    def _tree(
        self, request: Request, url_type: str, namespace: str, name: str, revision: str, path: str = ""
    ) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        commit = self._commit_at(repo, revision)
        path = path.strip("/")
        if repo.object_type(commit, path) != "tree":
            raise HubError(404, f'{path} does not exist on "{revision}"', code="EntryNotFound")
        entries = repo.list_tree(commit, path, recursive=request.flag("recursive"))
        return _json_response([_path_info(repo, commit, e, expand=request.flag("expand")) for e in entries])

    def _paths_info(self, request: Request, url_type: str, namespace: str, name: str, revision: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        commit = self._commit_at(repo, revision)
        if request.headers.get("content-type", "").startswith("application/json"):
            payload = request.json()
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(request.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), form.get("expand", [""])[0].lower() in ("1", "true")
        entries = repo.entries(commit, [p.strip("/") for p in paths if p.strip("/")])
        return _json_response([_path_info(repo, commit, e, expand=expand) for e in entries])

    def _commits(self, request: Request, url_type: str, namespace: str, name: str, revision: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        return _json_response(repo.log(self._commit_at(repo, revision)))

    def _resolve(
        self, request: Request, namespace: str, name: str, revision: str, path: str, url_type: str = "models"
    ) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        commit = self._commit_at(repo, revision)
        entries = repo.entries(commit, [path])
        if not entries or entries[0].kind != "file":
            raise HubError(404, f"Entry not found: {path}", code="EntryNotFound", headers={"X-Repo-Commit": commit})
        entry = entries[0]
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{entry.oid}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if request.method == "HEAD":
            return Response(200, headers, content_length=entry.size)
        content = repo.read_blob(entry.oid)
        byte_range = _parse_range(request.headers.get("range"), len(content))
        if byte_range is None:
            return Response(200, headers, content)
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        return Response(206, headers, content[start : end + 1])

    # ---- handlers: writing ----

    def _preupload(self, request: Request, url_type: str, namespace: str, name: str, revision: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        if request.flag("create_pr"):
            raise HubError(400, "Pull requests (create_pr) are not supported by the local hub")
        commit = self._commit_at(repo, revision)
        paths = [item["path"] for item in request.json().get("files", [])]
        existing = {e.path: e.oid for e in repo.entries(commit, paths) if e.kind == "file"}
        # "regular" for every file: the client then sends contents inline in the commit (no LFS, no Xet).
        files = [{"path": p, "uploadMode": "regular", "shouldIgnore": False, "oid": existing.get(p)} for p in paths]
        return _json_response({"files": files, "commitOid": commit})

    def _commit(self, request: Request, url_type: str, namespace: str, name: str, revision: str) -> Response:
        repo_type, repo = self._repo(url_type, namespace, name)
        revision = revision.removeprefix("refs/heads/")
        if request.flag("create_pr"):
            raise HubError(400, "Pull requests (create_pr) are not supported by the local hub")
        if repo.branch_head(revision) is None:
            if repo.resolve(revision) is not None:
                raise HubError(400, f"Cannot commit to '{revision}': commits can only be made on a branch")
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        operations = _parse_commit_body(request.body)
        new_commit = repo.commit(revision, operations)
        commit_url = f"{self._repo_url(repo_type, f'{namespace}/{name}')}/commit/{new_commit}"
        return _json_response(
            {
                "success": True,
                "commitOid": new_commit,
                "commitUrl": commit_url,
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    def _create_tag(self, request: Request, url_type: str, namespace: str, name: str, revision: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        commit = self._commit_at(repo, revision)
        payload = request.json()
        ref = self._valid_ref(repo, "refs/tags/", payload.get("tag", ""))
        repo.create_ref(ref, commit, message=payload.get("message"))
        return _json_response({"name": ref.removeprefix("refs/tags/"), "targetCommit": commit})

    def _delete_tag(self, request: Request, url_type: str, namespace: str, name: str, tag: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        repo.delete_ref(self._valid_ref(repo, "refs/tags/", tag))
        return _json_response({})

    def _create_branch(self, request: Request, url_type: str, namespace: str, name: str, branch: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        starting_point = request.json().get("startingPoint") or DEFAULT_BRANCH
        commit = self._commit_at(repo, starting_point)
        repo.create_ref(self._valid_ref(repo, "refs/heads/", branch), commit)
        return _json_response({})

    def _delete_branch(self, request: Request, url_type: str, namespace: str, name: str, branch: str) -> Response:
        _repo_type, repo = self._repo(url_type, namespace, name)
        if branch == DEFAULT_BRANCH:
            raise HubError(403, f"Cannot delete the default branch '{DEFAULT_BRANCH}'")
        repo.delete_ref(self._valid_ref(repo, "refs/heads/", branch))
        return _json_response({})

    @staticmethod
    def _valid_ref(repo: GitRepo, prefix: str, short_name: str) -> str:
        ref = prefix + short_name
        if not short_name or _FULL_SHA.fullmatch(short_name) or not repo.is_valid_ref_name(ref):
            raise HubError(400, f"Invalid reference name: {short_name!r}")
        return ref


# --------------------------------------------------------------------------------------------------
# Request-body and response-shape helpers
# --------------------------------------------------------------------------------------------------


def _split_repo_id(repo_id: str) -> tuple[str, str]:
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_NAME.fullmatch(p) and ".." not in p and not p.endswith(".git") for p in parts):
        raise HubError(
            400, f"Invalid repo id {repo_id!r}: expected 'namespace/name' made of letters, digits, '.', '_', '-'"
        )
    return parts[0], parts[1]


def _validate_path_in_repo(path: str) -> str:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..", ".git") for p in parts)
        or any(c in path for c in "\0\n\r\\")
    ):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def _parse_commit_body(body: bytes) -> CommitOperations:
    """Parse the NDJSON commit payload the client sends (header line, then one line per operation)."""
    operations: CommitOperations | None = None
    steps = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            key, value = item["key"], item["value"]
        except (ValueError, KeyError, TypeError):
            raise HubError(400, f"Commit payload line {number} is not a {{'key', 'value'}} JSON object") from None
        if key == "header":
            summary = value.get("summary") or ""
            if not summary.strip():
                raise HubError(400, "Commit summary (commit_message) must not be empty")
            operations = CommitOperations(summary, value.get("description") or "", value.get("parentCommit"))
        elif key == "file":
            steps.append(("add", _validate_path_in_repo(value["path"]), _decode_content(value)))
        elif key == "deletedFile":
            steps.append(("delete_file", _validate_path_in_repo(value["path"]), None))
        elif key == "deletedFolder":
            steps.append(("delete_folder", _validate_path_in_repo(value["path"].rstrip("/")), None))
        elif key == "lfsFile":
            raise HubError(
                400, "LFS files are not supported by the local hub: preupload answers 'regular' for every file"
            )
        else:
            raise HubError(400, f"Unknown commit operation {key!r} on payload line {number}")
    if operations is None:
        raise HubError(400, "Commit payload has no header line")
    if operations.parent_commit is not None and not _FULL_SHA.fullmatch(operations.parent_commit):
        raise HubError(400, f"parentCommit must be a full commit SHA, got {operations.parent_commit!r}")
    operations.steps = steps
    return operations


def _decode_content(value: dict) -> bytes:
    if value.get("encoding") == "base64":
        try:
            return base64.b64decode(value["content"], validate=True)
        except ValueError:
            raise HubError(400, f"File {value.get('path')!r} has invalid base64 content") from None
    return str(value.get("content", "")).encode()


def _path_info(repo: GitRepo, commit: str, entry: TreeEntry, *, expand: bool) -> dict:
    """The Hub's JSON for one tree entry (tree and paths-info endpoints)."""
    info = {"type": entry.kind, "oid": entry.oid, "size": entry.size, "path": entry.path}
    if expand:
        info["lastCommit"] = repo.last_commit(commit, entry.path)
    return info


def _front_matter(text: str) -> str | None:
    """The YAML between the leading '---' lines of a README, or None."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*$", text, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else None


def _card_data(repo: GitRepo, files: list[TreeEntry]) -> dict | None:
    readme = next((f for f in files if f.path == "README.md"), None)
    if readme is None:
        return None
    front_matter = _front_matter(repo.read_blob(readme.oid).decode(errors="replace"))
    try:
        data = yaml.safe_load(front_matter) if front_matter is not None else None
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """An inclusive (start, end) byte range from a single-range Range header; None means the whole file."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or match.groups() == ("", ""):
        return None  # unsupported forms (e.g. several ranges): answer the whole file, as servers may
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise HubError(
            416, f"Range {header!r} is not satisfiable for {size} bytes", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, end


# --------------------------------------------------------------------------------------------------
# http.server glue
# --------------------------------------------------------------------------------------------------


class _HubHTTPServer(TrackingHTTPServer):
    request_queue_size = 64  # HfFileSystem lists and downloads with up to 16 parallel connections

    def __init__(self, address, handler_class, *, hub: LocalHub):
        super().__init__(address, handler_class)
        self.hub = hub


class _HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    server_version = "LocalHub"
    timeout = 60  # an idle keep-alive connection never pins a thread for long

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)  # never logs headers (tokens)

    def _serve(self) -> None:
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        outcome = self.server.hub.handle(request)
        if outcome is DROP:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(outcome)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        length = response.content_length if response.content_length is not None else len(response.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local Hugging Face Hub-compatible test server.")
    parser.add_argument("--port", type=int, default=8900, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--token", default=None, help="require this bearer token on every request")
    parser.add_argument("--root", default=None, help="keep repositories in this directory (default: a temp dir)")
    args = parser.parse_args(argv)
    with LocalHub(token=args.token, port=args.port, root=args.root) as hub:
        print(f"Local hub serving at {hub.endpoint} (repositories in {hub.root}). Ctrl-C to stop.", flush=True)
        print(f"Use it with: HF_ENDPOINT={hub.endpoint}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
