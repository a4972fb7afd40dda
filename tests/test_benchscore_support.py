"""Shared helpers for the tests/test_benchscore_*.py files (no tests here).

Small releases of the four benchmarks are built once per test session, in-process, with the
builders' own test doubles (tests/test_tomato_build.py, test_personaeval_build.py,
test_litchartom_build.py, test_moral_roleplay_llm_steps.py), and written with the real
`write_release`. A test that writes results scores a copy (`copy_release`).

Scored models are ScriptedOpenAIServers on 127.0.0.1: an *oracle* answers every item right (it
looks the rendered prompt up in a table of golds built from the release), *always_first* always
picks the first option. Each model gets its own model name, since the response cache keys on the
model name and not on the server's URL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchscore import litchartom, personaeval, tomato
from benchscore.cli import main
from benchscore.protocol import Options
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_text

TOMATO_N = 20


# -- releases --------------------------------------------------------------------------------------


def _once(tmp_path_factory, name: str, build) -> Path:
    """The release `build(root)` writes under one folder per session (built on first use)."""
    root = tmp_path_factory.getbasetemp() / "benchscore-releases" / name
    if not root.exists():
        build(root)
    (release,) = sorted(p for p in (root / name).iterdir() if p.name.startswith("v"))
    return release


TEST_SALT = bytes.fromhex("5a" * 32)


def dealt(benchmark, records: list[dict]) -> list[dict]:
    """The records with their gold positions dealt, as the builder CLI deals them before a release."""
    from builders.answer_key import deal

    if benchmark.answer_key is None:
        return records
    return deal(benchmark.name, benchmark.answer_key, records, benchmark.id_field, TEST_SALT)


def write_tomato_release(root: Path, n: int = TOMATO_N, **release_options):
    from builders.pipeline import split_by_config
    from builders.tomato.build import BENCHMARK
    from release import write_release
    from tests.test_tomato_build import FakeLLM, build

    collected, report = build(["--n", str(n)], FakeLLM())
    splits = split_by_config(BENCHMARK, dealt(BENCHMARK, collected.kept), {"test": 1.0}, 0)
    return write_release(BENCHMARK, splits, {"funnel": report.funnel}, root, **release_options)


def _write_personaeval(root: Path) -> None:
    from builders.personaeval import build
    from builders.pipeline import split_by_config
    from release import write_release
    from tests.test_personaeval_build import FakeLLM, args_for, run

    rows, report = run(FakeLLM(), args_for(n=16))
    write_release(build.BENCHMARK, split_by_config(build.BENCHMARK, dealt(build.BENCHMARK, rows), {"test": 1.0}, 0),
                  {"funnel": report.funnel}, root)


def _write_litchartom(root: Path) -> None:
    from builders.litchartom import build
    from builders.pipeline import split_by_config
    from builders.resources import load_schema
    from builders.validate import validate_records
    from release import write_release
    from tests.test_litchartom_build import _args, _plot_items, _run
    from tests.test_litchartom_fakes import ScriptedLLM, litchartom_responder

    with pytest.MonkeyPatch.context() as monkeypatch:
        records, report = _run(monkeypatch, ScriptedLLM(litchartom_responder(plot_items=_plot_items)),
                               ScriptedLLM(litchartom_responder(checker_right=lambda r: True)), _args())
    valid, _ = validate_records(records, load_schema("litchartom"), checks=build.BENCHMARK.checks)
    write_release(build.BENCHMARK, split_by_config(build.BENCHMARK, dealt(build.BENCHMARK, valid), {"test": 1.0}, 0),
                  {"funnel": report.funnel}, root)


def _write_moral_roleplay(root: Path) -> None:
    from builders.moral_roleplay import build
    from builders.pipeline import split_by_config
    from release import write_release
    from tests.test_moral_roleplay_llm_steps import (
        FakeLLM,
        _args,
        _generate,
        _levels_by_name,
    )

    collected, report = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True, max_per_character=1))
    write_release(build.BENCHMARK, split_by_config(build.BENCHMARK, collected.kept, {"test": 1.0}, 0),
                  {"funnel": report.funnel, "notes": report.notes}, root)


@pytest.fixture
def tomato_release(tmp_path_factory) -> Path:
    return _once(tmp_path_factory, "tomato", write_tomato_release)


@pytest.fixture
def personaeval_release(tmp_path_factory) -> Path:
    return _once(tmp_path_factory, "personaeval", _write_personaeval)


@pytest.fixture
def litchartom_release(tmp_path_factory) -> Path:
    return _once(tmp_path_factory, "litchartom", _write_litchartom)


@pytest.fixture
def moral_roleplay_release(tmp_path_factory) -> Path:
    return _once(tmp_path_factory, "moral_roleplay", _write_moral_roleplay)


def copy_release(release: Path, tmp_path: Path) -> Path:
    target = tmp_path / "release" / release.name
    shutil.copytree(release, target)
    return target


def rows_of(release: Path, config: str, split: str = "test") -> list[dict]:
    return [row for shard in sorted((release / "data" / config).glob(f"{split}-*.parquet"))
            for row in pq.read_table(shard).to_pylist()]


def release_files(release: Path) -> dict[str, bytes]:
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in sorted(release.rglob("*")) if p.is_file()}


# -- scripted models -------------------------------------------------------------------------------


def last_user(request) -> str:
    return [m["content"] for m in request.json["messages"] if m["role"] == "user"][-1]


def tomato_golds(release: Path) -> dict[str, str]:
    """Rendered user message -> gold letter, for every ToMATO item of the release."""
    return {tomato.question_for(row).messages[-1]["content"]: "ABCD"[row["a_idx"]] for row in rows_of(release, "all")}


def litchartom_golds(release: Path, triples: bool = False) -> dict[str, str]:
    rows = {config: rows_of(release, config) for config in ("current", "ood")}
    units = litchartom.units(rows, Options(configs=("current", "ood"), triples=triples))
    return {unit.data.messages[-1]["content"]: unit.data.gold for unit in units}


def letter_server(golds: dict[str, str], template: str, *, always: str | None = None) -> ScriptedOpenAIServer:
    """Answers each prompt with `template` filled with its gold letter (or always with `always`)."""
    def respond(request):
        return reply_text(template.format(always or golds[last_user(request)]))

    return ScriptedOpenAIServer(responder=respond)


def personaeval_server(release: Path, *, always_first: bool = False, tie: bool = False) -> ScriptedOpenAIServer:
    """Probabilities over the options: all on the gold (oracle), all on option1, or a tie between
    the gold and another option."""
    rows = {row["prompt"]: row for row in rows_of(release, "Drama")}

    def respond(request):
        row = rows[last_user(request)]
        names = personaeval.option_names(row)
        pick = names[0] if always_first else row["gt"]
        probabilities = {name: float(name == pick) for name in names}
        if tie:
            other = next(name for name in names if name != row["gt"])
            probabilities = {name: 0.5 if name in (row["gt"], other) else 0.0 for name in names}
        return reply_text("Here is my estimate:\n```json\n" + json.dumps(probabilities) + "\n```")

    return ScriptedOpenAIServer(responder=respond)


def model(server: ScriptedOpenAIServer, name: str) -> str:
    return f"openai-compatible:{server.base_url}#{name}"


def score(release, model_string: str, cache_dir: Path, *extra: str) -> int:
    return main([str(release), "--model", model_string, "--cache-dir", str(cache_dir), "--quiet", *extra])


def scores_of(release: Path, run: str) -> dict:
    return json.loads((release / "results" / run / "scores.json").read_text())


def predictions_of(release: Path, run: str) -> list[dict]:
    return pq.read_table(release / "results" / run / "predictions.parquet").to_pylist()


def share_of(values: list, wanted) -> float:
    return sum(value == wanted for value in values) / len(values)

