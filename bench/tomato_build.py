"""ToMATO end to end on the embedded model: wall time, LLM calls per released question, time
spent outside LLM calls, and the rebuild from the response cache.

    python -m bench.tomato_build [--n 200] [--model local:smollm2] [--workdir DIR]

Runs the real CLI twice with the same config and a fresh cache: the first build pays for every
reply, the second must make zero model calls and take a small share of the first's time.
Figures come from the builds' own reports (<out>/tomato/builds/build-report.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Figure, format_table


def run_build(n: int, model: str, out: Path, cache: Path, concurrency: int) -> tuple[float, dict]:
    command = [sys.executable, "-m", "builders.tomato", "--n", str(n), "--model", model, "--out", str(out),
               "--cache-dir", str(cache), "--concurrency", str(concurrency), "--quiet"]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"build failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return wall, json.loads((out / "tomato" / "builds" / "build-report.json").read_text())


def figures_of(n: int, first_wall: float, first: dict, second_wall: float, second: dict) -> list[Figure]:
    released = first["funnel"].get("released", 0)
    paid = first["llm"]["total"]
    busy = first["timings_seconds"].get("llm_busy", 0.0)
    generate = first["timings_seconds"].get("generate", first_wall)
    return [
        Figure("questions released", released, "", f">= {n}"),
        Figure("first build wall time", first_wall, "s"),
        Figure("LLM calls per released question", paid["requests"] / max(1, released), "calls"),
        Figure("generation time outside LLM calls", 100 * max(0.0, generate - busy) / max(generate, 1e-9), "%",
               "< 5"),
        Figure("rebuild: model calls", second["llm"]["total"]["requests"], "calls", "<= 0"),
        Figure("rebuild wall time / first build", 100 * second_wall / first_wall, "%", "< 5"),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.tomato_build")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="local:smollm2")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=None, help="keep outputs and cache here")
    args, _ = parser.parse_known_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-tomato-"))
    cache = workdir / "cache"
    first_wall, first = run_build(args.n, args.model, workdir / "first", cache, args.concurrency)
    second_wall, second = run_build(args.n, args.model, workdir / "second", cache, args.concurrency)
    figures = figures_of(args.n, first_wall, first, second_wall, second)
    if argv is None:
        print(format_table(f"bench.tomato_build (n={args.n}, {args.model})", figures))
    return figures


if __name__ == "__main__":
    main()
