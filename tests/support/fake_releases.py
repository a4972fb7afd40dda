"""Small releases of the four benchmarks, built in-process with each builder's own test fake.

`fake_records(name)` runs the builder's generator against the fake LLM its tests use (no model, no
network, under a second each) and returns the records the pipeline would release: schema- and
invariant-valid, deduplicated. `write_fake_release(name, records, root)` releases them with the
real writer (`release.write_release`), so card, parquet and manifest are the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.dedup import dedup_records
from builders.pipeline import split_by_config
from builders.resources import load_schema
from builders.validate import validate_records
from release import write_release
from release.export import builder_benchmark

BENCHMARKS = ("tomato", "personaeval", "litchartom", "moral_roleplay")


def _tomato() -> list[dict]:
    from tests.test_tomato_build import FakeLLM, build

    collected, _ = build(["--n", "20", "--seed", "3"], FakeLLM())
    return collected.kept


def _personaeval() -> list[dict]:
    from tests.test_personaeval_build import FakeLLM, args_for, run

    rows, _ = run(FakeLLM(), args_for(n=20))
    return rows


def _litchartom() -> list[dict]:
    from tests import test_litchartom_build as litchartom
    from tests.test_litchartom_fakes import ScriptedLLM, litchartom_responder

    writer = ScriptedLLM(litchartom_responder(plot_items=litchartom._plot_items))
    checker = ScriptedLLM(litchartom_responder(checker_right=lambda request: True))
    with pytest.MonkeyPatch.context() as patch:  # the generator's sources: two small in-test plays
        records, _ = litchartom._run(patch, writer, checker, litchartom._args())
    return records  # raw generator batches: validated and deduplicated by `fake_records`


def _moral_roleplay() -> list[dict]:
    from tests.test_moral_roleplay_llm_steps import FakeLLM, _args, _generate, _levels_by_name

    collected, _ = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True, max_per_character=1))
    return collected.kept


_GENERATORS = {"tomato": _tomato, "personaeval": _personaeval, "litchartom": _litchartom,
               "moral_roleplay": _moral_roleplay}


def fake_records(name: str) -> list[dict]:
    benchmark = builder_benchmark(name)
    valid, rejects = validate_records(_GENERATORS[name](), load_schema(name), checks=benchmark.checks)
    assert not rejects, rejects[:1]
    kept = dedup_records(valid, key=benchmark.id_field, text=benchmark.dedup_text).kept
    assert kept, f"the fake {name} build kept no record"
    return kept


def write_fake_release(name: str, records: list[dict], releases_root: Path, *, repo_id: str | None = None) -> Path:
    benchmark = builder_benchmark(name)
    splits = split_by_config(benchmark, records, {"test": 1.0}, 0)
    return write_release(benchmark, splits, {"funnel": {"records": len(records)}}, releases_root,
                         repo_id=repo_id).path
