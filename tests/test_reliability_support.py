"""Shared helpers for the tests/test_reliability_*.py files (no tests here).

Every reliability test runs the real command line, `python -m builders.tomato`, as a subprocess
against a ScriptedOpenAIServer whose responder is `fake_model` (a valid, deterministic instance of
whatever schema a request asks for), with its own --out and --cache-dir under tmp_path.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builders.cli import latest_build_folder
from tests.support.scripted_llm import ScriptedOpenAIServer
from tests.support.schema_faker import fake_model

ROOT = Path(__file__).resolve().parent.parent
CACHE_FILE = "responses.sqlite"
CHAT_PATH = "/chat/completions"
N = 30  # records per build: 3 conversations, 64 model calls on the fake model
# Variables a subprocess must not inherit from the developer's shell.
PROVIDER_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_COMPATIBLE_API_KEY", "ANTHROPIC_API_KEY",
                      "ANTHROPIC_BASE_URL", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@pytest.fixture
def fake_server():
    """A scripted OpenAI-compatible server answering every request with `fake_model`."""
    with ScriptedOpenAIServer(responder=fake_model) as server:
        yield server


def model_of(server: ScriptedOpenAIServer) -> str:
    return f"openai-compatible:{server.base_url}#fake"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def builder_command(model: str, out: Path, cache_dir: Path, *extra: str, n: int = N, module: str = "builders.tomato"):
    return [sys.executable, "-m", module, "--n", str(n), "--model", model, "--out", str(out),
            "--cache-dir", str(cache_dir), "--quiet", *extra]


def run(command: list[str], *, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env or clean_env(), capture_output=True, text=True, timeout=timeout)


def build(server: ScriptedOpenAIServer, tmp: Path, *extra: str, env: dict | None = None, n: int = N,
          out: str = "out", cache: str = "cache") -> subprocess.CompletedProcess:
    return run(builder_command(model_of(server), tmp / out, tmp / cache, *extra, n=n), env=env)


def one_line(text: str) -> str:
    """A message with its line breaks and runs of spaces collapsed, for substring checks."""
    return " ".join(text.split())


def chat_bodies(server: ScriptedOpenAIServer, start: int = 0) -> list[bytes]:
    """The raw bodies of the chat requests the server received, from request number `start` on."""
    return [r.raw for r in server.requests[start:] if r.path.endswith(CHAT_PATH)]


def cache_entries(cache_dir: Path) -> dict[str, dict]:
    """request key -> cached entry, read without writing to the file."""
    with sqlite3.connect(f"file:{cache_dir / CACHE_FILE}?mode=ro", uri=True) as db:
        return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM responses")}


def cache_count(cache_dir: Path) -> int:
    path = cache_dir / CACHE_FILE
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # the builder has not created the table yet
        return 0


def build_report(out: Path, benchmark: str = "tomato") -> dict:
    """The newest run's build report (builds/latest names it)."""
    return json.loads((latest_build_folder(out, benchmark) / "build-report.json").read_text())


def rejects(out: Path, benchmark: str = "tomato") -> list[dict]:
    path = latest_build_folder(out, benchmark) / "rejects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def release_dir(out: Path, version: str = "v1.0.0", benchmark: str = "tomato") -> Path:
    return out / benchmark / version


def release_files(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file in a release folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def released_records(folder: Path, config: str = "all") -> list[dict]:
    rows = []
    for shard in sorted((folder / "data" / config).glob("*.parquet")):
        rows += pq.read_table(shard).to_pylist()
    for row in rows:
        if isinstance(row.get("provenance"), str):
            row["provenance"] = json.loads(row["provenance"])
    return rows


def request_hashes(value) -> set[str]:
    """Every request hash named anywhere in a provenance object (`request_hash`, `*_request_hash`)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("request_hash") and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= request_hashes(item)
    elif isinstance(value, list):
        for item in value:
            found |= request_hashes(item)
    elif isinstance(value, str) and value[:1] in "{[":  # free-form objects are stored as JSON text
        found |= request_hashes(decoded(value))
    return found


def decoded(value):
    """A free-form provenance object as released (JSON text in the parquet), or the value itself."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
