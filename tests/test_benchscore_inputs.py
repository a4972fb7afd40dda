"""Bad input gets one clear line (exit 2) naming the problem and the fix, never a traceback; a
model that cannot follow the format scores 0 with its replies counted; --max-cost stops cleanly
and the same command resumes from the cache."""

from __future__ import annotations

import pytest

from benchscore.cli import main
from tests.support.scripted_llm import reply_text
from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    letter_server,
    model,
    release_files,
    score,
    scores_of,
    tomato_release,
)

FAKE = "openai-compatible:http://127.0.0.1:9/v1#never-asked"  # no request may reach it


@pytest.fixture
def cache_flags(tmp_path) -> list[str]:
    return ["--cache-dir", str(tmp_path / "cache")]


def _error(capsys, argv) -> str:
    assert main([*argv, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    return " ".join(captured.err.split())


def test_an_unknown_path_and_a_folder_that_is_not_a_release(capsys, tmp_path, tomato_release, cache_flags):
    assert "does/not/exist/v1.0.0 does not exist; give a release folder" in _error(
        capsys, ["does/not/exist/v1.0.0", "--model", FAKE, *cache_flags])
    assert f"{tmp_path} is not a release: it has no manifest.json" in _error(
        capsys, [str(tmp_path), "--model", FAKE, *cache_flags])
    benchmark_folder = tomato_release.parent
    assert "it holds the releases v1.0.0: pass one of them" in _error(
        capsys, [str(benchmark_folder), "--model", FAKE, *cache_flags])


def test_config_split_benchmark_and_option_mismatches(capsys, tomato_release, cache_flags):
    release = str(tomato_release)
    assert ("--config 'Drama' is not in this release; its configs are all, false_belief, first_order, second_order"
            in _error(capsys, [release, "--model", FAKE, *cache_flags, "--config", "Drama"]))
    assert "config 'all' has no split 'train'; its splits are test" in _error(
        capsys, [release, "--model", FAKE, *cache_flags, "--split", "train"])
    assert "this is a tomato release (v1.0.0), not a personaeval one" in _error(
        capsys, [release, "--model", FAKE, *cache_flags, "--benchmark", "personaeval"])
    assert "--triples applies to litchartom only; this release is tomato" in _error(
        capsys, [release, "--model", FAKE, *cache_flags, "--triples"])
    assert "--revision applies to a Hub repo" in _error(
        capsys, [release, "--model", FAKE, *cache_flags, "--revision", "v1.0.0"])
    assert "--push publishes the results files, which --no-write does not write" in _error(
        capsys, [release, "--model", FAKE, *cache_flags, "--push", "--no-write"])
    assert "unknown provider 'gpt'" in _error(capsys, [release, "--model", "gpt:4", *cache_flags])
    assert "--push needs a Hub repo: pass --repo org/name" in _error(capsys, [release, "--model", FAKE, *cache_flags,
                                                                               "--push"])


def test_changed_data_is_refused(capsys, tomato_release, tmp_path, cache_flags):
    release = copy_release(tomato_release, tmp_path)
    shard = next((release / "data" / "all").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes() + b"x")
    assert "differs from manifest.json; the release data was changed" in _error(
        capsys, [str(release), "--model", FAKE, *cache_flags])


def test_a_model_that_cannot_follow_the_format_scores_0_with_a_warning(tomato_release, tmp_path, capsys):
    release = copy_release(tomato_release, tmp_path)
    with letter_server({}, "{}", always="I would rather not say.") as server:
        assert score(release, model(server, "evasive"), tmp_path / "cache") == 0
    captured = capsys.readouterr()
    document = scores_of(release, "openai-compatible_evasive")
    assert document["headline"]["value"] == 0.0 and document["headline"]["unparseable"] == 20
    assert "unparseable 20" in captured.out and "warning: none of the 20 replies could be read" in captured.err
    assert document["warnings"] and "Traceback" not in captured.err


def test_max_cost_stops_cleanly_and_the_same_command_resumes_from_the_cache(tomato_release, tmp_path, capsys,
                                                                           openai_server):
    release = copy_release(tomato_release, tmp_path)
    openai_server.responder = lambda request: reply_text("[A]", usage=(2000, 10))
    before = release_files(release)
    argv = [str(release), "--model", "openai:gpt-4o-mini", "--cache-dir", str(tmp_path / "cache"), "--quiet",
            "--concurrency", "1"]
    assert main([*argv, "--max-cost", "0.0005"]) == 3
    captured = capsys.readouterr()
    assert "stopped:" in captured.err and "--max-cost budget" in captured.err and "Traceback" not in captured.err
    assert release_files(release) == before  # nothing written
    paid = len(openai_server.requests)
    assert 0 < paid < 20
    assert main([*argv, "--max-cost", "1"]) == 0
    assert len(openai_server.requests) == 20  # what the first run paid for came from the cache
    assert openai_server.planted_key not in (release / "results" / "openai_gpt-4o-mini" / "scores.json").read_text()


@pytest.mark.parametrize("flag", ["--limit", "--samples"])
def test_counts_must_be_positive(capsys, tomato_release, flag, cache_flags):
    with pytest.raises(SystemExit) as stop:
        main([str(tomato_release), "--model", FAKE, *cache_flags, flag, "0"])
    assert stop.value.code == 2 and "must be at least 1" in capsys.readouterr().err
