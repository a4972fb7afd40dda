"""Scheduled rebuilds: config loading, the builder subprocess, and push-only-when-changed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from release import hub as hub_module
from release.rebuild import REQUIRED_KEYS, builder_command, load_config, rebuild
from release.resources import REPO_ROOT
from tests.test_release_fixtures import resources_root  # noqa: F401  (fixture)

# A stand-in for `python -m builders.<benchmark>`: parses the flags rebuild passes and writes a
# release of the quiz benchmark with `n` records.
FAKE_BUILDER = textwrap.dedent('''
    import argparse, os
    from pathlib import Path
    from release import write_release
    from tests.test_release_fixtures import BUILD_REPORT, quiz_benchmark, quiz_record, quiz_splits

    parser = argparse.ArgumentParser()
    for flag in ("--model", "--n", "--seed", "--out", "--bump", "--repo-id", "--extra-flag"):
        parser.add_argument(flag)
    args = parser.parse_args()
    benchmark = quiz_benchmark()
    records = [quiz_record(i) for i in range(int(args.n))]
    write_release(benchmark, quiz_splits(benchmark, records), {**BUILD_REPORT, "model": args.model},
                  Path(args.out), bump=args.bump, repo_id=args.repo_id,
                  resources_root=Path(os.environ["QUIZ_RESOURCES"]))
''')


def write_config(tmp_path: Path, **overrides) -> Path:
    config = {"benchmark": "quiz", "model": "local:smollm2", "n": 40, "seed": 0, "version_policy": "minor",
              "hub_repo": "org/quiz", "releases_root": str(tmp_path / "releases"),
              "builder_module": "fake_quiz_builder", "builder_args": {"extra_flag": "x"}}
    config.update(overrides)
    path = tmp_path / "quiz.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def fake_builder(tmp_path, resources_root, monkeypatch):  # noqa: F811
    (tmp_path / "fake_quiz_builder.py").write_text(FAKE_BUILDER)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{REPO_ROOT}")
    monkeypatch.setenv("QUIZ_RESOURCES", str(resources_root))
    monkeypatch.setattr(hub_module, "RETRY", hub_module.RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05))


def test_the_checked_in_tomato_config_loads():
    config = load_config(REPO_ROOT / "release" / "configs" / "tomato.yaml")
    assert config.benchmark == "tomato" and config.module == "builders.tomato"
    command = builder_command(config)
    assert command[1:3] == ["-m", "builders.tomato"]
    assert command[3:] == ["--model", config.model, "--n", str(config.n), "--seed", str(config.seed),
                           "--out", str(config.releases_root), "--bump", config.version_policy,
                           "--repo-id", config.hub_repo, "--retry-failed-runs", "0"]


@pytest.mark.parametrize("drop", REQUIRED_KEYS)
def test_a_config_missing_a_required_key_is_rejected(tmp_path, drop):
    path = write_config(tmp_path)
    raw = yaml.safe_load(path.read_text())
    del raw[drop]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=f"missing required key.*{drop}"):
        load_config(path)


def test_unknown_keys_and_policies_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        load_config(write_config(tmp_path, modle="typo"))
    with pytest.raises(ValueError, match="version_policy"):
        load_config(write_config(tmp_path, version_policy="big"))


def test_rebuild_pushes_a_new_release_and_skips_an_unchanged_one(local_hub, tmp_path, fake_builder):
    config = load_config(write_config(tmp_path))
    first = rebuild(config, report=lambda _: None)
    assert first.changed and first.version == "1.0.0" and first.push.tagged
    second = rebuild(config, report=lambda _: None)
    assert not second.changed and second.version == "1.0.0"
    assert second.push.commit is None and local_hub.request_counts["commit"] == 1
    third = rebuild(load_config(write_config(tmp_path, n=41)), report=lambda _: None)
    assert third.changed and third.version == "1.1.0" and third.push.tagged
    assert local_hub.request_counts["commit"] == 2


def test_a_failing_builder_stops_the_rebuild(tmp_path, fake_builder):
    config = load_config(write_config(tmp_path, builder_module="no_such_builder_module"))
    with pytest.raises(RuntimeError, match="exited with status"):
        rebuild(config, report=lambda _: None)
