"""A novel no list in the code knows (written by the test, tests/support/pdnc_synthetic.py) builds a
PersonaEval, a LitCharToM and a Moral RolePlay release on the strong-model stand-in: the prompts call
its author and characters by the names a reader knows, and no release holds an empty file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.pdnc_synthetic import EPITHETS, READER_NAMES, write_synthetic_novel
from tests.support.scripted_llm import ScriptedOpenAIServer
from tests.support.standin import StrongStandIn
from tests.support.standin_builds import PROVIDER_VARIABLES, ROOT, STANDIN_BUILDS

NOVEL = "TheLanternAtHarrowCross"
AUTHOR, AUTHOR_CODE = "Margaret Ellery Vane", "VANE"
BUILDS = {
    "personaeval": ("--track", "literary", "--n", "6"),
    "litchartom": ("--n", "4", "--max-chunks", "4"),
    "moral_roleplay": ("--n", "8", "--max-scenes", "10", "--top-up-max", "30"),
}


@contextmanager
def recording_standin(builder: str):
    standin = StrongStandIn(**STANDIN_BUILDS[builder].standin_options())
    with ScriptedOpenAIServer(responder=standin) as server:
        yield server


def build(builder: str, tmp: Path, pdnc: Path) -> tuple[subprocess.CompletedProcess, Path, list[str]]:
    out = tmp / f"{builder}-out"
    with recording_standin(builder) as server:
        command = [sys.executable, "-m", f"builders.{builder}", "--model", "openai:gpt-4o", "--out", str(out),
                   "--cache-dir", str(tmp / f"{builder}-cache"), "--quiet", "--pdnc-dir", str(pdnc), "--novels", NOVEL,
                   "--license", "cc-by-4.0", *BUILDS[builder]]
        env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
        env.update(OPENAI_API_KEY="sk-standin-openai", OPENAI_BASE_URL=server.base_url, PYTHONPATH=str(ROOT))
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        prompts = [json.dumps(body, ensure_ascii=False) for body in server.bodies("/chat/completions")]
    return result, out / builder, prompts


def empty_files(release: Path) -> list[str]:
    """Files a loader cannot read as data: zero bytes, a JSON list or object with nothing in it, a parquet shard of no row."""
    empty = []
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        if path.stat().st_size == 0:
            empty.append(str(path))
        elif path.suffix == ".parquet" and pq.read_metadata(path).num_rows == 0:
            empty.append(str(path))
        elif path.suffix in (".json", ".jsonl") and path.read_text(encoding="utf-8").strip() in ("[]", "{}", ""):
            empty.append(str(path))
    return empty


@pytest.fixture(scope="module")
def pdnc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pdnc")
    write_synthetic_novel(root / NOVEL, author=AUTHOR, author_code=AUTHOR_CODE)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("builder", [pytest.param("personaeval", marks=pytest.mark.ci), "litchartom", "moral_roleplay"])
def test_an_unlisted_novel_builds_a_release_with_readers_names_and_no_empty_file(builder, pdnc, tmp_path):
    result, benchmark_dir, prompts = build(builder, tmp_path, pdnc)
    assert result.returncode == 0, result.stderr[-3000:]
    releases = sorted(benchmark_dir.glob("v*"))
    assert releases, result.stderr[-3000:]
    release = releases[-1]
    assert empty_files(release) == []
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["build_report"]["funnel"].get("released", 0) > 0

    everything = "\n".join(prompts)
    assert f"by {AUTHOR_CODE}" not in everything  # never the PDNC code
    speaking_reader_names = [READER_NAMES[i] for i in EPITHETS]  # characters PDNC names by an epithet
    assert any(name in everything for name in speaking_reader_names), "no reader's name reached the model"
    for epithet in EPITHETS.values():
        assert f'"{epithet}"' not in everything and f"{epithet}:" not in everything, f"{epithet!r} used as a name"
