"""The whole LitCharToM generator on small in-test works with a scripted model: records of both
kinds that pass the schema and invariants, a funnel, balanced letters, no leakage, and a release
written with one explicit Arrow schema. Plus one slow end-to-end run on the embedded model."""

from __future__ import annotations

import asyncio
from argparse import Namespace
from collections import Counter
from pathlib import Path

import pytest

from builders.answer_key import deal
from builders.cli import latest_build_folder
from builders.litchartom import build
from builders.litchartom.export import original_files
from builders.pipeline import Batch, BuildContext, BuildReport, split_by_config
from builders.resources import load_schema
from builders.scenes import Corpus
from builders.validate import validate_records
from tests.test_litchartom_fakes import (
    RESPONDER_WORDS,
    ScriptedLLM,
    litchartom_responder,
    make_play,
)

NAMES = ["LEAR", "KENT", "GONERIL"]


def _scene(number: int) -> list[tuple[str, str]]:
    lines = [(NAMES[i % 3], f"Line {i} of scene {number}, spoken with feeling and care.") for i in range(6)]
    return lines[:5] + [(lines[5][0], f"{lines[5][1]} {RESPONDER_WORDS}")]


def _plot_items(prompt: str) -> list[dict]:
    number = prompt.split("of scene ")[1].split(",")[0]
    return [{"first_line": f"Line 0 of scene {number}, spoken", "last_line": f"Line 5 of scene {number}, spoken",
             "summary": f"The court argues in scene {number}.", "scenario": "The court is assembled.",
             "characters": ["Lear", "Kent"]}]


def _args(**overrides) -> Namespace:
    values = {"n": 100, "concurrency": 2, "chunk_chars": 800, "max_chunks": None, "min_turns": 6, "min_plots": 2,
              "timesteps_per_character": 3, "question_attempts": 2, "auto_check": "on", "max_characters": None, "plays": None, "pdnc_dir": None, "novels": None,
              "gutenberg_ids": None, "ood_works": None, "cache_dir": None}
    values.update(overrides)
    return Namespace(**values)


def _run(monkeypatch, llm, judge, args) -> tuple[list[dict], BuildReport]:
    id_work = make_play([_scene(i) for i in range(4)], title="The Test Play", work_id="iambic-test-play")
    ood_work = make_play([_scene(i) for i in range(10, 13)], title="Held Out", work_id="iambic-held-out")
    monkeypatch.setattr(build, "resolve_sources", lambda a: Corpus((id_work,), (ood_work,)))
    report = BuildReport()
    ctx = BuildContext(args=args, llm=llm, judge=judge, seed=3, report=report, kept=lambda: 0)

    async def collect():
        records = []
        async for batch in build.generate(ctx):
            assert isinstance(batch, Batch)
            report.add_batch(batch)
            records.extend(batch.records)
        return records

    return asyncio.run(collect()), report


def _goneril_desire_missed(request) -> bool:
    """The checker recovers every gold but those of Goneril's desire questions."""
    return "QUESTION: What does Goneril want" not in request.messages[0]["content"]


def test_generate_builds_valid_records_of_both_kinds(monkeypatch, tmp_path):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items, bad_triples_first=True))
    judge = ScriptedLLM(litchartom_responder(checker_right=_goneril_desire_missed))
    records, report = _run(monkeypatch, llm, judge, _args())
    valid, rejects = validate_records(records, load_schema("litchartom"), checks=build.BENCHMARK.checks)
    assert rejects == [] and len(valid) == len(records)
    kinds = Counter(r["record_type"] for r in records)
    # every scene has 6 lines over 3 speakers: 3 characters, each key in every plot. A block needs
    # four golds: at a work's first plot there are three and no spare, so its questions get none
    # and their golds become spares; at each later plot the three golds and one spare make a block.
    # Goneril's desire questions are missed by the checker: her ID records lack a question.
    assert kinds["current"] == 2 * 2  # 4 plots, 3 timesteps per character kept (plots 0, 2, 3)
    assert kinds["ood"] == 3 * 2 * 4 - 2  # 3 plots; held out: one record per question
    assert report.funnel["questions without a block of four"] == 2 * 3 * 4
    assert report.funnel["blind checks"] == 2 * 3 * 2 * 4 == report.funnel["blind checks passed"] + 4
    current = [r for r in records if r["record_type"] == "current"]
    assert all(len(r["qa_data"]["Target Character"]) == 4 for r in current)
    assert all(r["previous_plots"] == [] or r["previous_plots"][-1]["plot_index"] < r["plot_index"] for r in current)
    for record in records:  # distractors are other golds of the work: another character or another plot
        for question in record["provenance"]["questions"]:
            plot = record.get("plot_index", record.get("plot_id"))
            assert all(s["character"] != record["character"] or s["plot_index"] != plot
                       for s in question["distractor_sources"])
            assert all(s["plot_index"] <= plot for s in question["distractor_sources"])
            assert sorted(question["option_types"]).count("gold") == 1
    later = [r for r in current if r["plot_index"] > 0]
    assert any(t["op"] == "kept" for r in later for t in r["triples_structured"])
    assert report.funnel["triple calls"] > report.funnel["timesteps"]  # first triple replies were re-asked
    assert any(r["stage"] == "triples" and "out of vocabulary" in r["reason"] for r in report.rejects)
    assert {r["correct_answer"] for r in records if r["record_type"] == "ood"} == {"A"}  # placed at release
    placed = deal("litchartom", build.BENCHMARK.answer_key, records, "record_id", bytes(range(32)))
    valid, rejects = validate_records(placed, load_schema("litchartom"), checks=build.BENCHMARK.checks)
    assert rejects == [] and len(valid) == len(records)
    ood = [r for r in placed if r["record_type"] == "ood"]
    for dimension in {r["qa_type"] for r in ood}:
        letters = Counter(r["correct_answer"] for r in ood if r["qa_type"] == dimension)
        assert max(letters.values()) - min(letters.get(x, 0) for x in "ABCD") <= 1

    from release import write_release
    splits = split_by_config(build.BENCHMARK, valid, {"test": 1.0}, 0)
    result = write_release(build.BENCHMARK, splits, {"funnel": report.funnel}, tmp_path)
    assert result.counts["ood"]["test"] == kinds["ood"] and result.counts["current"]["test"] == kinds["current"]
    files = original_files(valid)
    assert len(files["all_books_current.json"]) == len(files["all_books_with_prev.json"]) == kinds["current"]
    first = files["all_books_current.json"][0]
    assert list(first["triples"]) == ["Target Character"] and "previous_plots" not in first
    assert set(files["ood_test_book.json"][0]) == {"messages", "corresponding_triples", "triples", "plot_id",
                                                   "book_name", "character", "correct_answer", "qa_type"}


def test_generation_is_deterministic_whatever_the_concurrency(monkeypatch):
    runs = []
    for concurrency in (1, 4):
        llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
        judge = ScriptedLLM(litchartom_responder(checker_right=lambda r: r.sample % 2 == 0))
        records, report = _run(monkeypatch, llm, judge, _args(concurrency=concurrency))
        runs.append((records, report.funnel, [r["reason"] for r in report.rejects]))
    assert runs[0] == runs[1]


def test_a_failing_checker_rejects_id_records_with_reasons(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    judge = ScriptedLLM(litchartom_responder(checker_right=lambda r: False))
    records, report = _run(monkeypatch, llm, judge, _args())
    assert records == []
    assert report.funnel["questions accepted"] == 0
    assert any(r["stage"] == "timestep" and "needs all 4" in r["reason"] for r in report.rejects)
    assert any(r["stage"] == "question" and "blind answer" in r["reason"] for r in report.rejects)


def test_bad_source_flags_are_user_errors():
    from builders.cli import UserError

    with pytest.raises(UserError, match="unknown play"):
        build.resolve_sources(_args(plays="no-such-play"))
    with pytest.raises(UserError, match="--pdnc-dir"):
        build.resolve_sources(_args(plays="king-lear", novels="Emma"))
    with pytest.raises(UserError, match="not among the loaded works"):
        build.resolve_sources(_args(plays="king-lear", ood_works="hamlet"))


@pytest.mark.slow
def test_end_to_end_on_the_embedded_model(tmp_path, monkeypatch, smollm2_model_dir):
    """A tiny real build (one play, first chunks only) through the CLI: it must finish and write a
    release or report a clean 'no records' failure."""
    import json

    from builders.cli import EXIT_FAILED, EXIT_OK, run_builder
    from builders.llm.providers.local_model import locate_gguf

    monkeypatch.setenv("TOOLKIT_SMOLLM2_GGUF", str(locate_gguf(smollm2_model_dir)))

    code = run_builder(build.BENCHMARK, build.generate, add_arguments=build.add_arguments, argv=[
        "--n", "1", "--plays", "king-lear", "--max-chunks", "2", "--min-plots", "2", "--concurrency", "1",
        "--timesteps-per-character", "1", "--question-attempts", "1",
        "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert code in (EXIT_OK, EXIT_FAILED)
    report = json.loads((latest_build_folder(tmp_path / "out", "litchartom") / "build-report.json").read_text())
    assert report["funnel"]["scene chunks"] == 2
    if code == EXIT_OK:
        assert Path(report["release"]["path"]).is_dir()


def test_dedup_text_is_question_and_gold_not_the_letter(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    records, _ = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args())
    ood = next(r for r in records if r["record_type"] == "ood")
    text = build.dedup_text(ood)
    gold = next(line[3:] for line in ood["messages"][0]["content"].splitlines()
                if line.startswith(ood["correct_answer"] + ". "))
    assert text.startswith(ood["character"] + "\n") and text.splitlines()[2] == gold  # the text, not the letter
    current = next(r for r in records if r["record_type"] == "current")
    bodies = [next(iter(item.values())) for item in current["qa_data"]["Target Character"]]
    golds = [b["Options"]["ABCD".index(b["Correct Answer"])][3:] for b in bodies]
    assert build.dedup_text(current).splitlines()[-4:] == golds


def test_too_few_plots_for_any_character_ends_the_build_with_a_reason(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    records, report = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(min_plots=9))
    assert records == [] and report.rejects[-1]["stage"] == "timesteps"
    assert all(request.step == "scenes.plot" for request in llm.calls)
    idle = [r for r in report.rejects if r["stage"] == "plots" and r["reason"].startswith("no timestep")]
    assert len(idle) == report.funnel["plots with readable summaries"] == 4 + 3  # every plot paid for is named


def test_max_characters_runs_the_first_timelines_taken_in_turn_from_each_work(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    records, report = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(max_characters=4))
    assert {(r["book_name"], r["character"]) for r in records} == {
        (book, name) for book in ("The Test Play", "Held Out") for name in ("Goneril", "Kent")}
    assert report.funnel["timesteps"] == 4 * 3
    left = [r["record"] for r in report.rejects if r["reason"] == "character timeline beyond --max-characters"]
    assert report.funnel["character timelines beyond --max-characters"] == len(left) == 2  # Lear's, in each work
    assert {r["character"] for r in left} == {"Lear"}


def test_one_character_alone_has_too_few_golds_for_a_block(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    records, report = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(max_characters=1))
    assert records == [] and report.funnel["questions without a block of four"] == 3 * 4
    assert any("no block of 4 compatible golds" in r["reason"] for r in report.rejects)


def test_auto_check_off_asks_no_checker_and_auto_skips_a_checker_measured_unfit(monkeypatch):
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    judge = ScriptedLLM(litchartom_responder(checker_right=lambda r: False))
    records, report = _run(monkeypatch, llm, judge, _args(auto_check="off"))
    assert judge.calls == [] and len(records) == 6 + 24 and "blind checks" not in report.funnel
    questions = [q for r in records for q in r["provenance"]["questions"]]
    assert {q["auto_check"] for q in questions} == {"not run"} and {q["blind_answer"] for q in questions} == {None}
    assert {q["auto_check_reason"] for q in questions} == {"--auto-check off"}
    unfit = ScriptedLLM(litchartom_responder(checker_right=lambda r: False), label="local:smollm2")
    records, report = _run(monkeypatch, llm, unfit, _args(auto_check="auto"))
    assert unfit.calls == [] and len(records) == 6 + 24
    assert any("blind auto-check skipped" in note and "--auto-check on" in note for note in report.notes)
    reasons = {q["auto_check_reason"] for r in records for q in r["provenance"]["questions"]}
    assert len(reasons) == 1 and reasons.pop().startswith(
        "--auto-check auto: the checker local:smollm2 (profile local-smollm2) is not fit to judge: SmolLM2-135M")
    valid, rejects = validate_records(records, load_schema("litchartom"), checks=build.BENCHMARK.checks)
    assert rejects == [] and len(valid) == len(records)
    records, report = _run(monkeypatch, llm, unfit, _args(auto_check="on"))
    assert records == [] and report.funnel["blind checks"] > 0


PDNC = Path("/work/shared/corpora/pdnc")


def _novel_plot_items(request) -> list[dict]:
    """Whole-chunk plots of a real passage: its first and last line openings (from the schema's
    enum when the chunk offers one, else from the passage) and the first two cast names offered."""
    item = request.schema["properties"]["plots"]["items"]["properties"]
    prompt = request.messages[-1]["content"]
    passage = prompt.split("PASSAGE:\n", 1)[1].split("\n\nDivide the passage", 1)[0]
    paragraphs = [p for p in passage.split("\n\n") if p.split()]
    first = item["first_line"].get("enum", [" ".join(paragraphs[0].split()[:6])])[0]
    last = item["last_line"].get("enum", [" ".join(paragraphs[-1].split()[:6])])[0]
    names = item["characters"]["items"].get("enum", ["Anne", "Wentworth"])[:2]
    return [{"first_line": first, "last_line": last, "summary": "The family talks over its affairs at home.",
             "scenario": "At home, the family is gathered.", "characters": names}]


@pytest.mark.skipif(not (PDNC / "Persuasion").is_dir(), reason="shared PDNC corpus not present")
def test_generate_runs_over_a_pdnc_novel(tmp_path):
    responder = litchartom_responder(plot_items=None)

    def respond(request):
        return {"plots": _novel_plot_items(request)} if request.step == "scenes.plot" else responder(request)

    llm = ScriptedLLM(respond)
    args = _args(plays=None, pdnc_dir=PDNC, novels="Persuasion", chunk_chars=6000, max_chunks=12, min_turns=2,
                 auto_check="off")
    report = BuildReport()
    ctx = BuildContext(args=args, llm=llm, judge=llm, seed=3, report=report, kept=lambda: 0)

    async def collect():
        records = []
        async for batch in build.generate(ctx):
            report.add_batch(batch)
            records.extend(batch.records)
        return records

    records = asyncio.run(collect())
    valid, rejects = validate_records(records, load_schema("litchartom"), checks=build.BENCHMARK.checks)
    assert records and rejects == [] and {r["book_name"] for r in records} == {"Persuasion"}
    assert {r["record_type"] for r in records} == {"current"}  # no --ood-works: every novel is in-distribution
    assert report.funnel["plots anchored"] >= 4


def test_the_build_stops_after_the_plot_that_reaches_n(monkeypatch):
    """Plots run in order and each plot's records are yielded before the next starts."""
    full_llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    full, _ = _run(monkeypatch, full_llm, ScriptedLLM(litchartom_responder()), _args(auto_check="off"))
    llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
    id_work = make_play([_scene(i) for i in range(4)], title="The Test Play", work_id="iambic-test-play")
    monkeypatch.setattr(build, "resolve_sources", lambda a: Corpus((id_work,), ()))
    records: list[dict] = []
    ctx = BuildContext(args=_args(n=2, auto_check="off"), llm=llm, judge=llm, seed=3, report=BuildReport(),
                       kept=lambda: len(records))

    async def collect():
        async for batch in build.generate(ctx):
            records.extend(batch.records)

    asyncio.run(collect())
    assert 2 <= len(records) <= 3 and {r["plot_index"] for r in records} == {2}  # plot 0 gives none (see above)
    drafts = [c for c in llm.calls if c.step == "litchartom.question"]
    assert len(drafts) == 3 * 4 * 2 < len([c for c in full_llm.calls if c.step == "litchartom.question"])
    # the plot the build never reached was paid for by the scene layer: the report says so
    unreached = [r["record"] for r in ctx.report.rejects if r["reason"].startswith("not reached")]
    assert [r["plot_index"] for r in unreached] == [3] and ctx.report.funnel["plots not reached (--n was met first)"] == 1


def test_plots_with_unreadable_summaries_are_never_timesteps(monkeypatch):
    def plot_items(prompt):
        items = _plot_items(prompt)
        if "of scene 2," in prompt:
            items[0]["summary"] = "cabbacamblaBAMBANANKLADMALABLAANZARDAH PAGACIAHAJIYAHASH"
        return items

    llm = ScriptedLLM(litchartom_responder(plot_items=plot_items))
    records, report = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(auto_check="off"))
    unreadable = [r for r in report.rejects if r["stage"] == "plots"]
    assert len(unreadable) == 1 and unreadable[0]["reason"].startswith("unreadable plot summary: words the source")
    plot = unreadable[0]["record"]["plot_index"]
    assert records and all(r.get("plot_index") != plot for r in records if r["record_type"] == "current")
    assert all(p["plot_index"] != plot for r in records if r["record_type"] == "current" for p in r["previous_plots"])
    assert report.funnel["plots with readable summaries"] == report.funnel["plots anchored"] - 1
