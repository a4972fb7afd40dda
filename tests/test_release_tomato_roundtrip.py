"""A real ToMATO build, released, pushed, tagged and loaded back by tag through the real clients.

The build runs the CLI against the deterministic fake model; the push and the load go through
`huggingface_hub` and `datasets` against the local Hub-compatible server.
"""

from __future__ import annotations

import json

import datasets
from huggingface_hub import HfApi

from release.hub import push_release
from tests.test_reliability_support import build, fake_server  # noqa: F401 (fixture)

REPO = "toolkit-tests/tomato-fresh"


def test_tomato_build_is_pushed_tagged_and_loads_back_by_tag(local_hub, fake_server, tmp_path):  # noqa: F811
    completed = build(fake_server, tmp_path, "--repo-id", REPO)
    assert completed.returncode == 0, completed.stderr
    release_dir = tmp_path / "out" / "tomato" / "v1.0.0"
    manifest = json.loads((release_dir / "manifest.json").read_text())

    result = push_release(release_dir, REPO, report=lambda *args: None)  # verifies by loading the tag
    assert result.plan.tag == "v1.0.0" and result.tagged and result.verified
    assert local_hub.request_counts.get("commit") == 1
    assert "v1.0.0" in {tag.name for tag in HfApi().list_repo_refs(REPO, repo_type="dataset").tags}

    for config in ("all", "first_order", "second_order", "false_belief"):
        expected = manifest["counts"].get(config, {}).get("test", 0)
        if not expected:
            continue
        rows = datasets.load_dataset(REPO, config, revision="v1.0.0", split="test")
        assert rows.num_rows == expected
        assert set(rows.column_names) >= {"q", "a0", "a1", "a2", "a3", "a_idx", "a_str", "false_belief"}

    # An identical push changes nothing: no commit, no new tag.
    again = push_release(release_dir, REPO, report=lambda *args: None)
    assert not again.plan.commit and local_hub.request_counts.get("commit") == 1
