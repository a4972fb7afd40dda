"""Reliability round 2, the release side: folder modes, abandoned staging folders, concurrent writers
into one releases root, push failures that end in a state line, and release configs checked whole
before anything runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from release import hub as hub_module
from release import rebuild as rebuild_module
from release import writer as writer_module
from release.__main__ import main
from release.hub import push_release
from release.rebuild import load_config
from release.versioning import VersionError, released_versions
from release.writer import remove_abandoned_staging
from tests.test_release_fixtures import (  # noqa: F401  (fixtures)
    releases_root,
    resources_root,
    write_quiz_release,
)
from tests.test_release_hub import REPO, hub_state
from tests.test_reliability_support import (  # noqa: F401  (fixture)
    ROOT,
    builder_command,
    clean_env,
    fake_server,
    model_of,
    one_line,
)

SMALL = 5  # records of a real tomato build on the fake model: one conversation, a few seconds


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(hub_module, "RETRY", hub_module.RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05))


def write(resources_root, releases_root, n, **kwargs):
    return write_quiz_release(resources_root, releases_root, n, repo_id=REPO, **kwargs)


# ---- 17.6: release folders get the umask's modes ------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o007])
def test_a_release_folder_gets_the_modes_the_umask_gives(resources_root, releases_root, tmp_path, umask):
    previous = os.umask(umask)
    try:
        result = write(resources_root, releases_root, 40)
        os.makedirs(tmp_path / "reference" / "folder")
        (tmp_path / "reference" / "file").write_text("x")
    finally:
        os.umask(previous)
    folder_mode = (tmp_path / "reference" / "folder").stat().st_mode & 0o777
    file_mode = (tmp_path / "reference" / "file").stat().st_mode & 0o777
    assert folder_mode == 0o777 & ~umask  # what the test expects of os.makedirs itself
    folders = [result.path, *(p for p in result.path.rglob("*") if p.is_dir())]
    files = [p for p in result.path.rglob("*") if p.is_file()]
    assert len(folders) >= 4 and len(files) >= 8
    assert {oct(p.stat().st_mode & 0o777) for p in folders} == {oct(folder_mode)}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(file_mode)}


RUN_ENTRY = {"model": "m", "judge": None, "variant": [], "metric": "accuracy", "configs": ["all"], "split": "test",
             "value": 0.5, "scale": 1, "interval": [0.4, 0.6], "n": 40, "unparseable": 0}


def test_results_written_into_a_release_get_the_umask_modes_too(resources_root, releases_root):
    from release.results import record_run

    previous = os.umask(0o022)
    try:
        result = write(resources_root, releases_root, 40)
        record_run(result.path, "run-1", RUN_ENTRY, {"scores.json": b"{}"})
    finally:
        os.umask(previous)
    written = [p for p in (result.path / "results").rglob("*") if p.is_file()] + [result.path / "README.md"]
    assert len(written) >= 3
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o644)}


# ---- abandoned staging folders ------------------------------------------------------------------

# Writes a quiz release but stops for good once the shards are in its staging folder: a build that
# is killed (or still running) in the middle of writing its release.
STUCK_WRITER = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from release import writer
    from tests.test_release_fixtures import write_quiz_release

    real_write_data = writer._write_data

    def write_data_then_hang(*args):
        real_write_data(*args)
        print("staged", flush=True)
        time.sleep(600)

    writer._write_data = write_data_then_hang
    write_quiz_release(Path(sys.argv[3]), Path(sys.argv[1]), int(sys.argv[2]))
''')


def start_stuck_writer(tmp_path, releases_root, resources_root, n) -> subprocess.Popen:
    script = tmp_path / "stuck_writer.py"
    script.write_text(STUCK_WRITER)
    process = subprocess.Popen([sys.executable, str(script), str(releases_root), str(n), str(resources_root)],
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "staged"
    return process


def staging_entries(benchmark_dir: Path) -> list[str]:
    return sorted(p.name for p in benchmark_dir.glob(".staging-*"))


def test_the_staging_folder_of_a_killed_write_is_removed_and_a_live_one_is_kept(
        tmp_path, resources_root, releases_root):
    killed = start_stuck_writer(tmp_path, releases_root, resources_root, 30)
    live = start_stuck_writer(tmp_path, releases_root, resources_root, 31)
    try:
        benchmark_dir = releases_root / "quiz"
        before = [p for p in benchmark_dir.glob(".staging-*") if p.is_dir()]
        assert len(before) == 2 and all(list(p.rglob("*.parquet")) for p in before)  # complete shards
        killed.kill()
        killed.wait()
        result = write(resources_root, releases_root, 40)
        assert result.version == "1.0.0"
        left = [p for p in benchmark_dir.glob(".staging-*") if p.is_dir()]
        assert len(left) == 1  # the live writer's: never deleted under it
        assert (left[0].parent / f"{left[0].name}.lock").is_file()
        assert staging_entries(benchmark_dir) == sorted([left[0].name, f"{left[0].name}.lock"])
    finally:
        live.kill()
        live.wait()
        killed.kill()
    assert remove_abandoned_staging(benchmark_dir) == left
    assert staging_entries(benchmark_dir) == []
    assert sorted(p.name for p in benchmark_dir.iterdir()) == ["v1.0.0"]


def test_staging_folders_from_before_staging_locks_are_removed_once_old(resources_root, releases_root):
    benchmark_dir = releases_root / "quiz"
    old, recent = benchmark_dir / ".staging-old1", benchmark_dir / ".staging-new1"
    for folder in (old, recent):
        (folder / "data" / "all").mkdir(parents=True)
        (folder / "data" / "all" / "test-00000-of-00001.parquet").write_bytes(b"PAR1")
    hours_ago = time.time() - writer_module.UNLOCKED_STAGING_MAX_AGE - 60
    os.utime(old, (hours_ago, hours_ago))
    write(resources_root, releases_root, 40)
    assert staging_entries(benchmark_dir) == [recent.name]  # could still be an older toolkit's live write


# ---- 17.10: two writers into one releases root at once ----------------------------------------


def write_in_threads(resources_root, releases_root, sizes: list[int], monkeypatch, **kwargs) -> list:
    """One write_release per size, in threads that all finish writing their shards before any of
    them goes on: the race of two builds with one --out, made certain."""
    barrier = threading.Barrier(len(sizes), timeout=60)
    real_write_data = writer_module._write_data

    def write_data_then_wait(*args):
        written = real_write_data(*args)
        barrier.wait()
        return written

    monkeypatch.setattr(writer_module, "_write_data", write_data_then_wait)
    outcomes: list = [None] * len(sizes)

    def run(index: int, n: int) -> None:
        try:
            outcomes[index] = write(resources_root, releases_root, n, **kwargs)
        except Exception as error:  # noqa: BLE001  (the test looks at what each writer got)
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, n)) for i, n in enumerate(sizes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def test_two_writers_of_identical_data_at_once_give_one_version_and_one_unchanged(
        resources_root, releases_root, monkeypatch):
    outcomes = write_in_threads(resources_root, releases_root, [40, 40], monkeypatch)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(o.noop for o in outcomes) == [False, True]
    assert {o.version for o in outcomes} == {"1.0.0"} and len({o.path for o in outcomes}) == 1
    assert sorted(map(str, released_versions(releases_root / "quiz"))) == ["1.0.0"]


def test_two_writers_of_different_data_at_once_take_consecutive_versions(resources_root, releases_root, monkeypatch):
    outcomes = write_in_threads(resources_root, releases_root, [40, 41], monkeypatch)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sorted(o.version for o in outcomes) == ["1.0.0", "1.0.1"] and not any(o.noop for o in outcomes)
    second = max(outcomes, key=lambda o: o.version)
    assert second.previous_version == "1.0.0"  # its changelog and card compare with the winner's release
    assert "1.0.0" in (second.path / "CHANGELOG.md").read_text()


def test_two_writers_pinned_to_one_version_fail_clearly_for_the_loser(resources_root, releases_root, monkeypatch):
    outcomes = write_in_threads(resources_root, releases_root, [40, 41], monkeypatch, version="2.0.0")
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], VersionError)
    assert "v2.0.0 already exists" in str(errors[0]) and "Another build" in str(errors[0])
    assert sorted(map(str, released_versions(releases_root / "quiz"))) == ["2.0.0"]
    assert staging_entries(releases_root / "quiz") == []


@pytest.mark.slow
def test_two_real_builds_into_one_out_at_once_both_succeed(fake_server, tmp_path):  # noqa: F811
    salt = tmp_path / "answer-key.salt"  # one owner: both builds deal the same gold positions
    salt.write_text("ab" * 32 + "\n")

    def start(n: int, cache: str) -> subprocess.Popen:
        command = builder_command(model_of(fake_server), tmp_path / "out", tmp_path / cache,
                                  "--answer-key-salt-file", str(salt), n=n)
        return subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    same = [start(SMALL, "cache-a"), start(SMALL, "cache-b")]  # separate caches: both really build
    results = [(p.wait(300), p.stderr.read()) for p in same]
    assert [code for code, _ in results] == [0, 0], results
    assert sorted(map(str, released_versions(tmp_path / "out" / "tomato"))) == ["1.0.0"]  # the other: unchanged

    different = [start(SMALL + 1, "cache-a"), start(SMALL + 2, "cache-b")]
    results = [(p.wait(300), p.stderr.read()) for p in different]
    assert [code for code, _ in results] == [0, 0], results
    assert sorted(map(str, released_versions(tmp_path / "out" / "tomato"))) == ["1.0.0", "1.0.1", "1.0.2"]
    assert staging_entries(tmp_path / "out" / "tomato") == []


# ---- 17.16: push failures end in a state line ----------------------------------------------------


def test_a_commit_whose_connection_keeps_dropping_ends_in_a_state_line(local_hub, resources_root, releases_root,
                                                                      capsys):
    push_release(write(resources_root, releases_root, 40).path, REPO, report=lambda _: None)
    before = hub_state(local_hub)
    second = write(resources_root, releases_root, 30)
    capsys.readouterr()  # the first push's output
    local_hub.reset_request_counts()
    local_hub.inject_fault("commit", kind="drop", times=50)
    assert main(["push", str(second.path), "--repo", REPO]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "commit of v1.0.1 to org/quiz failed" in err and "main is unchanged, no tag created" in err
    assert "Run the same push again" in err
    assert hub_state(local_hub) == before
    assert local_hub.request_counts["commit"] == hub_module.RETRY.attempts

    local_hub.clear_faults()
    assert main(["push", str(second.path), "--repo", REPO]) == 0  # the retry the message asks for
    assert "v1.0.1" in hub_state(local_hub)[1]


def test_a_commit_that_lands_while_every_answer_is_lost_says_only_the_tag_is_missing(
        local_hub, resources_root, releases_root, capsys):
    release = write(resources_root, releases_root, 40)
    # The commit lands but its answer is lost, and from then on the Hub drops every retry's first request
    # (the card check; preupload would do too, but huggingface_hub retries that itself, for 15 s a time).
    local_hub.inject_fault("commit", kind="drop_after", times=1)
    local_hub.inject_fault("validate_yaml", kind="drop", times=50, after=1)
    assert main(["push", str(release.path), "--repo", REPO]) == 1
    err = one_line(capsys.readouterr().err)
    assert "but the commit landed" in err and "no tag created" in err and "only add tag v1.0.0" in err, err
    head, tags, _ = hub_state(local_hub)
    assert tags == {}
    local_hub.clear_faults()
    assert main(["push", str(release.path), "--repo", REPO]) == 0
    assert hub_state(local_hub)[1] == {"v1.0.0": head} and local_hub.request_counts["commit"] == 1


def test_verification_that_cannot_reach_the_hub_says_the_release_is_tagged(local_hub, resources_root,
                                                                           releases_root, capsys):
    release = write(resources_root, releases_root, 40)
    local_hub.inject_fault("resolve", kind="drop", times=50)  # a new repo: only verification downloads
    assert main(["push", str(release.path), "--repo", REPO]) == 1
    err = one_line(capsys.readouterr().err)
    assert "v1.0.0 is committed" in err and "tagged on org/quiz, but verifying it failed" in err, err
    assert "Traceback" not in err
    assert list(hub_state(local_hub)[1]) == ["v1.0.0"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: nothing listens there


def test_a_dry_run_without_network_is_one_message(resources_root, releases_root, monkeypatch, capsys):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    release = write(resources_root, releases_root, 40)
    assert main(["push", str(release.path), "--repo", REPO, "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err, captured.err
    assert f"could not reach the Hub at {endpoint}" in captured.err
    assert "nothing was pushed" in captured.err and "HF_ENDPOINT" in captured.err
    assert "run the same command again" in captured.err


# ---- 17.18: release configs are checked whole, before anything runs ----------------------------

GOOD_CONFIG = {"benchmark": "quiz", "model": "local:smollm2", "n": 40, "seed": 0, "hub_repo": "org/quiz",
               "builder_module": "no_such_builder_module"}


def config_text(**overrides) -> str:
    return yaml.safe_dump({**GOOD_CONFIG, **overrides}, sort_keys=False)


@pytest.mark.parametrize("text, fragments", [
    (config_text() + "n: 41\n", ["duplicate key 'n'", "line 7"]),
    (config_text(builder_args={"track": "drama"}) + "  track: literary\n", ["duplicate key 'track'"]),
    (config_text(builder_args={"n": 500}), ["builder_args sets --n", "key 'n'", "remove it from builder_args"]),
    (config_text(builder_args={"out": "elsewhere"}), ["builder_args sets --out", "key 'releases_root'"]),
    (config_text(builder_args={"repo-id": "org/other"}), ["builder_args sets --repo-id", "key 'hub_repo'"]),
    (config_text(builder_args={"plays": ["hamlet", "macbeth"]}), ["builder_args must map flag names to single"]),
    (config_text(n=10**20), ["n must be at most 2,000,000"]),
    (config_text(hub_repo="org/quiz..v2"), ["hub_repo 'org/quiz..v2' is not a Hub repo id"]),
    (config_text(hub_repo="a/b/c"), ["hub_repo 'a/b/c' is not a Hub repo id"]),
    (config_text(hub_repo="quiz"), ["hub_repo must be org/name"]),
    (config_text(model="gpt-4o"), ["model: model string 'gpt-4o' is not of the form provider:model"]),
], ids=["duplicate key", "duplicate nested key", "builder_args n", "builder_args out", "builder_args repo-id",
        "builder_args list", "absurd n", "bad repo id", "repo id with two slashes", "repo id without org",
        "bad model"])
def test_a_bad_release_config_is_refused_before_the_builder_runs(tmp_path, capsys, text, fragments):
    path = tmp_path / "quiz.yaml"
    path.write_text(text)
    assert main(["rebuild", "--config", str(path), "--no-push"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {path}"), err
    for fragment in fragments:
        assert fragment in err, err
    assert "exited with status" not in err  # the builder never started


# Records its command line, then writes a quiz release like a builder would.
RECORDING_BUILDER = textwrap.dedent('''
    import argparse, json, os, sys
    from pathlib import Path
    from tests.test_release_fixtures import write_quiz_release

    Path(os.environ["BUILDER_ARGV"]).write_text(json.dumps(sys.argv[1:]))
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--n", "--seed", "--out", "--bump", "--repo-id", "--cache-dir"):
        parser.add_argument(flag)
    args = parser.parse_args()
    write_quiz_release(Path(os.environ["QUIZ_RESOURCES"]), Path(args.out), int(args.n), bump=args.bump,
                       repo_id=args.repo_id)
''')


@pytest.fixture
def recording_builder(tmp_path, resources_root, monkeypatch):  # noqa: F811
    (tmp_path / "recording_quiz_builder.py").write_text(RECORDING_BUILDER)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{ROOT}")
    monkeypatch.setenv("QUIZ_RESOURCES", str(resources_root))
    monkeypatch.setenv("BUILDER_ARGV", str(tmp_path / "argv.json"))
    return tmp_path / "argv.json"


def write_config(tmp_path: Path, name: str = "quiz", **overrides) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(config_text(builder_module="recording_quiz_builder",
                                releases_root=str(tmp_path / "releases"), **overrides))
    return path


def test_rebuild_all_checks_every_config_before_the_first_build(tmp_path, recording_builder, monkeypatch, capsys):
    good = write_config(tmp_path, "a_good")
    bad = write_config(tmp_path, "b_bad", builder_args={"seed": 3})
    monkeypatch.setattr("release.__main__.all_config_paths", lambda: [good, bad])
    assert main(["rebuild", "--all", "--no-push"]) == 1
    assert f"error: {bad}: builder_args sets --seed" in capsys.readouterr().err
    assert not recording_builder.exists() and not (tmp_path / "releases").exists()


def test_rebuild_passes_cache_dir_to_the_builder(tmp_path, recording_builder, capsys):
    cache = tmp_path / "team-cache"
    assert main(["rebuild", "--config", str(write_config(tmp_path)), "--no-push", "--cache-dir", str(cache)]) == 0
    argv = json.loads(recording_builder.read_text())
    assert argv[argv.index("--cache-dir") + 1] == str(cache)
    assert (tmp_path / "releases" / "quiz" / "v1.0.0" / "manifest.json").is_file()
    # calibration scoring reads the same cache, unless the config gives scoring its own
    assert rebuild_module._scoring_args(load_config(write_config(tmp_path)), cache) == {"cache_dir": str(cache)}
    own = load_config(write_config(tmp_path, scoring_args={"cache_dir": "scoring-cache", "limit": 5}))
    assert rebuild_module._scoring_args(own, cache) == {"cache_dir": "scoring-cache", "limit": 5}


def test_rebuild_cache_dir_and_a_config_cache_dir_are_not_both_taken(tmp_path, recording_builder, capsys):
    config = write_config(tmp_path, builder_args={"cache_dir": str(tmp_path / "config-cache")})
    assert main(["rebuild", "--config", str(config), "--no-push", "--cache-dir", str(tmp_path / "cli-cache")]) == 1
    assert "both name the response cache; keep one" in capsys.readouterr().err
    assert not recording_builder.exists()


def test_a_rebuild_removes_a_killed_writes_staging_folder_first(tmp_path, recording_builder, resources_root, capsys):
    benchmark_dir = tmp_path / "releases" / "quiz"
    killed = start_stuck_writer(tmp_path, tmp_path / "releases", resources_root, 30)
    killed.kill()
    killed.wait()
    staged = [p for p in benchmark_dir.glob(".staging-*") if p.is_dir()]
    assert len(staged) == 1
    assert main(["rebuild", "--config", str(write_config(tmp_path)), "--no-push"]) == 0
    assert f"removed {staged[0]}" in capsys.readouterr().out
    assert staging_entries(benchmark_dir) == []
