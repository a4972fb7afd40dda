"""A newcomer's first hour, as the README lists it (section "A newcomer's walkthrough").

1. the quick start: `python -m builders.tomato --n 20` on the embedded model, in a project folder;
2. load the release from that folder with the snippet its card shows;
3. push it to a Hub (here the local test Hub) with `python -m release push … --repo org/name`;
4. load it back from the Hub with the snippet of the card the Hub now holds;
5. run the card's lm-eval task (from the pushed card, verbatim) against a model that answers gold.

The README's install steps are not repeated (this test runs inside an installed checkout); every
command is run as a user types it, in a subprocess, from the folder the README says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi

from release.lm_eval_task import USAGE_BEGIN, USAGE_END
from tests.test_lm_eval_harness import gold_items, gold_responder, lm_eval_env, rows_of, run_lm_eval
from tests.support.scripted_llm import ScriptedOpenAIServer

REPO_ROOT = Path(__file__).resolve().parents[1]
REPO = "newcomer/tomato-fresh"
N = 20


def _python(args: list[str], cwd: Path, env: dict, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _snippet(card: str) -> str:
    """The first `ds = load_dataset(...)` statement of the card's usage section."""
    usage = card[card.index(USAGE_BEGIN) : card.index(USAGE_END)]
    return next(line for line in usage.splitlines() if line.startswith("ds = load_dataset("))


def _load(statement: str, cwd: Path, env: dict) -> int:
    code = f"import os\nfrom datasets import load_dataset\n{statement}\nprint(sum(s.num_rows for s in ds.values()))"
    done = _python(["-c", code], cwd, env, timeout=300)
    assert done.returncode == 0, (statement, done.stderr[-2000:])
    return int(done.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.model
def test_a_newcomer_builds_loads_pushes_reloads_and_scores_a_release(local_hub, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    # 1. the quick start (the embedded model; its model files and replies come from the user's cache)
    built = _python(["-m", "builders.tomato", "--n", str(N), "--quiet"], project, env)
    assert built.returncode == 0, built.stderr[-3000:]
    release = project / "releases" / "tomato" / "v1.0.0"
    assert "Traceback" not in built.stderr

    # 2. the local card's snippet, from the project folder (offline: a Hub-like id would fail)
    offline = {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "offline")}
    local_snippet = _snippet((release / "README.md").read_text(encoding="utf-8"))
    assert _load(local_snippet, project, offline) == N

    # 3. push, as the README says, to the Hub HF_ENDPOINT names (the local test Hub)
    pushed = _python(["-m", "release", "push", "releases/tomato/v1.0.0", "--repo", REPO], project, env, timeout=600)
    assert pushed.returncode == 0, pushed.stderr[-3000:]

    # 4. the card on the Hub names the repo and the tag; its snippet loads the release from the Hub
    api = HfApi(endpoint=local_hub.endpoint, token=local_hub.token)
    card = Path(api.hf_hub_download(REPO, "README.md", repo_type="dataset", revision="v1.0.0",
                                    cache_dir=str(tmp_path / "download"))).read_text(encoding="utf-8")
    hub_snippet = _snippet(card)
    assert f'"{REPO}"' in hub_snippet and 'revision="v1.0.0"' in hub_snippet
    assert "No Hub repository" not in card
    assert _load(hub_snippet, tmp_path, env) == N

    # 5. the pushed card's lm-eval task, verbatim, scored against a model that answers gold
    block = re.search(r"```yaml\n(.*?)```", card[card.index(USAGE_BEGIN):], re.S).group(1)
    task = yaml.safe_load(block)
    assert task["dataset_path"] == REPO and task["dataset_kwargs"] == {"revision": "v1.0.0"}
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / f"{task['task']}.yaml").write_text(block)
    rows = rows_of(release, task, tmp_path / "rows")
    hub_env = lm_eval_env(tmp_path, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_TOKEN=local_hub.token)
    with ScriptedOpenAIServer(responder=gold_responder(gold_items("tomato", rows))) as server:
        results = run_lm_eval(tasks, task["task"], tmp_path / "run", hub_env, base_url=server.base_url)
    scores = results["results"][task["task"]]
    assert scores["exact_match,letter"] == 1.0
    assert json.loads((release / "manifest.json").read_text())["counts"]["all"]["test"] == N
