"""The cards' lm-evaluation-harness tasks through the real lm_eval command line, end to end.

lm_eval's `local-chat-completions` backend talks to an OpenAI-compatible server on 127.0.0.1, so
lm_eval itself loads no model weights: a scripted server that answers every question with its gold
letter (in a different chat-reply format each time) must score exactly 1.0, and the embedded
SmolLM2 behind llama.cpp (slow) any score. The log-likelihood variants run on lm_eval's `dummy`
backend (random log-probs), which proves lm_eval builds their requests and scores the right gold.

Needs the optional extra: `pip install -e ".[lm-eval]"`; without it every test here is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from release.__main__ import main as release_main
from release.hub import push_release
from release.lm_eval_task import card_task_blocks
from tests.support.fake_releases import fake_records, write_fake_release
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_text
from tests.support.schema_faker import fake_model
from tests.test_reliability_support import PROVIDER_VARIABLES, build, fake_server  # noqa: F401 (fixture)

pytest.importorskip("lm_eval")

N = 20  # ToMATO questions in the CLI-built release
REPLY_FORMATS = ("[{}]", "({})", "{}", "Answer: {}", "**{}**", "{}. That fits best.")  # as chat models answer
LM_EVAL_TIMEOUT = 600


# -- helpers ----------------------------------------------------------------------------------------


def rows_of(release: Path, task: dict, cache: Path) -> datasets.Dataset:
    return datasets.load_dataset(str(release), task["dataset_name"], split=task["test_split"], cache_dir=str(cache))


def gold_items(name: str, rows) -> list[tuple[tuple[str, ...], str]]:
    """(texts a question's prompt holds, its gold letter) per released row of the task's config."""
    if name == "tomato":
        return [((row["conversation"], row["q"], row["a0"], row["a1"]), "ABCD"[row["a_idx"]]) for row in rows]
    if name == "personaeval":
        return [((row["prompt"].split("\n## Answer format")[0],), "ABCDE"[row["gold_index"]]) for row in rows]
    return [((row["messages"][0]["content"],), row["correct_answer"]) for row in rows]


def gold_responder(items: list[tuple[tuple[str, ...], str]]):
    """Answers a chat request with the gold letter of the question its prompt holds, each time in the
    next reply format; a prompt holding no question gets "no idea", which scores 0."""
    asked = []

    def respond(request):
        prompt = "\n".join(message["content"] for message in request.json["messages"])
        for texts, letter in items:
            if all(text in prompt for text in texts):
                asked.append(letter)
                return reply_text(REPLY_FORMATS[len(asked) % len(REPLY_FORMATS)].format(letter))
        return reply_text("no idea")

    return respond


def lm_eval_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an lm_eval run: no provider keys, its own HF cache, offline unless told."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES}
    defaults = {"HF_HOME": str(home / "hf"), "HF_DATASETS_CACHE": str(home / "hf" / "datasets"),
                "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    return {**env, **defaults, **extra}


def run_lm_eval(tasks_dir: Path, tasks: str, out: Path, env: dict[str, str], *, base_url: str | None = None) -> dict:
    """`python -m lm_eval run` on the task files of `tasks_dir`; its results JSON. With `base_url` the
    model is `local-chat-completions` against that server, otherwise lm_eval's `dummy`."""
    command = [sys.executable, "-m", "lm_eval", "run", "--tasks", tasks, "--include_path", str(tasks_dir),
               "--output_path", str(out), "--log_samples"]
    if base_url:
        command += ["--model", "local-chat-completions", "--apply_chat_template",
                    "--model_args", f"base_url={base_url}/chat/completions,model=under-test"]
    else:
        command += ["--model", "dummy"]
    out.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=LM_EVAL_TIMEOUT)
    assert completed.returncode == 0, completed.stderr[-4000:]
    [results] = out.glob("**/results_*.json")
    return json.loads(results.read_text())


def samples(out: Path, task: str) -> list[dict]:
    [path] = out.glob(f"**/samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- releases ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tomato_release(tmp_path_factory) -> Path:
    """ToMATO --n 20 built by the real CLI against the scripted fake model, no Hub repo named."""
    tmp = tmp_path_factory.mktemp("tomato")
    with ScriptedOpenAIServer(responder=fake_model) as server:
        completed = build(server, tmp, n=N)
    assert completed.returncode == 0, completed.stderr
    return tmp / "out" / "tomato" / "v1.0.0"


@pytest.fixture(scope="module")
def fake_release(tmp_path_factory):
    made = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = write_fake_release(name, fake_records(name), tmp_path_factory.mktemp(name))
        return made[name]

    return get


# -- generative tasks: a gold-answering server scores 1.0 --------------------------------------------


def test_local_release_generative_task_runs_through_lm_eval_and_scores_1(tomato_release, tmp_path):
    tasks = tmp_path / "tasks"
    assert release_main(["lm-eval-task", str(tomato_release), "--out", str(tasks)]) == 0
    task = yaml.safe_load((tasks / "tomato_gen.yaml").read_text())
    rows = rows_of(tomato_release, task, tmp_path / "cache")
    assert rows.num_rows == N
    with ScriptedOpenAIServer(responder=gold_responder(gold_items("tomato", rows))) as server:
        results = run_lm_eval(tasks, "tomato_gen", tmp_path / "run", lm_eval_env(tmp_path), base_url=server.base_url)
        bodies = server.bodies("/chat/completions")
    assert results["results"]["tomato_gen"]["exact_match,letter"] == 1.0
    assert results["n-samples"]["tomato_gen"]["effective"] == N and len(bodies) == N
    system, user = bodies[0]["messages"]  # the spec's prompt: instructions as the system message
    assert system["role"] == "system" and "one bracketed letter" in system["content"]
    assert user["content"].startswith("# Transcript\n") and "\n[D] " in user["content"]
    assert bodies[0]["max_tokens"] == task["generation_kwargs"]["max_gen_toks"]
    replies = {sample["resps"][0][0] for sample in samples(tmp_path / "run", "tomato_gen")}
    assert {"[", "(", "Answer:", "**"} <= {c for reply in replies for c in ("[", "(", "Answer:", "**") if c in reply}


def test_the_cards_task_runs_verbatim_from_the_hub_at_the_release_tag(local_hub, fake_server, tmp_path):  # noqa: F811
    repo = "toolkit-tests/tomato-lm-eval"
    completed = build(fake_server, tmp_path, "--repo-id", repo, n=N)
    assert completed.returncode == 0, completed.stderr
    release = tmp_path / "out" / "tomato" / "v1.0.0"
    assert push_release(release, repo, report=lambda *args: None).verified
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    block = card_task_blocks(release)[0]  # the generative task, exactly as the card publishes it
    (tasks / "tomato_gen.yaml").write_text(block)
    task = yaml.safe_load(block)
    assert task["dataset_path"] == repo and task["dataset_kwargs"] == {"revision": "v1.0.0"}
    rows = rows_of(release, task, tmp_path / "cache")
    # online, against the local Hub: HF_ENDPOINT comes from the fixture's environment
    env = lm_eval_env(tmp_path, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_TOKEN=local_hub.token)
    with ScriptedOpenAIServer(responder=gold_responder(gold_items("tomato", rows))) as server:
        results = run_lm_eval(tasks, "tomato_gen", tmp_path / "run", env, base_url=server.base_url)
    assert results["results"]["tomato_gen"]["exact_match,letter"] == 1.0
    assert results["n-samples"]["tomato_gen"]["effective"] == N
    assert results["configs"]["tomato_gen"]["dataset_path"] == repo


@pytest.mark.parametrize("name", ["personaeval", "litchartom"])
def test_other_benchmarks_generative_tasks_run_through_lm_eval_and_score_1(name, fake_release, tmp_path):
    release = fake_release(name)
    tasks = tmp_path / "tasks"
    assert release_main(["lm-eval-task", str(release), "--out", str(tasks)]) == 0
    task = yaml.safe_load((tasks / f"{name}_gen.yaml").read_text())
    rows = rows_of(release, task, tmp_path / "cache")
    with ScriptedOpenAIServer(responder=gold_responder(gold_items(name, rows))) as server:
        results = run_lm_eval(tasks, f"{name}_gen", tmp_path / "run", lm_eval_env(tmp_path), base_url=server.base_url)
    assert results["results"][f"{name}_gen"]["exact_match,letter"] == 1.0
    assert results["n-samples"][f"{name}_gen"]["effective"] == rows.num_rows > 0


# -- log-likelihood variants: lm_eval builds their requests and scores the right gold ------------------


def test_log_likelihood_variants_run_through_lm_eval_with_the_gold_among_the_choices(tomato_release, fake_release,
                                                                                      tmp_path):
    releases = {"tomato": tomato_release, "personaeval": fake_release("personaeval"),
                "litchartom": fake_release("litchartom")}
    tasks = tmp_path / "tasks"
    for release in releases.values():
        assert release_main(["lm-eval-task", str(release), "--out", str(tasks)]) == 0
    names = ",".join(f"{name}_mc" for name in releases)
    results = run_lm_eval(tasks, names, tmp_path / "run", lm_eval_env(tmp_path))
    for name, release in releases.items():
        task = yaml.safe_load((tasks / f"{name}_mc.yaml").read_text())
        rows = rows_of(release, task, tmp_path / "cache")
        assert 0.0 <= results["results"][f"{name}_mc"]["acc,none"] <= 1.0
        logged = samples(tmp_path / "run", f"{name}_mc")
        assert len(logged) == rows.num_rows
        for sample in logged:  # one (context, " " + choice) request per option; the target picks the gold
            row = rows[sample["doc_id"]]
            choices = [arguments["arg_1"].strip() for arguments in sample["arguments"].values()]
            target = sample["target"]
            picked = choices[int(target)] if str(target).isdigit() else target
            gold = row[{"tomato": "a_str", "personaeval": "gt", "litchartom": "correct_answer"}[name]]
            assert picked == gold and len(choices) == 4


# -- the embedded model ------------------------------------------------------------------------------


@pytest.fixture
def embedded_model_server(smollm2_model_dir):
    """SmolLM2-135M behind llama.cpp's OpenAI-compatible server on 127.0.0.1 (what `local:smollm2` runs)."""
    import xllamacpp

    from builders.llm.providers.local_model import CONTEXT_PER_SLOT, locate_gguf

    params = xllamacpp.CommonParams()
    params.model.path = str(locate_gguf(smollm2_model_dir, download=False))
    params.n_parallel = 1
    params.n_ctx = CONTEXT_PER_SLOT
    # half the cores, as the toolkit runs it: llama.cpp's threads wait for each other at every token,
    # so on a shared 2-core machine 2 threads decode several times slower than 1
    threads = max(1, (os.cpu_count() or 2) // 2)
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # a free port chosen by the OS
    params.verbosity = -1
    server = xllamacpp.Server(params)
    yield server.listening_address.rstrip("/") + "/v1"
    del server  # the last reference: stops llama.cpp's threads


@pytest.mark.slow
@pytest.mark.model
def test_generative_task_runs_through_lm_eval_on_the_embedded_model(tomato_release, embedded_model_server, tmp_path):
    tasks = tmp_path / "tasks"
    assert release_main(["lm-eval-task", str(tomato_release), "--out", str(tasks)]) == 0
    results = run_lm_eval(tasks, "tomato_gen", tmp_path / "run", lm_eval_env(tmp_path), base_url=embedded_model_server)
    assert 0.0 <= results["results"]["tomato_gen"]["exact_match,letter"] <= 1.0
    logged = samples(tmp_path / "run", "tomato_gen")
    assert len(logged) == N and any(sample["resps"][0][0].strip() for sample in logged)  # the model did answer
