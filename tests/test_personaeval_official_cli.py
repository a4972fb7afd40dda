"""The original PersonaEval harness (`personaeval run`, `personaeval metrics`) on an export of a build, offline.

The harness (github.com/maple-zhou/PersonaEval, tested at commit 19f7568, MIT) is on no package
index and its code is not ours to ship, so the harness tests take its source from PERSONAEVAL_SRC: a
checkout, or a git directory (its HEAD is extracted). Without the variable they skip:

    git clone https://github.com/maple-zhou/PersonaEval /tmp/PersonaEval
    PERSONAEVAL_SRC=/tmp/PersonaEval python -m pytest tests/test_personaeval_official_cli.py

The harness's imports this environment lacks (json-repair and seaborn; the toolkit needs neither)
are installed from the package index, without dependencies, into pytest's cache folder, and the
harness runs with PYTHONPATH pointing at its source: its console script `personaeval` is
`personaeval.cli:main`, run here as `python -m personaeval.cli`. The judge is a scripted
OpenAI-compatible server; HF_HUB_OFFLINE=1, an empty HF_HOME and an HF_ENDPOINT that records every
request make sure nothing comes from the Hub.

The build has two tracks in one release: Drama (Macbeth) and Script (a `NAME: line` file written
here from Othello's first scenes), so `personaeval run` walks the config's tracks and leaves the
header-only Literary.csv and Expertise.csv alone.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from builders.personaeval.export import CONFIG_FILE, HARNESS_TRACKS, PUBLISHED_COLUMNS
from builders.personaeval.export import main as export_main
from release.__main__ import main as release_main
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_text
from tests.support.standin_builds import PROVIDER_VARIABLES, run_standin_build, standin_server

pytest.importorskip("builders.sources.plays")

# The harness's imports, by the distribution that provides each.
HARNESS_IMPORTS = {"json_repair": "json-repair", "seaborn": "seaborn", "click": "click", "pandas": "pandas",
                   "pydantic": "pydantic", "yaml": "pyyaml", "rich": "rich", "requests": "requests",
                   "sklearn": "scikit-learn", "matplotlib": "matplotlib", "huggingface_hub": "huggingface-hub",
                   "openai": "openai"}
JUDGE = "scripted-judge"
BUILT_TRACKS = ("Drama", "Script")
WRONG_EVERY = 2  # the scripted judge backs a distractor on every second row of a track


@pytest.fixture(scope="module")
def harness(request, tmp_path_factory) -> str:
    """PYTHONPATH for running the original harness: its source, then its missing dependencies."""
    source = harness_source(tmp_path_factory.mktemp("harness"))
    missing = sorted({dist for module, dist in HARNESS_IMPORTS.items() if importlib.util.find_spec(module) is None})
    deps = request.config.cache.mkdir("personaeval-harness-deps")
    marker = deps / ".installed"  # what the folder holds: installed once, reused by later runs
    if missing and (not marker.is_file() or marker.read_text() != " ".join(missing)):
        installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                                    "--target", str(deps), *missing], capture_output=True, text=True, timeout=300)
        if installed.returncode != 0:
            pytest.skip(f"could not install the harness's dependencies {missing} from the package index: "
                        f"{installed.stderr.strip()[-500:]}")
        marker.write_text(" ".join(missing))
    return os.pathsep.join([str(source), str(deps)])


def harness_source(tmp: Path) -> Path:
    given = os.environ.get("PERSONAEVAL_SRC")
    if not given:
        pytest.skip("set PERSONAEVAL_SRC to a checkout of github.com/maple-zhou/PersonaEval "
                    "(it is on no package index)")
    path = Path(given)
    if (path / "personaeval" / "cli.py").is_file():
        return path
    git_dir = path / ".git" if (path / ".git").exists() else path
    if not (git_dir / "HEAD").is_file():
        pytest.fail(f"PERSONAEVAL_SRC={given} holds neither personaeval/cli.py nor a git repository")
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "--format=tar", "HEAD"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return tmp


def write_script(path: Path, scenes: int = 6) -> Path:
    """Othello's first scenes as a `NAME: line` script (the Script track's input format)."""
    from builders.personaeval import tracks

    (work,) = tracks.load_plays(["othello"])
    lines = []
    for section in work.sections[:scenes]:
        lines.append(f"## {section.title}")
        lines += [f"{turn.label}: {' '.join(turn.text.split())}" for turn in work.turns if turn.section == section.id]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("personaeval-build")
    script = write_script(tmp / "othello.txt")
    with standin_server("openai") as server:
        build = run_standin_build("builders.personaeval", server, tmp, "--track", "drama,script", "--plays", "macbeth",
                                  "--script", str(script), n=12)
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    assert set(build.manifest["counts"]) == set(BUILT_TRACKS)
    return build.release


def export(release: Path, out: Path, judge_url: str) -> None:
    """`python -m builders.personaeval.export`, naming the scripted judge as the harness model."""
    assert export_main([str(release), "--out", str(out), "--harness-model", JUDGE, "--harness-url", judge_url]) == 0


def rows_of(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def picks(folder: Path) -> dict[str, tuple[str, str]]:
    """prompt -> (the gold, the option the scripted judge backs), for every exported row."""
    chosen = {}
    for track in BUILT_TRACKS:
        for index, row in enumerate(rows_of(folder / "data" / f"{track}.csv")):
            options = [row[f"option{slot}"] for slot in range(1, 5)]
            wrong = index % WRONG_EVERY == WRONG_EVERY - 1
            chosen[row["prompt"]] = (row["gt"], next(o for o in options if o != row["gt"]) if wrong else row["gt"])
    return chosen


def judge_for(folder: Path):
    """A responder answering as the harness asks: a JSON object of probabilities, in a fenced block."""
    chosen = picks(folder)
    rows = {row["prompt"]: row for track in BUILT_TRACKS for row in rows_of(folder / "data" / f"{track}.csv")}

    def respond(request):
        prompt = request.json["messages"][0]["content"]
        pick = chosen[prompt][1]
        options = [rows[prompt][f"option{slot}"] for slot in range(1, 5)]
        probabilities = {option: 0.7 if option == pick else 0.1 for option in options}
        return reply_text("```json\n" + json.dumps(probabilities) + "\n```", usage=(100, 20))

    return respond


def unanswered(folder: Path) -> int:
    """Rows of the built tracks' results files without an answer (or with no results file yet)."""
    missing = 0
    for track in BUILT_TRACKS:
        path = folder / "results" / track / f"{track}_{JUDGE}.csv"
        missing += sum(not row["res"] for row in rows_of(path)) if path.is_file() else 1
    return missing


def run_harness(folder: Path, pythonpath: str, hub: ScriptedOpenAIServer, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_VARIABLES and not k.startswith("HF_")}
    env.update(PYTHONPATH=pythonpath, HF_HUB_OFFLINE="1", HF_HOME=str(folder.parent / "hf-home"),
               HF_ENDPOINT=hub.root_url, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "personaeval.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.ci
def test_personaeval_run_reads_the_export_offline_and_metrics_scores_it(harness, release, tmp_path):
    folder = tmp_path / "run"
    with ScriptedOpenAIServer() as hub, ScriptedOpenAIServer() as judge:
        export(release, folder, f"{judge.base_url}/chat/completions")
        judge.responder = judge_for(folder)
        ran = run_harness(folder, harness, hub, "run", "--model", JUDGE)
        # The harness saves from a thread it gives 0.5 s to finish before it exits: on a loaded machine the
        # last answers can miss the file. Its documented remedy is to run it again (it resumes, asking
        # only the rows without an answer); asked at most twice more.
        for _ in range(2):
            if not unanswered(folder):
                break
            ran = run_harness(folder, harness, hub, "run", "--model", JUDGE)
        scored = run_harness(folder, harness, hub, "metrics", "--models", JUDGE, "--tracks", ",".join(BUILT_TRACKS))
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "All required dataset files are present locally" in ran.stdout and "Download" not in ran.stdout
    assert hub.requests == []  # nothing asked of the Hub
    chosen = picks(folder)
    sent = [request.json["messages"] for request in judge.requests]
    assert all(len(messages) == 1 and messages[0]["role"] == "user" for messages in sent)
    assert sorted(set(messages[0]["content"] for messages in sent)) == sorted(chosen)  # every prompt, verbatim

    expected = {}
    for track in BUILT_TRACKS:
        results = rows_of(folder / "results" / track / f"{track}_{JUDGE}.csv")
        exported = rows_of(folder / "data" / f"{track}.csv")
        assert [row["prompt"] for row in results] == [row["prompt"] for row in exported]
        assert [row["res"] for row in results] == [chosen[row["prompt"]][1] for row in results]
        assert [float(row["success"]) for row in results] == [float(row["res"] == row["gt"]) for row in results]
        expected[track] = (len(results), sum(row["res"] == row["gt"] for row in results))
    assert all(0 < right < rows for rows, right in expected.values())  # the judge is right and wrong in each

    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    metrics = {row["track"]: row for row in rows_of(folder / "metrics.csv")}
    expected["Combined"] = tuple(map(sum, zip(*expected.values())))
    for track, (rows, right) in expected.items():
        assert int(metrics[track]["num_samples"]) == rows
        assert float(metrics[track]["top1_accuracy"]) == round(100 * right / rows, 1)


@pytest.mark.slow
def test_without_the_header_only_files_or_with_the_original_save_interval_the_harness_fails(harness, release,
                                                                                           tmp_path):
    """The two things the export does for the harness, undone one at a time."""
    folder = tmp_path / "run"
    with ScriptedOpenAIServer() as hub, ScriptedOpenAIServer() as judge:
        export(release, folder, f"{judge.base_url}/chat/completions")
        judge.responder = judge_for(folder)
        placeholder = folder / "data" / "Expertise.csv"
        header = placeholder.read_text(encoding="utf-8")
        placeholder.unlink()
        no_file = run_harness(folder, harness, hub, "run", "--model", JUDGE)
        asked_before = len(judge.requests)
        placeholder.write_text(header, encoding="utf-8")
        config = yaml.safe_load((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        config["experiment"]["save_interval"] = 60  # the original's default
        (folder / CONFIG_FILE).write_text(yaml.safe_dump(config), encoding="utf-8")
        unsaved = run_harness(folder, harness, hub, "run", "--model", JUDGE, "--track", "Drama")
    assert no_file.returncode == 1 and "Download failed: Expertise.csv" in no_file.stdout and asked_before == 0
    assert len(judge.requests) > 0 and unsaved.returncode == 0 and "Loaded" in unsaved.stdout  # it asked the judge...
    assert not (folder / "results" / "Drama" / f"Drama_{JUDGE}.csv").exists()  # ...and saved nothing


def test_the_export_is_a_run_folder_whichever_command_writes_it(release, tmp_path, capsys):
    """`python -m release export` and the builder's own export write the same run folder; only the
    config's model entry differs (the builder's command names the harness model)."""
    by_release, by_builder = tmp_path / "release-export", tmp_path / "builder-export"
    assert release_main(["export", str(release), "--out", str(by_release)]) == 0
    export(release, by_builder, "http://127.0.0.1:9/v1/chat/completions")
    printed = capsys.readouterr().out
    assert f"{by_release / 'data' / 'Expertise.csv'}: 0" in printed  # what each command wrote, rows per file
    assert f"{by_builder / 'data' / 'Expertise.csv'}: 0 rows (header only: not built)" in printed
    assert f"cd {by_builder} && personaeval run --model {JUDGE}" in printed
    files = sorted(str(p.relative_to(by_release)) for p in by_release.rglob("*") if p.is_file())
    assert files == sorted([CONFIG_FILE, *(f"data/{track}.csv" for track in {*HARNESS_TRACKS, *BUILT_TRACKS})])
    for name in files:
        if name != CONFIG_FILE:
            assert (by_release / name).read_bytes() == (by_builder / name).read_bytes(), name
    for track in HARNESS_TRACKS:
        if track not in BUILT_TRACKS:  # the header and nothing else
            assert (by_release / "data" / f"{track}.csv").read_text() == ",".join(PUBLISHED_COLUMNS) + "\n"
    for folder, model in ((by_release, "gpt-4.1"), (by_builder, JUDGE)):
        config = yaml.safe_load((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        assert [t["name"] for t in config["tracks"]] == ["Drama", "Script"]  # the harness's order, then ours
        assert all(t["data_file"] == f"data/{t['name']}.csv" for t in config["tracks"])
        assert list(config["models"]) == [model] and config["experiment"]["save_interval"] == 0
        assert f"personaeval metrics --models {model} --tracks Drama,Script" in (folder / CONFIG_FILE).read_text()
    for track in BUILT_TRACKS:
        rows = rows_of(by_release / "data" / f"{track}.csv")
        assert rows and tuple(rows[0]) == PUBLISHED_COLUMNS and all(row["gt"] in row.values() for row in rows)
