"""Secrets stay secret and model text stays data, through a whole build and a push.

tests/test_llm_secrets.py proves the LLM layer sends the key only in the auth header. Here planted
keys go through the real CLIs with debug logging on, and every artifact is searched for them: the
output streams, the release, the build report, the rejects, the cache file bytes, and every object
of the Hub's git repository.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hub_server import LocalHub
from tests.support.scripted_llm import reply_json
from tests.support.schema_faker import fake_model
from tests.test_reliability_support import (N, build, builder_command, chat_bodies, clean_env, fake_server,
                                            decoded, model_of, release_dir, released_records, run)

__all__ = ["fake_server"]

REPO = "org/tomato-secrets"
VERBOSE = {"OPENAI_LOG": "debug", "HF_HUB_VERBOSITY": "debug", "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_UPDATE_DOWNLOAD_COUNTS": "0"}


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def git_objects(git_dir: Path) -> dict[str, bytes]:
    """Every object (commits, trees, blobs, tags) of a bare repository, decompressed."""
    listing = subprocess.run(["git", "--git-dir", str(git_dir), "rev-list", "--all", "--objects"],
                             capture_output=True, text=True, check=True).stdout
    objects = {}
    for line in listing.splitlines():
        sha = line.split()[0]
        objects[sha] = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-p", sha],
                                      capture_output=True, check=True).stdout
    return objects


@pytest.mark.slow
@pytest.mark.ci
def test_planted_keys_appear_in_no_artifact_of_a_build_and_a_push(fake_server, tmp_path):
    keys = {name: f"sk-PLANTED-{name.lower()}-{secrets.token_hex(12)}"
            for name in ("OPENAI_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "HF_TOKEN")}
    env = clean_env(**keys, **VERBOSE)
    out, cache = tmp_path / "out", tmp_path / "cache"
    command = [part for part in builder_command(model_of(fake_server), out, cache) if part != "--quiet"]
    built = run(command, env=env)  # with progress, summary and debug logs
    assert built.returncode == 0, built.stderr[-3000:]
    assert all(r.headers.get("authorization") == f"Bearer {keys['OPENAI_COMPATIBLE_API_KEY']}"
               for r in fake_server.requests)  # the key was used, so it could have leaked

    with LocalHub(token=keys["HF_TOKEN"], root=tmp_path / "hub") as hub:
        push_env = {**env, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf-home")}
        pushed = run([sys.executable, "-m", "release", "push", str(release_dir(out)), "--repo", REPO,
                      "--no-verify"], env=push_env)
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        assert hub.request_counts["commit"] == 1 and hub.request_counts["tag"] == 1
        git_dirs = sorted({p.parent for p in (tmp_path / "hub").rglob("HEAD") if (p.parent / "objects").is_dir()})
        assert git_dirs
        hub_objects = {f"{d}:{sha}": data for d in git_dirs for sha, data in git_objects(d).items()}

    artifacts = {
        "build stdout": built.stdout.encode(), "build stderr": built.stderr.encode(),
        "push stdout": pushed.stdout.encode(), "push stderr": pushed.stderr.encode(),
        **files_under(out),  # the release, build-report.json, rejects.jsonl
        **files_under(cache),  # responses.sqlite and its -wal/-shm
        **files_under(tmp_path / "hub"),  # the hub's files as stored
        **hub_objects,  # and every git object, decompressed
    }
    assert any(name.endswith("build-report.json") for name in artifacts)
    assert any(name.endswith("responses.sqlite") for name in artifacts)
    assert "debug" in built.stderr.lower() or "DEBUG" in built.stderr or "HTTP Request" in built.stderr, \
        "debug logging was not on"
    for variable, key in keys.items():
        leaks = [name for name, data in artifacts.items() if key.encode() in data]
        assert leaks == [], f"{variable} found in {leaks}"


# Strings that would do harm if a reply were ever used as a path, a template or a shell command.
HOSTILE = {
    "path": "../../etc/passwd",
    "shell": "$(touch {marker})",
    "jinja": "{{ 7 * 7 }} {% include '/etc/passwd' %}",
}


def hostile_model(marker: Path):
    """fake_model, except that scenarios and judge reasons carry the hostile strings (schemas allow them)."""
    shell = HOSTILE["shell"].format(marker=marker)

    def respond(request):
        properties = ((request.json or {}).get("response_format") or {}).get("json_schema", {}) \
            .get("schema", {}).get("properties", {})
        if "goal_a" in properties:  # the scenario writer
            return reply_json({
                "scenario": f"Two neighbours meet by the fence; a sign reads {HOSTILE['path']} and {shell} "
                            f"and {HOSTILE['jinja']} in chalk.",
                "goal_a": "Persuade the neighbour to lend a ladder before the weekend storm arrives.",
                "goal_b": f"Keep the old bicycle hidden in the garage {HOSTILE['path']}",
            })
        if "compatible" in properties:  # the false-belief judge
            return reply_json({"compatible": False, "reason": f"{shell} {HOSTILE['jinja']}"[:160]})
        return fake_model(request)

    return respond


@pytest.mark.slow
@pytest.mark.ci
def test_text_from_model_replies_stays_data(fake_server, tmp_path):
    marker = tmp_path / "pwned"
    fake_server.responder = hostile_model(marker)
    result = build(fake_server, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    assert not marker.exists()  # no shell ran it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]  # nothing written beside
    folder = release_dir(tmp_path / "out")
    expected = {"README.md", "CHANGELOG.md", "manifest.json"}
    for path in folder.rglob("*"):
        relative = str(path.relative_to(folder))
        if path.is_file():
            assert relative in expected or relative.startswith(("data/", "charts/")), relative
            assert relative.endswith((".parquet", ".png")) or relative in expected, relative
    # the benchmark's release lock sits beside its folder (two builds into one --out take turns)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".tomato.release.lock", "tomato"]
    assert sorted(p.name for p in (tmp_path / "out" / "tomato").iterdir()) == ["builds", "v1.0.0"]

    # the strings are in the records, verbatim, and reached the model verbatim (never rendered)
    records = released_records(folder)
    assert len(records) == N
    scenario = records[0]["provenance"]["environment"]["scenario"]
    for text in (HOSTILE["path"], HOSTILE["jinja"], HOSTILE["shell"].format(marker=marker)):
        assert text in scenario
    system_prompts = [json.loads(body)["messages"][0]["content"] for body in chat_bodies(fake_server)]
    assert any(HOSTILE["jinja"] in prompt for prompt in system_prompts)
    checks = [decoded(r["provenance"]["false_belief_check"]) for r in records]
    verdicts = [v for check in checks if check for v in check["verdicts"]]
    assert verdicts and all(v["reason"].startswith("$(touch ") for v in verdicts)
