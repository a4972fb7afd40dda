"""Whole builds through the real command line against the strong-model stand-in (tests/support/standin.py).

    with standin_server("anthropic") as server:
        build = run_standin_build("builders.tomato", server, tmp_path, n=20)
    build.released, build.reask_share, build.figures ...

The server speaks the OpenAI protocol (model string `openai:gpt-4o`, redirected with
OPENAI_BASE_URL) or the Anthropic one (`anthropic:claude-sonnet-4-5`, ANTHROPIC_BASE_URL), so a
build goes through exactly the provider code a user's build goes through, with planted fake keys.
Used by the per-builder strong-model tests and by `python -m bench.strong_standin`.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from builders.cli import latest_build_folder
from tests.support.scripted_llm import ScriptedAnthropicServer, ScriptedOpenAIServer
from tests.support.standin import StrongStandIn

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = {
    "openai": ("openai:gpt-4o", ScriptedOpenAIServer, {"OPENAI_API_KEY": "sk-standin-openai",
                                                        "OPENAI_BASE_URL": "{url}"}),
    "anthropic": ("anthropic:claude-sonnet-4-5", ScriptedAnthropicServer, {"ANTHROPIC_API_KEY": "sk-ant-standin",
                                                                          "ANTHROPIC_BASE_URL": "{url}"}),
}
# Variables a build must not inherit from the developer's shell.
PROVIDER_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_COMPATIBLE_API_KEY", "ANTHROPIC_API_KEY",
                      "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class StandinSpec:
    """How the CI tests and the bench build one benchmark on the stand-in (the same build for both)."""

    flags: tuple[str, ...] = ()  # builder flags that keep a --n 20 build small and fast
    oracle: str | None = None  # "module:function": what a judge question's right answer is, when knowable

    def standin_options(self) -> dict:
        if self.oracle is None:
            return {}
        module, _, function = self.oracle.partition(":")
        return {"oracle": getattr(importlib.import_module(module), function)}


STANDIN_BUILDS: dict[str, StandinSpec] = {
    "tomato": StandinSpec(),
    "personaeval": StandinSpec(flags=("--plays", "macbeth")),
    # Closed blocks of four golds per plot and dimension need five chunks of King Lear for 20 records.
    "litchartom": StandinSpec(flags=("--plays", "king-lear", "--max-chunks", "5")),
    # One play, its first twelve scene windows (the twelfth holds Angelo again, so the only level-4
    # source portrayal does not hang on one window surviving every check). Measure for Measure has
    # every level in its opening acts, and speeches about as long as CoSER's messages (a source scene's message is the play's own speech
    # after a written thought: Othello's first act, with speeches of 30 words, measures 31 words a
    # message where the original has 24, whatever the model writes). A noisy judge confirms a top-up
    # character about half the time: up to 30 top-up scenes fill every level.
    "moral_roleplay": StandinSpec(flags=("--plays", "measure-for-measure", "--max-scenes", "12", "--top-up-max", "30"),
                                  oracle="tests.support.moral_oracle:moral_oracle"),
}


@contextmanager
def standin_server(protocol: str, **standin_options):
    """A stand-in server of `protocol` ("openai" | "anthropic"); `.model` and `.env` say how to reach it."""
    model, server_class, variables = PROTOCOLS[protocol]
    standin = StrongStandIn(**standin_options)
    with server_class(responder=standin, record=False) as server:
        server.standin = standin
        server.model_string = model
        server.env = {name: value.format(url=server.base_url) for name, value in variables.items()}
        yield server


@dataclass
class StandinBuild:
    result: subprocess.CompletedProcess
    out: Path
    benchmark: str
    seconds: float

    @property
    def release(self) -> Path:
        versions = sorted((self.out / self.benchmark).glob("v*"))
        assert versions, f"no release written:\n{self.result.stderr[-3000:]}"
        return versions[-1]

    @property
    def manifest(self) -> dict:
        return json.loads((self.release / "manifest.json").read_text())

    @property
    def build_report(self) -> dict:
        return json.loads((latest_build_folder(self.out, self.benchmark) / "build-report.json").read_text())

    @property
    def calls(self) -> dict:
        """The release's call ledger (builders.llm.ledger): what a fresh build of it asks."""
        return self.manifest["build_report"]["calls"]

    @property
    def released(self) -> int:
        return self.calls["released"]

    @property
    def reask_share(self) -> float:
        return self.calls["total"]["reask_share"]

    @property
    def figures(self) -> list[dict]:
        """The release's figures next to the original's (builders.figures)."""
        return self.manifest["build_report"].get("original_comparison", [])

    def records(self, config: str | None = None) -> list[dict]:
        folder = self.release / "data"
        config = config or sorted(p.name for p in folder.iterdir())[0]
        rows = []
        for shard in sorted((folder / config).glob("*.parquet")):
            rows += pq.read_table(shard).to_pylist()
        return rows


def run_standin_build(module: str, server, tmp: Path, *extra: str, n: int = 20, timeout: float = 900,
                      name: str = "build") -> StandinBuild:
    """`python -m <module> --n <n>` against the stand-in, with its own --out and --cache-dir under tmp."""
    out, cache = tmp / f"{name}-out", tmp / f"{name}-cache"
    command = [sys.executable, "-m", module, "--n", str(n), "--model", server.model_string, "--out", str(out),
               "--cache-dir", str(cache), "--quiet", *extra]
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    env.update(server.env, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return StandinBuild(result, out, module.rsplit(".", 1)[-1], time.perf_counter() - started)


PROTOCOL_NAMES = tuple(PROTOCOLS)  # ("openai", "anthropic")


def build_on_every_protocol(module: str, tmp: Path, *extra: str, n: int = 20,
                            standin_options: dict | None = None) -> dict[str, StandinBuild]:
    """The same build on the stand-in through each protocol, the builds running at once (about half
    the wall time of one after the other), each with its own server, --out and --cache-dir."""
    def build(protocol: str) -> StandinBuild:
        with standin_server(protocol, **(standin_options or {})) as server:
            return run_standin_build(module, server, tmp, *extra, n=n, name=protocol)

    with ThreadPoolExecutor(len(PROTOCOL_NAMES)) as pool:
        return dict(zip(PROTOCOL_NAMES, pool.map(build, PROTOCOL_NAMES), strict=True))


def length_figures_outside_tolerance(build: StandinBuild) -> list[dict]:
    return [f for f in build.figures if f["kind"] == "length" and f["within_tolerance"] is not True]
