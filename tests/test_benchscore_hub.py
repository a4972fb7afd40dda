"""Scoring a release on the (local) Hub by repo and revision, and pushing the results next to it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from benchscore.cli import main
from release import hub as hub_module
from release.hub import push_release
from release.manifest import read_manifest
from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    letter_server,
    model,
    tomato_golds,
    tomato_release,
    write_tomato_release,
)

REPO = "toolkit-tests/tomato-scored"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(hub_module, "RETRY", hub_module.RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05))


def _hub_files(local_hub, revision: str = "main") -> dict[str, str]:
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    return {path: path for path in api.list_repo_files(REPO, repo_type="dataset", revision=revision)}


def _hub_text(local_hub, path: str) -> str:
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    return Path(api.hf_hub_download(REPO, path, repo_type="dataset")).read_text(encoding="utf-8")


def test_score_a_hub_release_by_tag_and_push_the_results(local_hub, tomato_release, tmp_path, capsys):
    push_release(copy_release(tomato_release, tmp_path), REPO, verify=False, report=lambda _: None)
    download = tmp_path / "download"
    with letter_server(tomato_golds(tomato_release), "[{}]") as server:
        argv = [REPO, "--revision", "v1.0.0", "--download-dir", str(download), "--model", model(server, "oracle"),
                "--cache-dir", str(tmp_path / "cache"), "--quiet"]
        assert main(argv) == 0
        assert "accuracy 100.0%" in capsys.readouterr().out
        assert read_manifest(download)["content_hash"] == read_manifest(tomato_release)["content_hash"]
        assert (download / "results" / "openai-compatible_oracle" / "scores.json").is_file()
        assert "results/index.json" not in _hub_files(local_hub)  # nothing pushed without --push

        commits = local_hub.request_counts["commit"]
        assert main([*argv, "--push"]) == 0
    assert local_hub.request_counts["commit"] == commits + 1  # one commit for all the results files
    files = _hub_files(local_hub)
    assert {"results/index.json", "results/openai-compatible_oracle/scores.json",
            "results/openai-compatible_oracle/predictions.parquet"} <= set(files)
    card = _hub_text(local_hub, "README.md")
    assert "| `openai-compatible:oracle` | accuracy | all / test | 100.0% |" in card
    assert card.count("<!-- toolkit:begin results -->") == 1 and "<!-- toolkit:begin usage -->" in card
    index = json.loads(_hub_text(local_hub, "results/index.json"))
    assert list(index["runs"]) == ["openai-compatible_oracle"]
    assert "results/index.json" not in _hub_files(local_hub, "v1.0.0")  # the tag still names the data as released

    assert main([*argv, "--push"]) == 0  # the same results again: nothing to commit
    assert local_hub.request_counts["commit"] == commits + 1
    assert "already holds these results; no commit" in capsys.readouterr().out


def test_results_are_not_pushed_next_to_other_data(local_hub, tomato_release, tmp_path, capsys):
    releases = tmp_path / "releases"
    release = releases / "tomato" / "v1.0.0"
    release.parent.mkdir(parents=True)
    copy_release(tomato_release, tmp_path).rename(release)
    push_release(release, REPO, verify=False, report=lambda _: None)
    newer = write_tomato_release(releases, n=24)  # v1.0.1, now on main
    assert newer.version == "1.0.1"
    push_release(newer.path, REPO, verify=False, report=lambda _: None)
    with letter_server(tomato_golds(release), "[{}]") as server:
        code = main([str(release), "--model", model(server, "oracle"), "--cache-dir", str(tmp_path / "cache"),
                     "--quiet", "--push", "--repo", REPO])
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{REPO} main holds v1.0.1, not the data these results are for (v1.0.0)" in err
    assert (release / "results" / "index.json").is_file()  # kept locally
    assert "results/index.json" not in _hub_files(local_hub)


def test_unknown_repo_and_revision_are_clear_errors(local_hub, tomato_release, tmp_path, capsys):
    push_release(copy_release(tomato_release, tmp_path), REPO, verify=False, report=lambda _: None)
    base = ["--model", "openai-compatible:http://127.0.0.1:9/v1#never", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main(["toolkit-tests/no-such-repo", "--download-dir", str(tmp_path / "a"), *base]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "has no dataset repo toolkit-tests/no-such-repo" in err and "Traceback" not in err
    assert main([REPO, "--revision", "v9.9.9", "--download-dir", str(tmp_path / "b"), *base]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "has no revision 'v9.9.9'" in err and "its tags are v1.0.0" in err
