"""Calibration across versions in `python -m release rebuild`: reference models scored on the new
and the previous version, the difference with its unpaired-bootstrap interval in the new card, a
flag beyond the tolerance, and the new version's results pushed with it."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from release import hub as hub_module
from release.__main__ import main as release_main
from release.hub import check_release_files
from release.manifest import read_manifest
from release.rebuild import load_config, rebuild
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_text
from tests.test_benchscore_support import (
    last_user,
    model,
    rows_of,
    tomato_golds,
    write_tomato_release,
)

# Stands in for `python -m builders.tomato`: "builds" the release the test prepared in-process with
# the ToMATO builder (NEXT_RELEASE, a vX.Y.Z folder), by copying it into --out; the rebuild then
# finds a new version, as after a real build.
FAKE_BUILDER = textwrap.dedent('''
    import argparse, os, shutil
    from pathlib import Path

    parser = argparse.ArgumentParser()
    for flag in ("--model", "--n", "--seed", "--out", "--bump", "--repo-id"):
        parser.add_argument(flag)
    args = parser.parse_args()
    source = Path(os.environ["NEXT_RELEASE"])
    shutil.copytree(source, Path(args.out) / "tomato" / source.name)
''')
REPO = "toolkit-tests/tomato-calibrated"


@pytest.fixture
def fake_builder(tmp_path, monkeypatch):
    (tmp_path / "fake_tomato_builder.py").write_text(FAKE_BUILDER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(hub_module, "RETRY", hub_module.RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05))
    # The post-push check loads every config with `datasets`: slow, and tested with release pushes.
    monkeypatch.setattr(hub_module, "verify_release_on_hub", lambda *args, **kwargs: None)


def reference_server(releases) -> ScriptedOpenAIServer:
    """Two reference models: "always-a" answers [A]; "first-order" answers first-order items right
    and second-order ones wrong (so its score is the share of first-order items, which differs
    between the two versions)."""
    golds: dict[str, tuple[str, int]] = {}

    def respond(request):
        if request.json["model"] == "always-a":
            return reply_text("[A]")
        prompt = last_user(request)
        if prompt not in golds:  # a version built since the last look
            for release in releases.glob("tomato/v*"):
                orders = {row["q"]: row["order"] for row in rows_of(release, "all")}
                golds.update({text: (gold, orders[text.split("# Question\n")[1].split("\n\n# Options")[0]])
                              for text, gold in tomato_golds(release).items()})
        gold, order = golds[prompt]
        return reply_text(f"[{gold}]" if order == 1 else "[" + "ABCD"[("ABCD".index(gold) + 1) % 4] + "]")

    return ScriptedOpenAIServer(responder=respond)


def write_config(tmp_path, n: int) -> str:
    config = {"benchmark": "tomato", "model": "local:smollm2", "n": n, "seed": 0, "version_policy": "minor",
              "hub_repo": REPO, "releases_root": str(tmp_path / "releases"), "builder_module": "fake_tomato_builder",
              "calibration_tolerance": 2.0, "scoring_args": {"cache_dir": str(tmp_path / "cache")}}
    path = tmp_path / "tomato.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _share(release, wanted) -> float:
    rows = rows_of(release, "all")
    return sum(wanted(row) for row in rows) / len(rows)


def test_a_rebuild_scores_the_reference_models_on_both_versions(local_hub, tmp_path, fake_builder, capsys,
                                                                   monkeypatch):
    releases = tmp_path / "releases"
    assert write_tomato_release(releases, n=20).version == "1.0.0"  # the previous version
    shutil.copytree(releases, tmp_path / "prepared")
    prepared = write_tomato_release(tmp_path / "prepared", n=30, bump="minor")  # what the "build" will produce
    monkeypatch.setenv("NEXT_RELEASE", str(prepared.path))
    with reference_server(releases) as server:
        models = [model(server, "first-order"), model(server, "always-a")]
        argv = ["rebuild", "--config", write_config(tmp_path, 30)]
        assert release_main([*argv, *(part for m in models for part in ("--reference-model", m))]) == 0
    captured = capsys.readouterr()
    old, new = releases / "tomato" / "v1.0.0", releases / "tomato" / "v1.1.0"

    calibration = json.loads((new / "results" / "index.json").read_text())["calibration"]
    assert calibration["previous_version"] == "1.0.0" and calibration["tolerance_points"] == 2.0
    by_model = {ref["model"]: ref for ref in calibration["references"]}
    expected = {"openai-compatible:first-order": lambda row: row["order"] == 1,
                "openai-compatible:always-a": lambda row: row["a_idx"] == 0}
    for name, wanted in expected.items():
        ref = by_model[name]
        assert ref["previous"]["value"] == round(_share(old, wanted), 6)
        assert ref["current"]["value"] == round(_share(new, wanted), 6)
        points = 100 * (_share(new, wanted) - _share(old, wanted))
        assert ref["difference_points"] == pytest.approx(points, abs=1e-4)
        low, high = ref["difference_interval_points"]
        assert low <= ref["difference_points"] <= high
        assert ref["flagged"] == (abs(points) > 2.0)
    assert by_model["openai-compatible:first-order"]["flagged"]  # 11 of 20 first-order items, then 14 of 30

    flagged = by_model["openai-compatible:first-order"]
    assert f"reference model openai-compatible:first-order moved {flagged['difference_points']:+.1f} points" in \
        " ".join(captured.err.split())
    assert "FLAGGED, beyond the 2-point tolerance" in captured.out

    card = (new / "README.md").read_text()
    assert "### Calibration against `v1.0.0`" in card and "**beyond tolerance**" in card
    for release in (old, new):  # both versions carry both reference models' results, and still verify
        index = json.loads((release / "results" / "index.json").read_text())
        assert set(index["runs"]) == {"openai-compatible_first-order", "openai-compatible_always-a"}
        check_release_files(release, read_manifest(release))

    from huggingface_hub import HfApi

    hub_files = HfApi().list_repo_files(REPO, repo_type="dataset")
    assert "results/openai-compatible_first-order/scores.json" in hub_files
    hub_index = json.loads(Path(HfApi().hf_hub_download(REPO, "results/index.json", repo_type="dataset")).read_text())
    assert hub_index["version"] == "1.1.0" and hub_index["calibration"]["previous_version"] == "1.0.0"


def test_calibration_settings_are_checked_before_the_build(tmp_path, fake_builder):
    path = Path(write_config(tmp_path, 20))
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "reference_models": "openai:gpt-4o"}))
    with pytest.raises(ValueError, match="reference_models must be a list of model strings"):
        load_config(path)
    path.write_text(yaml.safe_dump({**raw, "calibration_tolerance": -1}))
    with pytest.raises(ValueError, match="calibration_tolerance must be 0 or more"):
        load_config(path)
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="reference model: unknown provider"):
        rebuild(load_config(path), reference_models=["gpt:4"], report=lambda _: None)
    assert not (tmp_path / "releases").exists()  # refused before anything was built
