"""Publishing to a local Hub: one commit + tag, no-ops, stale deletes, failures, dry runs, cards."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi

import datasets
from release import hub as hub_module
from release import parquet_io
from release.__main__ import main
from release.hub import PushError, push_release
from tests.test_release_fixtures import (  # noqa: F401  (fixtures)
    releases_root,
    resources_root,
    write_quiz_release,
)

REPO = "org/quiz"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(hub_module, "RETRY", hub_module.RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05))


def write(resources_root, releases_root, n, **kwargs):
    return write_quiz_release(resources_root, releases_root, n, repo_id=REPO, **kwargs)


def hub_state(local_hub):
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    refs = api.list_repo_refs(REPO, repo_type="dataset")
    head = next(b.target_commit for b in refs.branches if b.name == "main")
    files = sorted(api.list_repo_files(REPO, repo_type="dataset", revision=head))
    return head, {t.name: t.target_commit for t in refs.tags}, files


def load_counts(tag, config="all"):
    loaded = datasets.load_dataset(REPO, config, revision=tag)
    return {split: loaded[split].num_rows for split in loaded}


def test_first_release_is_one_commit_and_a_tag_and_loads(local_hub, resources_root, releases_root):
    release = write(resources_root, releases_root, 40)
    result = push_release(release.path, REPO, report=lambda _: None)
    assert result.commit and result.tagged and result.verified
    assert local_hub.request_counts["commit"] == 1 and local_hub.request_counts["tag"] == 1
    head, tags, files = hub_state(local_hub)
    assert tags == {"v1.0.0": head} == {"v1.0.0": result.commit}
    assert "manifest.json" in files and "data/hard/validation-00000-of-00001.parquet" in files
    assert load_counts("v1.0.0", "hard") == {"test": 21, "validation": 5}


def test_identical_rebuild_makes_no_commit_and_no_tag(local_hub, resources_root, releases_root):
    push_release(write(resources_root, releases_root, 40).path, REPO, report=lambda _: None)
    again = write(resources_root, releases_root, 40)
    assert again.noop
    commits, tags_before = local_hub.request_counts["commit"], hub_state(local_hub)[1]
    messages = []
    result = push_release(again.path, REPO, report=messages.append)
    assert result.commit is None and not result.tagged
    assert local_hub.request_counts["commit"] == commits and local_hub.request_counts.get("tag", 0) == 1
    assert hub_state(local_hub)[1] == tags_before
    assert "main already holds this content (v1.0.0); no commit, no tag" in messages[-1]


def test_changed_rebuild_deletes_stale_shards_and_the_old_tag_still_loads(
    local_hub, resources_root, releases_root, monkeypatch
):
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 10)
    first = write(resources_root, releases_root, 40)  # all/test has 4 shards
    push_release(first.path, REPO, report=lambda _: None)
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 500_000)
    second = write(resources_root, releases_root, 30)  # one shard per split
    result = push_release(second.path, REPO, report=lambda _: None)
    deleted = [path for path, _ in result.plan.deletes]
    assert deleted == [f"data/{c}/{s}-{i:05d}-of-{n:05d}.parquet" for c, s, n in
                       [("all", "test", 4), ("hard", "test", 3)] for i in range(n)]
    head, tags, files = hub_state(local_hub)
    assert sorted(tags) == ["v1.0.0", "v1.0.1"] and tags["v1.0.1"] == head
    assert not [f for f in files if "-of-00004" in f]
    assert local_hub.request_counts["commit"] == 2
    assert load_counts("v1.0.1") == {"test": 24, "validation": 6}
    assert load_counts("v1.0.0") == {"test": 32, "validation": 8}  # the old tag keeps the old data


def test_a_push_failing_half_way_leaves_main_and_tags_untouched(local_hub, resources_root, releases_root):
    push_release(write(resources_root, releases_root, 40).path, REPO, report=lambda _: None)
    head_before, tags_before, files_before = hub_state(local_hub)
    second = write(resources_root, releases_root, 30)
    local_hub.inject_fault("commit", 500, times=20)
    with pytest.raises(PushError, match="main is unchanged, no tag created"):
        push_release(second.path, REPO, report=lambda _: None)
    assert hub_state(local_hub) == (head_before, tags_before, files_before)
    assert local_hub.request_counts["commit"] == 1 + hub_module.RETRY.attempts  # bounded retries


def test_transient_errors_and_rate_limits_are_retried(local_hub, resources_root, releases_root):
    release = write(resources_root, releases_root, 40)
    local_hub.inject_fault("refs", 429, times=1, retry_after=0)
    local_hub.inject_fault("commit", 503, times=2)
    local_hub.inject_fault("tag", kind="drop", times=1)
    result = push_release(release.path, REPO, report=lambda _: None)
    assert result.tagged and result.verified
    assert local_hub.request_counts["commit"] == 3
    head, tags, _ = hub_state(local_hub)
    assert tags == {"v1.0.0": head}


def test_a_commit_whose_answer_is_lost_is_not_committed_twice(local_hub, resources_root, releases_root):
    release = write(resources_root, releases_root, 40)
    local_hub.inject_fault("commit", kind="drop_after", times=1)  # lands, but the client sees a drop
    messages = []
    result = push_release(release.path, REPO, report=messages.append)
    head, tags, _ = hub_state(local_hub)
    assert tags == {"v1.0.0": head} and result.verified
    commits = HfApi(endpoint=local_hub.endpoint, token=local_hub.token).list_repo_commits(REPO, repo_type="dataset")
    assert len(commits) == 2  # the repo's initial commit and the release, not two releases


def test_a_lost_commit_answer_with_stale_deletes_is_replanned_into_a_tag(
    local_hub, resources_root, releases_root, monkeypatch
):
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 10)
    push_release(write(resources_root, releases_root, 40).path, REPO, report=lambda _: None)
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 500_000)
    second = write(resources_root, releases_root, 30)
    local_hub.inject_fault("commit", kind="drop_after", times=1)
    messages = []
    result = push_release(second.path, REPO, report=messages.append)
    head, tags, _ = hub_state(local_hub)
    assert tags["v1.0.1"] == head and result.verified
    assert any("tag v1.0.1 is missing" in m for m in messages), messages


def test_main_moving_under_the_push_is_replanned_once(local_hub, resources_root, releases_root):
    release = write(resources_root, releases_root, 40)
    local_hub.inject_fault("commit", 412, times=1)
    result = push_release(release.path, REPO, report=lambda _: None)
    assert result.tagged and local_hub.request_counts["commit"] == 2
    local_hub.inject_fault("commit", 412, times=2)
    with pytest.raises(PushError, match="HTTP 412"):
        push_release(write(resources_root, releases_root, 30).path, REPO, report=lambda _: None)


def test_a_failed_tag_is_reported_and_added_by_the_next_push(local_hub, resources_root, releases_root):
    release = write(resources_root, releases_root, 40)
    local_hub.inject_fault("tag", 500, times=20)
    with pytest.raises(PushError, match="is on org/quiz main but creating tag v1.0.0 failed"):
        push_release(release.path, REPO, report=lambda _: None)
    local_hub.clear_faults()
    head, tags, _ = hub_state(local_hub)
    assert tags == {}
    result = push_release(release.path, REPO, report=lambda _: None)
    assert result.tagged and hub_state(local_hub)[1] == {"v1.0.0": head}
    assert local_hub.request_counts["commit"] == 1  # the retry only tagged


def test_dry_run_prints_the_operations_and_commits_nothing(local_hub, resources_root, releases_root, capsys):
    release = write(resources_root, releases_root, 40)
    assert main(["push", str(release.path), "--repo", REPO, "--dry-run"]) == 0
    out = capsys.readouterr().out
    size = (release.path / "data/all/test-00000-of-00001.parquet").stat().st_size
    assert f"  add     data/all/test-00000-of-00001.parquet  {size} bytes" in out
    assert "  create  dataset repo org/quiz" in out and "  tag     v1.0.0" in out
    assert "dry run: nothing was committed or tagged" in out
    assert local_hub.request_counts.get("commit", 0) == 0 and local_hub.request_counts.get("create_repo", 0) == 0
    assert local_hub.token not in out


def test_push_keeps_hub_card_sections_and_keys_we_do_not_own(local_hub, resources_root, releases_root):
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    api.create_repo(REPO, repo_type="dataset")
    hub_card = ("---\nhomepage: https://example.org\nlicense: mit\n---\n\n# Quiz\n\nMaintainers' intro.\n\n"
                "## Leaderboard\n\n| model | acc |\n|---|---|\n| m | 0.5 |\n")
    api.upload_file(path_or_fileobj=hub_card.encode(), path_in_repo="README.md", repo_id=REPO, repo_type="dataset")
    release = write(resources_root, releases_root, 40)
    assert push_release(release.path, REPO, report=lambda _: None).verified
    readme = open(api.hf_hub_download(REPO, "README.md", repo_type="dataset", revision="v1.0.0")).read()
    assert "Maintainers' intro." in readme and "| m | 0.5 |" in readme
    assert "homepage: https://example.org" in readme and "license: cc-by-4.0" in readme
    assert "<!-- toolkit:begin stats -->" in readme


def test_pushing_an_older_or_existing_version_is_refused(local_hub, resources_root, releases_root, tmp_path):
    old = write(resources_root, tmp_path / "elsewhere", 30)  # v1.0.0 with other content
    push_release(write(resources_root, releases_root, 40).path, REPO, report=lambda _: None)
    with pytest.raises(PushError, match="tag v1.0.0 already exists on the Hub with different content"):
        push_release(old.path, REPO, report=lambda _: None)


def test_cli_push_by_benchmark_name_uses_the_latest_release(local_hub, resources_root, releases_root, capsys):
    write(resources_root, releases_root, 40)
    write(resources_root, releases_root, 41)
    assert main(["push", "quiz", "--repo", REPO, "--releases-root", str(releases_root)]) == 0
    assert "tagged" in capsys.readouterr().out and sorted(hub_state(local_hub)[1]) == ["v1.0.1"]
    assert main(["push", "nothing-here", "--repo", REPO, "--releases-root", str(releases_root)]) == 1
