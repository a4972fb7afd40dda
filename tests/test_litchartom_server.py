"""The LitCharToM auto-check loop over HTTP: a whole build through the real LLM client against a
scripted OpenAI-compatible server on 127.0.0.1, writer and checker as two model names.

The server answers like the in-process fake (tests/test_litchartom_fakes.py); its checker recovers
the gold of every question but Goneril's, whose questions are rejected with the reason (a question's
options are its block's, so no other set is tried). Both
models run the strict contract (a profile file extending the embedded model's, fit to judge, whose
chunks hold up to three plots), which is what the fake answers; tests/test_litchartom_strong.py
covers the natural contract over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from builders.cli import latest_build_folder
from builders.litchartom import build
from builders.scenes import Corpus
from tests.support.scripted_llm import reply_json
from tests.test_litchartom_build import _plot_items, _scene
from tests.test_litchartom_fakes import is_gold, litchartom_responder, make_play


def _step_of(schema: dict) -> str:
    properties = schema["properties"]
    return ("scenes.plot" if "plots" in properties else "litchartom.triples" if "relation" in properties
            else "litchartom.question" if "question" in properties else "litchartom.blind_check")


def http_responder():
    fake = litchartom_responder(plot_items=_plot_items)

    def respond(request):
        body = request.json
        schema = body["response_format"]["json_schema"]["schema"]
        step = _step_of(schema)
        prompt = body["messages"][-1]["content"]
        if step == "litchartom.blind_check":
            assert body["model"] == "checker"
            options = [line for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
            missed = "QUESTION: What does Goneril" in prompt or "QUESTION: How does Goneril" in prompt
            pick = next(o for o in options if is_gold(prompt, o[3:]) != missed)
            return reply_json({"answer": pick[0]})
        assert body["model"] == "writer"
        if step == "scenes.plot":  # the whole chunk, from the line openings the schema offers
            item = schema["properties"]["plots"]["items"]["properties"]
            plot = {**_plot_items(prompt)[0], "first_line": item["first_line"]["enum"][0],
                    "last_line": item["last_line"]["enum"][0], "characters": item["characters"]["items"]["enum"][:2]}
            return reply_json({"plots": [plot]})
        return reply_json(fake(SimpleNamespace(step=step, messages=body["messages"], schema=schema, sample=0)))

    return respond


def _released(release: Path) -> list[dict]:
    import polars as pl

    frame = pl.read_parquet(release / "data" / "current" / "test-00000-of-00001.parquet")
    return [{**row, "provenance": json.loads(row["provenance"]) if isinstance(row["provenance"], str)
             else row["provenance"]} for row in frame.to_dicts()]


def test_the_auto_check_loop_runs_over_http_and_the_card_reports_it(openai_server, tmp_path, monkeypatch):
    from builders.cli import EXIT_OK, run_builder

    openai_server.responder = http_responder()
    id_work = make_play([_scene(i) for i in range(8)], title="The Test Play", work_id="iambic-test-play")
    monkeypatch.setattr(build, "resolve_sources", lambda a: Corpus((id_work,), ()))
    url = openai_server.base_url
    profile = tmp_path / "scripted-strict.yaml"
    profile.write_text("extends: local-smollm2\nname: scripted-strict\njudge: true\nsmoke_test: false\n"
                       "judge_note: a scripted checker\nlimits:\n  scenes: {max_plots: 3}\n")
    code = run_builder(build.BENCHMARK, build.generate, add_arguments=build.add_arguments, argv=[
        "--n", "2", "--model", f"openai-compatible:{url}#writer", "--judge-model", f"openai-compatible:{url}#checker",
        "--model-profile", str(profile), "--judge-profile", str(profile),
        "--auto-check", "on", "--chunk-chars", "800", "--min-turns", "6", "--concurrency", "2",
        "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert code == EXIT_OK
    builds = latest_build_folder(tmp_path / "out", "litchartom")
    report = json.loads((builds / "build-report.json").read_text())
    funnel = report["funnel"]
    assert funnel["blind checks passed"] == funnel["questions accepted"] > 0
    release = Path(report["release"]["path"])
    records = _released(release)
    questions = [q for r in records for q in r["provenance"]["questions"]]
    assert len(records) == 2 and {q["auto_check"] for q in questions} == {"passed"}
    assert all(q["rejected"] == [] for q in questions) and "Goneril" not in {r["character"] for r in records}
    missed = [r for r in (builds / "rejects.jsonl").read_text().splitlines()
              if "blind answer" in r]
    assert missed and all('"Goneril"' in r for r in missed)
    card = " ".join((release / "README.md").read_text().split())
    passed, checked = funnel["blind checks passed"], funnel["blind checks"]
    assert f"{passed} of {checked} blind answers recovered the gold ({100 * passed / checked:.1f}%)" in card
    assert "did not run for this build" not in card
