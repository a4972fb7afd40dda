"""The local Hub server against the real clients: huggingface_hub's HfApi and datasets.load_dataset."""

from __future__ import annotations

import http.client
import io
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import datasets
import httpx2  # the transport huggingface_hub uses: dropped connections surface as its errors
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError
from huggingface_hub.hf_api import RepoFile

from tests.support.hub_server import LocalHub

REPO_ID = "tom-org/tomato-mini"
README = b"""---
license: cc-by-4.0
configs:
- config_name: tomato
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: test
    path: data/test-*.parquet
- config_name: tomato_train_only
  data_files:
  - split: train
    path: data/train-*.parquet
---
# ToMATO mini
"""
TRAIN_ROWS = [{"id": "t1", "text": "Anna hides the key."}, {"id": "t2", "text": "Ben looks for it."}]
TEST_V1_ROWS = [{"id": "e1", "text": "Where will Ben look?"}]
TEST_V2_ROWS = [{"id": "e2", "text": "What does Anna believe?"}, {"id": "e3", "text": "Who moved the key?"}]


# Host names looked up by the process while a `hosts_looked_up()` block runs (audit hooks cannot be removed).
_LOOKUP_SINKS: list[list[str]] = []


def _record_host_lookup(event: str, args: tuple) -> None:
    if event == "socket.getaddrinfo":
        for sink in _LOOKUP_SINKS:
            sink.append(str(args[0]))


sys.addaudithook(_record_host_lookup)


@contextmanager
def hosts_looked_up():
    hosts: list[str] = []
    _LOOKUP_SINKS.append(hosts)
    try:
        yield hosts
    finally:
        _LOOKUP_SINKS.remove(hosts)


def parquet_bytes(rows: list[dict]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


def publish_v1(api: HfApi) -> str:
    """Create the repo, commit README + two parquet files in one commit, tag v1.0.0; returns the commit id."""
    api.create_repo(REPO_ID, repo_type="dataset")
    parent = api.dataset_info(REPO_ID).sha
    commit = api.create_commit(
        REPO_ID,
        [
            CommitOperationAdd("README.md", README),
            CommitOperationAdd("data/train-00000.parquet", parquet_bytes(TRAIN_ROWS)),
            CommitOperationAdd("data/test-00000.parquet", parquet_bytes(TEST_V1_ROWS)),
        ],
        commit_message="Release v1.0.0",
        repo_type="dataset",
        parent_commit=parent,
    )
    api.create_tag(REPO_ID, tag="v1.0.0", revision=commit.oid, repo_type="dataset")
    return commit.oid


def publish_v2(api: HfApi, parent: str):
    """Delete the v1 test file and add its replacement, in one commit guarded by `parent`."""
    return api.create_commit(
        REPO_ID,
        [
            CommitOperationDelete("data/test-00000.parquet"),
            CommitOperationAdd("data/test-00001.parquet", parquet_bytes(TEST_V2_ROWS)),
        ],
        commit_message="Replace the test split",
        repo_type="dataset",
        parent_commit=parent,
    )


def repo_files(api: HfApi, revision: str = "main") -> list[str]:
    return sorted(
        f.path
        for f in api.list_repo_tree(REPO_ID, repo_type="dataset", revision=revision, recursive=True)
        if isinstance(f, RepoFile)
    )


def git(hub: LocalHub, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(hub.git_dir(REPO_ID)), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_one_commit_with_three_files_then_tag(local_hub):
    api = HfApi()
    v1 = publish_v1(api)

    assert local_hub.request_counts["commit"] == 1
    assert repo_files(api) == [".gitattributes", "README.md", "data/test-00000.parquet", "data/train-00000.parquet"]
    refs = api.list_repo_refs(REPO_ID, repo_type="dataset")
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", v1)]
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0.0", v1)]
    # Real git storage: the commit, the tag and the branch are git objects and refs.
    assert git(local_hub, "rev-parse", "refs/heads/main") == v1
    assert git(local_hub, "rev-parse", "refs/tags/v1.0.0^{commit}") == v1
    assert git(local_hub, "log", "--format=%s", "main").splitlines() == ["Release v1.0.0", "initial commit"]
    info = api.dataset_info(REPO_ID, revision="v1.0.0")
    assert info.sha == v1 and info.card_data["license"] == "cc-by-4.0"


def test_second_commit_deletes_and_adds_with_parent_commit(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    v2 = publish_v2(api, parent=v1)

    assert repo_files(api) == [".gitattributes", "README.md", "data/test-00001.parquet", "data/train-00000.parquet"]
    assert repo_files(api, "v1.0.0") == [
        ".gitattributes",
        "README.md",
        "data/test-00000.parquet",
        "data/train-00000.parquet",
    ]
    assert git(local_hub, "rev-parse", "main^") == v1
    assert v2.oid == api.dataset_info(REPO_ID).sha


def test_stale_parent_commit_answers_412_and_changes_nothing(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    v2 = publish_v2(api, parent=v1).oid

    with pytest.raises(HfHubHTTPError) as failure:
        api.create_commit(
            REPO_ID,
            [CommitOperationAdd("data/extra.parquet", parquet_bytes(TRAIN_ROWS)), CommitOperationDelete("README.md")],
            commit_message="Written against v1",
            repo_type="dataset",
            parent_commit=v1,
        )

    assert failure.value.response.status_code == 412
    assert git(local_hub, "rev-parse", "main") == v2
    assert "data/extra.parquet" not in repo_files(api) and "README.md" in repo_files(api)


def test_commit_with_one_failing_operation_applies_none(local_hub):
    api = HfApi()
    v1 = publish_v1(api)

    with pytest.raises(RemoteEntryNotFoundError):
        api.create_commit(
            REPO_ID,
            [CommitOperationAdd("data/new.parquet", parquet_bytes(TRAIN_ROWS)), CommitOperationDelete("not-there.txt")],
            commit_message="Half valid",
            repo_type="dataset",
        )

    assert git(local_hub, "rev-parse", "main") == v1
    assert "data/new.parquet" not in repo_files(api)


def test_every_revision_form_resolves(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    publish_v2(api, parent=v1)

    for revision in ("v1.0.0", v1):
        assert api.dataset_info(REPO_ID, revision=revision).sha == v1
        paths = api.get_paths_info(
            REPO_ID, ["data/test-00000.parquet", "data", "missing.txt"], repo_type="dataset", revision=revision
        )
        assert [p.path for p in paths] == ["data/test-00000.parquet", "data"]
        downloaded = api.hf_hub_download(REPO_ID, "data/test-00000.parquet", repo_type="dataset", revision=revision)
        assert pq.read_table(downloaded).to_pylist() == TEST_V1_ROWS
    assert api.get_paths_info(REPO_ID, ["data/test-00000.parquet"], repo_type="dataset", revision="main") == []


def test_unchanged_files_make_no_commit(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    commits_before = local_hub.request_counts["commit"]

    again = api.create_commit(
        REPO_ID,
        [
            CommitOperationAdd("README.md", README),
            CommitOperationAdd("data/train-00000.parquet", parquet_bytes(TRAIN_ROWS)),
        ],
        commit_message="Same content",
        repo_type="dataset",
    )

    assert again.oid == v1
    assert local_hub.request_counts["commit"] == commits_before
    assert git(local_hub, "rev-parse", "main") == v1


def test_load_dataset_by_tag_and_by_main(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    publish_v2(api, parent=v1)

    with hosts_looked_up() as hosts:
        at_tag = datasets.load_dataset(REPO_ID, "tomato", revision="v1.0.0")
        at_main = datasets.load_dataset(REPO_ID, "tomato", revision="main")
        train_only = datasets.load_dataset(REPO_ID, "tomato_train_only", revision="v1.0.0")

    assert set(hosts) <= {"127.0.0.1"}, f"datasets reached beyond the local hub: {sorted(set(hosts))}"

    assert at_tag["train"].to_list() == TRAIN_ROWS and at_tag["test"].to_list() == TEST_V1_ROWS
    assert at_main["train"].to_list() == TRAIN_ROWS and at_main["test"].to_list() == TEST_V2_ROWS
    assert list(train_only) == ["train"]


@pytest.mark.parametrize("fault", [{"status": 500}, {"kind": "drop"}])
def test_failed_commit_leaves_repo_unchanged(local_hub, fault):
    api = HfApi()
    v1 = publish_v1(api)
    local_hub.inject_fault("commit", times=1, **fault)
    expected_error = HfHubHTTPError if fault.get("kind") != "drop" else httpx2.TransportError

    with pytest.raises(expected_error):
        publish_v2(api, parent=v1)

    assert git(local_hub, "rev-parse", "main") == v1
    assert repo_files(api) == [".gitattributes", "README.md", "data/test-00000.parquet", "data/train-00000.parquet"]
    assert publish_v2(api, parent=v1).oid == git(local_hub, "rev-parse", "main")  # the fault was used up


def test_drop_after_commit_lands_but_the_answer_is_lost(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    local_hub.inject_fault("commit", kind="drop_after")

    with pytest.raises(httpx2.TransportError):
        publish_v2(api, parent=v1)

    assert git(local_hub, "rev-parse", "main^") == v1
    assert "data/test-00001.parquet" in repo_files(api)


def test_429_on_preupload_is_retried_after_retry_after(local_hub):
    api = HfApi()
    api.create_repo(REPO_ID, repo_type="dataset")
    local_hub.inject_fault("preupload", status=429, retry_after=0)
    local_hub.reset_request_counts()

    api.create_commit(REPO_ID, [CommitOperationAdd("a.txt", b"a")], commit_message="a", repo_type="dataset")

    assert local_hub.request_counts["preupload"] == 2
    assert local_hub.request_counts["commit"] == 1


@pytest.mark.parametrize("status", [409, 412])
def test_injected_conflict_statuses_reach_the_client(local_hub, status):
    api = HfApi()
    api.create_repo(REPO_ID, repo_type="dataset")
    local_hub.inject_fault("commit", status=status)

    with pytest.raises(HfHubHTTPError) as failure:
        api.create_commit(REPO_ID, [CommitOperationAdd("a.txt", b"a")], commit_message="a", repo_type="dataset")

    assert failure.value.response.status_code == status
    assert repo_files(api) == [".gitattributes"]


def test_missing_or_wrong_token_answers_401(local_hub):
    HfApi().create_repo(REPO_ID, repo_type="dataset")

    with pytest.raises(HfHubHTTPError) as missing:
        HfApi(token=False).dataset_info(REPO_ID)
    with pytest.raises(HfHubHTTPError) as wrong:
        HfApi(token="hf_wrong").create_repo("tom-org/other", repo_type="dataset")

    assert missing.value.response.status_code == 401
    assert wrong.value.response.status_code == 401
    assert not local_hub.git_dir("tom-org/other").exists()


def test_resolve_headers_and_ranges(local_hub):
    api = HfApi()
    v1 = publish_v1(api)
    url = f"{local_hub.endpoint}/datasets/{REPO_ID}/resolve/v1.0.0/README.md"
    auth = {"Authorization": f"Bearer {local_hub.token}"}

    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD", headers=auth)) as head:
        assert head.headers["X-Repo-Commit"] == v1
        assert head.headers["ETag"] == f'"{git(local_hub, "rev-parse", "v1.0.0:README.md")}"'
        assert int(head.headers["Content-Length"]) == len(README)
    with urllib.request.urlopen(urllib.request.Request(url, headers={**auth, "Range": "bytes=4-10"})) as partial:
        assert partial.status == 206 and partial.read() == README[4:11]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(urllib.request.Request(url.replace("README.md", "nope.md"), headers=auth))
    assert missing.value.code == 404 and missing.value.headers["X-Error-Code"] == "EntryNotFound"


def test_stop_closes_connections_threads_and_temp_dir():
    hub = LocalHub(token="t").start()
    root = hub.root
    idle = http.client.HTTPConnection("127.0.0.1", int(hub.endpoint.rsplit(":", 1)[1]))
    idle.request("GET", "/api/whoami-v2", headers={"Authorization": "Bearer t"})
    assert idle.getresponse().read()  # the connection stays open (keep-alive), pinning a handler thread

    started = time.monotonic()
    hub.stop()

    assert time.monotonic() - started < 5, "stop() waited for the idle keep-alive connection to time out"
    assert not root.exists()
    server_threads = [t for t in threading.enumerate() if t.name == "local-hub" or "process_request" in t.name]
    assert server_threads == []
    idle.close()


def test_inject_fault_rejects_unknown_kinds():
    hub = LocalHub()
    with pytest.raises(ValueError, match="endpoint kind"):
        hub.inject_fault("comit")
    with pytest.raises(ValueError, match="fault kind"):
        hub.inject_fault("commit", kind="explode")
