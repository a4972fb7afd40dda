"""Benchmark of the LLM layer: what it costs over talking to a server directly, and how close it gets to ideal.

    python -m bench.llm_layer [--requests 2000] [--concurrency 64] [--latency 1.0] [--skip-local] [--skip-curator]

(a) Embedded model: tokens/s of SmolLM2 through `LLM.chat` against direct HTTP posts of the same
    body (same prompt, max_tokens, temperature, seed, response_format) to the same llama.cpp
    server. The pairs alternate which goes first, so drift in machine load hits both alike.
    Target: the layer costs under 5%.
(b) Orchestration: N structured requests at the given concurrency against the scripted
    OpenAI-compatible server (tests/support/scripted_llm.py, in its own process) answering after
    a fixed latency, through the layer with a fresh cache. Ideal time = N / min(concurrency /
    latency, rate limit); target >= 90% of ideal. A bare AsyncOpenAI loop runs as reference.
(c) Peer: bespokelabs-curator 0.1.31 on the same server, N, concurrency and latency. It pins
    older datasets/openai, so it runs in its own venv (created once under
    ~/.cache/roleplay-tom-toolkit/bench-venvs/curator) via bench/_curator_peer.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import Figure

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLKIT_CACHE = Path.home() / ".cache" / "roleplay-tom-toolkit"
MODEL_DIR = TOOLKIT_CACHE / "test-models"  # shared with the tests' model fixture: the wheel is fetched once
CURATOR_VENV = TOOLKIT_CACHE / "bench-venvs" / "curator"
CURATOR_REQUIREMENT = "bespokelabs-curator==0.1.31"
CURATOR_SCRIPT = Path(__file__).with_name("_curator_peer.py")

TARGET_LAYER_COST = 0.05  # (a) the layer may cost at most 5% of the embedded model's tokens/s
TARGET_OF_IDEAL = 0.90  # (b) wall time within 90% of the ideal schedule

ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
SCRIPTED_ANSWER = {"answer": "yes"}  # what the scripted server answers to ANSWER_SCHEMA
LOCAL_PROMPTS = (
    "Anna hides the key under the mat while Ben is out. Where will Ben look for it?",
    "Tom smiles but clenches his fists when he loses the game. How does he feel?",
    "Mia tells her friend the cake is delicious although it is burnt. Why?",
    "A guard sees a stranger at the gate at midnight. What does the guard believe?",
    "Leo promised to call his mother but forgot. What will she think?",
    "Sara gives her umbrella to a stranger in the rain. What does she want?",
)


@dataclass
class Row:
    """One line of the printed table: a figure, its target and the peer's value (a number or a reason)."""

    figure: str
    value: str
    target: str = ""
    peer: str = ""


# ---------------------------------------------------------------------------------------------
# (a) the embedded model through the layer vs direct HTTP
# ---------------------------------------------------------------------------------------------


@dataclass
class Timed:
    """Totals of one path in (a): wall seconds, generated tokens, and CPU of the event-loop thread
    (the client side only: llama.cpp decodes on its own threads)."""

    seconds: float = 0.0
    tokens: int = 0
    client_cpu: float = 0.0
    requests: int = 0

    def add(self, seconds: float, tokens: int, client_cpu: float) -> None:
        self.seconds += seconds
        self.tokens += tokens
        self.client_cpu += client_cpu
        self.requests += 1

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds


async def _timed(work, into: Timed) -> int:
    """Await `work` (a coroutine returning a token count), adding its costs to `into`."""
    started, cpu = time.perf_counter(), time.thread_time()
    tokens = await work
    into.add(time.perf_counter() - started, tokens, time.thread_time() - cpu)
    return tokens


async def _tokens_through_layer(llm, request) -> int:
    from builders.llm import RequestFailed

    before = llm.accounting.totals().output_tokens
    try:
        await llm.chat(request)
    except RequestFailed:
        pass  # truncated at max_tokens: the tokens were generated and counted all the same
    return llm.accounting.totals().output_tokens - before


async def _tokens_over_http(http, body: dict) -> int:
    response = await http.post("/chat/completions", json=body)
    response.raise_for_status()
    return response.json()["usage"]["completion_tokens"]


def _direct_body(llm, request) -> dict:
    """The body the layer's provider sends for `request`, to post without the layer."""
    from builders.llm.structured import llamacpp_schema

    return {"model": llm.spec.model, "messages": request.messages, "max_tokens": request.max_tokens,
            "temperature": request.temperature, "seed": llm._seed_for(request, 0),  # the seed of attempt 0
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "reply", "schema": llamacpp_schema(request.schema)}}}


async def _compare_local(prompts: list[str], rounds: int, max_tokens: int) -> dict:
    import httpx

    from builders.llm import LLM, ChatRequest

    layer, direct = Timed(), Timed()
    pair_costs, mismatched = [], 0
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        # max_invalid_retries=0: a reply truncated at max_tokens then costs one generation on both paths.
        llm = LLM("local:smollm2", cache_dir=MODEL_DIR, cache=_fresh_cache(Path(tmp)), concurrency=1,
                  max_invalid_retries=0)
        async with llm, httpx.AsyncClient(base_url=str(llm.provider._client.base_url), timeout=300) as http:
            for pair, (sample, prompt) in enumerate((s, p) for s in range(rounds) for p in prompts):
                # A new sample each round: a new seed, never a cache hit.
                request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=ANSWER_SCHEMA,
                                      max_tokens=max_tokens, temperature=0.7, sample=sample)
                before = (layer.seconds, direct.seconds)
                # Alternate which path goes first, so drift in machine load hits both alike.
                if pair % 2 == 0:
                    tokens = [await _timed(_tokens_through_layer(llm, request), layer),
                              await _timed(_tokens_over_http(http, _direct_body(llm, request)), direct)]
                else:
                    tokens = [await _timed(_tokens_over_http(http, _direct_body(llm, request)), direct),
                              await _timed(_tokens_through_layer(llm, request), layer)]
                mismatched += tokens[0] != tokens[1]
                pair_costs.append((layer.seconds - before[0]) / (direct.seconds - before[1]) - 1)
    return {"layer": layer, "direct": direct, "cost": 1 - layer.tokens_per_second / direct.tokens_per_second,
            "median_pair_cost": statistics.median(pair_costs), "mismatched": mismatched,
            # The layer's client-side CPU beyond direct HTTP, as a share of a request's wall time:
            # a bound on its cost that the machine's load cannot blur.
            "cpu_cost": (layer.client_cpu - direct.client_cpu) / direct.seconds}


def _fresh_cache(folder: Path):
    from builders.llm import ResponseCache

    return ResponseCache(folder / "responses.sqlite")


def bench_local(args) -> tuple[list[Row], dict]:
    result = asyncio.run(_compare_local(list(LOCAL_PROMPTS), args.local_rounds, args.local_max_tokens))
    layer, direct = result["layer"], result["direct"]
    note = f"{layer.requests} pairs, {layer.tokens} tokens each way"
    if result["mismatched"]:
        note += f", {result['mismatched']} pairs with unequal token counts"
    target = f"< {100 * TARGET_LAYER_COST:.0f}%"
    return [
        Row("(a) embedded model via layer, tokens/s", f"{layer.tokens_per_second:.1f}", "",
            f"direct HTTP: {direct.tokens_per_second:.1f}"),
        Row("(a) layer cost in tokens/s (all pairs)", f"{100 * result['cost']:.1f}%", target, note),
        Row("(a) layer cost, median pair", f"{100 * result['median_pair_cost']:.1f}%", target, ""),
        Row("(a) client CPU per request", f"{1000 * layer.client_cpu / layer.requests:.1f} ms", "",
            f"direct HTTP: {1000 * direct.client_cpu / direct.requests:.1f} ms"),
        Row("(a) layer CPU beyond direct / request time", f"{100 * result['cpu_cost']:.2f}%", target, ""),
    ], result


# ---------------------------------------------------------------------------------------------
# (b) orchestration throughput against a fixed-latency scripted server
# ---------------------------------------------------------------------------------------------


class ScriptedServerProcess:
    """tests/support/scripted_llm.py in a child process, so it does not compete for our GIL."""

    def __init__(self, latency: float):
        self.latency = latency
        self.stats = ""

    def __enter__(self) -> "ScriptedServerProcess":
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.scripted_llm", "--protocol", "openai", "--latency",
             str(self.latency)],  # answers each request with an instance of its schema
            cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline().split()
        if line[:1] != ["PORT"]:
            self._process.kill()
            raise RuntimeError(f"the scripted server did not start (said {line!r})")
        self.base_url = f"http://127.0.0.1:{line[1]}/v1"
        return self

    def __exit__(self, *exc) -> None:
        self._process.stdin.close()  # the server stops when its stdin closes
        self.stats = self._process.stdout.read().strip()
        self._process.wait(timeout=30)


def _requests(n: int):
    from builders.llm import ChatRequest

    return [ChatRequest(messages=[{"role": "user", "content": f"Question {i}: is this item valid?"}],
                        schema=ANSWER_SCHEMA, max_tokens=16, temperature=0.7) for i in range(n)]


async def _through_layer(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    """Wall and CPU seconds of N structured requests through the layer, with a fresh cache."""
    from builders.llm import LLM

    requests = _requests(n)
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        llm = LLM(f"openai-compatible:{base_url}#bench", cache_dir=Path(tmp), concurrency=concurrency)
        async with llm:
            started, cpu = time.perf_counter(), time.process_time()
            replies = await asyncio.gather(*(llm.chat(request) for request in requests))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert all(reply.data == SCRIPTED_ANSWER for reply in replies)
        assert len(llm.cache) == n  # every reply was stored
    return elapsed, cpu


async def _bare_openai(base_url: str, n: int, concurrency: int) -> tuple[float, float]:
    """The same requests with the openai SDK alone: a semaphore, no cache, no validation."""
    import openai

    client = openai.AsyncOpenAI(api_key="unused", base_url=base_url, max_retries=0)
    slots = asyncio.Semaphore(concurrency)
    response_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": ANSWER_SCHEMA}}

    async def one(request):
        async with slots:
            response = await client.chat.completions.create(
                model="bench", messages=request.messages, max_tokens=request.max_tokens,
                temperature=request.temperature, response_format=response_format)
        return json.loads(response.choices[0].message.content)

    requests = _requests(n)
    started, cpu = time.perf_counter(), time.process_time()
    answers = await asyncio.gather(*(one(request) for request in requests))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await client.close()
    assert all(answer == SCRIPTED_ANSWER for answer in answers)
    return elapsed, cpu


def bench_orchestration(args) -> tuple[list[Row], dict]:
    ideal = args.n / (args.concurrency / args.latency)  # no rate limit is set
    rounds = math.ceil(args.n / args.concurrency) * args.latency
    with ScriptedServerProcess(args.latency) as server:
        layer, layer_cpu = asyncio.run(_through_layer(server.base_url, args.n, args.concurrency))
        bare, bare_cpu = asyncio.run(_bare_openai(server.base_url, args.n, args.concurrency))
        curator = run_curator(server.base_url, args) if not args.skip_curator else "skipped (--skip-curator)"
    peer = f"{args.n / curator:.1f} req/s, {ideal / curator:.0%} of ideal" if isinstance(curator, float) else curator
    rows = [
        Row("(b) ideal wall time", f"{ideal:.1f} s", "",
            f"N={args.n}, concurrency={args.concurrency}, latency={args.latency:g} s"),
        Row("(b) layer wall time", f"{layer:.1f} s", "", f"bare AsyncOpenAI: {bare:.1f} s"),
        Row("(b) layer requests/s", f"{args.n / layer:.1f}", "", f"bare AsyncOpenAI: {args.n / bare:.1f}"),
        Row("(b) layer fraction of ideal", f"{ideal / layer:.0%}", f">= {TARGET_OF_IDEAL:.0%}",
            f"bare AsyncOpenAI: {ideal / bare:.0%}"),
        # Each slot serves whole requests one after another: ceil(N / concurrency) of them back to back.
        Row("(b) layer fraction of the whole-rounds minimum", f"{rounds / layer:.0%}", "",
            f"minimum {rounds:.1f} s; bare AsyncOpenAI: {rounds / bare:.0%}"),
        Row("(b) client CPU per request", f"{1000 * layer_cpu / args.n:.2f} ms", "",
            f"bare AsyncOpenAI: {1000 * bare_cpu / args.n:.2f} ms"),
        Row("(c) bespokelabs-curator 0.1.31 wall time",
            f"{curator:.1f} s" if isinstance(curator, float) else "n/a", "", peer),
    ]
    return rows, {"ideal": ideal, "layer": layer, "bare": bare, "curator": curator}


# ---------------------------------------------------------------------------------------------
# (c) bespokelabs-curator in its own venv
# ---------------------------------------------------------------------------------------------


def run_curator(base_url: str, args) -> float | str:
    """Curator's wall time in seconds, or the reason it could not run."""
    python = CURATOR_VENV / "bin" / "python"
    problem = _ensure_curator_venv(python)
    if problem:
        return problem
    probe = subprocess.run([str(python), "-c", "import litellm, os; print(os.path.dirname(litellm.__file__))"],
                           capture_output=True, text=True)
    tokenizers = Path(probe.stdout.strip()) / "litellm_core_utils" / "tokenizers"
    with tempfile.TemporaryDirectory(prefix="bench-curator-") as tmp:
        env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tokenizers), "CURATOR_CACHE_DIR": tmp,
               "OPENAI_API_KEY": "unused", "HF_DATASETS_OFFLINE": "1", "CURATOR_DISABLE_RICH_DISPLAY": "1",
               "TELEMETRY_ENABLED": "False", "CURATOR_DISABLE_CACHE": "1"}
        result = subprocess.run([str(python), str(CURATOR_SCRIPT), "--base-url", base_url, "--n", str(args.n),
                                 "--concurrency", str(args.concurrency)],
                                capture_output=True, text=True, env=env, cwd=tmp, timeout=max(600, 5 * args.n))
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"curator failed (exit {result.returncode}): {tail[:160]}"
    outcome = json.loads(lines[-1])
    if outcome["answered"] != args.n:
        return f"curator answered {outcome['answered']} of {args.n} requests in {outcome['seconds']:.1f} s"
    return float(outcome["seconds"])


def _ensure_curator_venv(python: Path) -> str:
    """Create the venv once; '' when curator imports, else why it cannot run."""
    check = [str(python), "-c", "import bespokelabs.curator"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return ""
    print(f"Creating the curator venv once in {CURATOR_VENV} ...", file=sys.stderr, flush=True)
    steps = [[sys.executable, "-m", "venv", str(CURATOR_VENV)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", CURATOR_REQUIREMENT]]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            return f"could not install {CURATOR_REQUIREMENT}: {result.stderr.strip()[-160:]}"
    result = subprocess.run(check, capture_output=True, text=True)
    return "" if result.returncode == 0 else f"curator does not import: {result.stderr.strip()[-160:]}"


# ---------------------------------------------------------------------------------------------


def format_rows(title: str, rows: list[Row]) -> str:
    table = [("figure", "value", "target", "peer / reference")] + [(r.figure, r.value, r.target, r.peer) for r in rows]
    widths = [max(len(row[column]) for row in table) for column in range(4)]
    lines = [title]
    for index, row in enumerate(table):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_layer", description=__doc__.split("\n\n")[0])
    # Not --n: `python -m bench` passes its flags to every module, and --n means records elsewhere.
    parser.add_argument("--requests", dest="n", type=int, default=2000, help="structured requests in (b) and (c)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the scripted server takes per answer")
    parser.add_argument("--local-rounds", type=int, default=3, help="(a) rounds over the prompts")
    parser.add_argument("--local-max-tokens", type=int, default=96)
    parser.add_argument("--skip-local", action="store_true", help="skip (a), the embedded model")
    parser.add_argument("--skip-curator", action="store_true", help="skip (c), the curator peer")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` passes every module the same flags

    load = os.getloadavg()[0]
    rows = [Row("machine load (1-min average) at start", f"{load:.1f}", "", f"{os.cpu_count()} CPUs")]
    figures = []
    if not args.skip_local:
        local_rows, local = bench_local(args)
        rows += local_rows
        figures += [Figure("embedded model tokens/s via layer", local["layer"].tokens_per_second, "tokens/s"),
                    Figure("embedded model tokens/s direct HTTP", local["direct"].tokens_per_second, "tokens/s"),
                    Figure("layer cost vs direct HTTP", local["cost"], "fraction", f"< {TARGET_LAYER_COST}"),
                    Figure("layer client CPU beyond direct HTTP", local["cpu_cost"], "fraction",
                           f"< {TARGET_LAYER_COST}")]
    orchestration_rows, timing = bench_orchestration(args)
    rows += orchestration_rows
    figures += [Figure("orchestration wall time via layer", timing["layer"], "s"),
                Figure("orchestration requests/s via layer", args.n / timing["layer"], "req/s"),
                Figure("orchestration fraction of ideal", timing["ideal"] / timing["layer"], "fraction",
                       f">= {TARGET_OF_IDEAL}"),
                Figure("orchestration requests/s bare AsyncOpenAI", args.n / timing["bare"], "req/s")]
    if isinstance(timing["curator"], float):
        figures.append(Figure("orchestration requests/s curator 0.1.31", args.n / timing["curator"], "req/s"))
    print(format_rows("bench.llm_layer", rows), flush=True)
    return figures


if __name__ == "__main__":
    main()
    sys.exit(0)
