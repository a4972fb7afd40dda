"""Reliability round 2, inputs (issues 17.8, 17.9, 17.11, 17.14, 17.15, 17.17, 18.6, 18.7, 18.8).

Each test injects one fault through the real command line (a subprocess against the scripted
server, or `run_builder` in-process where a fault must be injected inside the process) and checks
the exit code, the one message, and that a bad input costs no request.
"""

from __future__ import annotations

import csv
import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from builders.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, _tell, latest_build_folder, run_builder
from builders.splits import drop_empty_splits, minimum_records, parse_ratios
from builders.tomato.build import BENCHMARK as TOMATO, add_arguments as tomato_arguments, generate as tomato_generate
from tests.test_reliability_support import (ROOT, build, build_report, builder_command, chat_bodies, clean_env,
                                            fake_server, model_of, one_line, release_dir, run)
from tests.test_sources_pdnc import make_novel

__all__ = ["fake_server"]

SMALL = 5  # tomato records: one conversation (one split group), a build of a few seconds
LITERATURE = ("personaeval", "litchartom", "moral_roleplay")
NOVEL = "Emma"  # a name on PersonaEval's public-domain allow-list; the text is the tiny fixture novel


def assert_refused(result: subprocess.CompletedProcess, *fragments: str, code: int = EXIT_BAD_INPUT) -> str:
    message = one_line(result.stderr)
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in message, (fragment, message[-3000:])
    return message


def literature_command(server, tmp_path: Path, benchmark: str, pdnc_dir: Path, *extra: str) -> list[str]:
    sources = ["--pdnc-dir", str(pdnc_dir), "--novels", NOVEL]
    if benchmark == "personaeval":
        sources = ["--track", "literary", *sources]
    return builder_command(model_of(server), tmp_path / "out", tmp_path / "cache", *sources, *extra, n=4,
                           module=f"builders.{benchmark}")


def quotation_rows(folder: Path) -> list[list[str]]:
    with (folder / "quotation_info.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_quotations(folder: Path, rows: list[list[str]]) -> None:
    with (folder / "quotation_info.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


# ---- 17.8: messages are printed literally, never read as rich markup ------------------------------


def test_brackets_in_a_message_are_printed_as_written(capsys):
    _tell("give one [start, end] pair; the file [/x] and [bold]not bold[/bold]", label="error:", style="red")
    assert capsys.readouterr().err.strip() == "error: give one [start, end] pair; the file [/x] and [bold]not bold[/bold]"


def test_a_path_holding_a_closing_tag_is_named_not_a_traceback(fake_server, tmp_path):
    (tmp_path / "a[").mkdir()
    in_the_way = tmp_path / "a[" / "x]"  # the path reads ".../a[/x]": a closing tag to rich
    in_the_way.write_text("a file where --out wants a folder")
    result = run(builder_command(model_of(fake_server), in_the_way, tmp_path / "cache", n=SMALL))
    assert_refused(result, f"error: --out {in_the_way} is a file")
    assert chat_bodies(fake_server) == []


def test_a_source_error_keeps_its_start_end_hint(fake_server, tmp_path):
    folder = make_novel(tmp_path / "pdnc" / NOVEL)
    rows = quotation_rows(folder)
    rows[1][3] = "[[1, 2, 3]]"  # quoteByteSpans of Q0: not a [start, end] pair
    write_quotations(folder, rows)
    result = run(literature_command(fake_server, tmp_path, "litchartom", tmp_path / "pdnc"))
    assert_refused(result, "quotation_info.csv, line 2", "give one [start, end] pair of integers per sub-quotation")


# ---- 17.9: a short row names the file, the line and the column ------------------------------------


@pytest.mark.parametrize("benchmark", LITERATURE)
def test_a_short_row_in_quotation_info_is_bad_input_naming_file_line_and_column(fake_server, tmp_path, benchmark):
    folder = make_novel(tmp_path / "pdnc" / NOVEL)
    rows = quotation_rows(folder)
    rows[2] = rows[2][:4]  # line 3 (quote Q1) stops after quoteByteSpans
    write_quotations(folder, rows)
    result = run(literature_command(fake_server, tmp_path, benchmark, tmp_path / "pdnc"))
    assert_refused(result, f"{folder / 'quotation_info.csv'}, line 3, column 5:",
                   "the row has 4 cells but the header names 11 columns; it ends before column 5 ('speaker')")
    assert chat_bodies(fake_server) == []


def test_a_long_row_is_refused_too(fake_server, tmp_path):
    folder = make_novel(tmp_path / "pdnc" / NOVEL)
    rows = quotation_rows(folder)
    rows[4] = [*rows[4], "stray"]
    write_quotations(folder, rows)
    result = run(literature_command(fake_server, tmp_path, "moral_roleplay", tmp_path / "pdnc"))
    assert_refused(result, "quotation_info.csv, line 5, column 12:", "the row has 12 cells but the header names 11")


# ---- 17.17: a corpus no builder can use is refused before any request ----------------------------


def header_only(folder: Path) -> str:
    write_quotations(folder, quotation_rows(folder)[:1])
    return "the file has a header and no rows"


def no_quote_in_the_text(folder: Path) -> str:
    (folder / "novel_text.txt").write_text("CHAPTER I.\n\n" + "Nothing anybody said is here. " * 20, encoding="utf-8")
    return "0 of 4 quotations could be located in the text"


def no_known_speaker(folder: Path) -> str:
    rows = quotation_rows(folder)
    write_quotations(folder, [rows[0], *([*row[:4], "Somebody Else", *row[5:]] for row in rows[1:])])
    return "no speaker is known: none of the 4 quotations names a speaker found in character_info.csv"


@pytest.mark.parametrize("benchmark, damage", [
    ("personaeval", header_only), ("litchartom", no_quote_in_the_text), ("moral_roleplay", no_known_speaker),
    ("litchartom", header_only), ("moral_roleplay", no_quote_in_the_text), ("personaeval", no_known_speaker),
], ids=lambda value: getattr(value, "__name__", value))
def test_an_unusable_pdnc_corpus_is_refused_before_any_request(fake_server, tmp_path, benchmark, damage):
    folder = make_novel(tmp_path / "pdnc" / NOVEL)
    problem = damage(folder)
    result = run(literature_command(fake_server, tmp_path, benchmark, tmp_path / "pdnc"))
    assert_refused(result, f"{folder / 'quotation_info.csv'}: {problem}", "Fix:")
    assert chat_bodies(fake_server) == []


def test_the_build_report_carries_the_pdnc_loader_statistics(fake_server, tmp_path):
    make_novel(tmp_path / "pdnc" / NOVEL)  # 4 quotes, 1 shifted and 1 unrecovered span: too small for an item
    result = run(literature_command(fake_server, tmp_path, "personaeval", tmp_path / "pdnc"))
    assert result.returncode == EXIT_FAILED, result.stderr[-3000:]
    stats = build_report(tmp_path / "out", "personaeval")["sources"]["pdnc"]
    assert {key: stats[key] for key in ("novels", "quotes", "spans_unrecovered", "spans_shifted",
                                        "speakers_unresolved")} == {
        "novels": 1, "quotes": 4, "spans_unrecovered": 1, "spans_shifted": 1, "speakers_unresolved": 0}
    assert stats["per_novel"][f"pdnc-{NOVEL}"]["quotes"] == 4


# ---- 17.14: an empty selection is refused, never read as "the defaults" ----------------------------


@pytest.mark.parametrize("benchmark, flag, value", [
    ("personaeval", "--plays", ""), ("personaeval", "--plays", ","), ("personaeval", "--novels", " , "),
    ("litchartom", "--plays", ""), ("litchartom", "--novels", ","), ("litchartom", "--gutenberg-ids", ""),
    ("litchartom", "--ood-works", ","), ("moral_roleplay", "--plays", ","), ("moral_roleplay", "--novels", ""),
])
def test_an_empty_selection_is_refused_before_any_request(fake_server, tmp_path, benchmark, flag, value):
    command = builder_command(model_of(fake_server), tmp_path / "out", tmp_path / "cache", flag, value, n=4,
                              module=f"builders.{benchmark}")
    assert_refused(run(command), f"argument {flag}: names nothing ({value!r})", "leave the flag out")
    assert chat_bodies(fake_server) == []


# ---- 17.15 and 18.6: splits ------------------------------------------------------------------------


@pytest.mark.parametrize("splits, fragment", [
    ("train=nan,test=1", "ratio of split 'train' must be a finite number, got nan"),
    ("train=inf,test=-inf", "must be a finite number, got inf"),
    ("trian=0.8,test=0.2", "unknown split name(s) ['trian']; use train, validation, dev, test"),
    ("test,test", "split 'test' is named twice"),
    ("train=1,test=0", "split(s) test have ratio 0 and would be empty"),
    ("=1", "a split without a name"),
])
def test_bad_split_ratios_are_refused_before_any_request(fake_server, tmp_path, splits, fragment):
    assert_refused(build(fake_server, tmp_path, "--splits", splits, n=SMALL), "argument --splits", fragment)
    assert chat_bodies(fake_server) == []


def test_splits_too_fine_for_n_name_the_least_n_before_any_request(fake_server, tmp_path):
    result = build(fake_server, tmp_path, "--splits", "train=0.8,validation=0.1,test=0.1", n=8)
    assert_refused(result, "--splits train=0.8,validation=0.1,test=0.1 needs --n 10 or more", "raise --n to 10")
    assert chat_bodies(fake_server) == []


def test_least_n_and_empty_split_dropping_as_functions():
    assert minimum_records(parse_ratios("train=0.8,validation=0.1,test=0.1")) == 10
    assert minimum_records(parse_ratios("train=0.7,test=0.3")) == 4
    assert minimum_records(parse_ratios("test")) == 1
    kept, dropped = drop_empty_splits({"all": {"train": [1], "test": []}, "hard": {"train": [], "test": []}})
    assert kept == {"all": {"train": [1]}, "hard": {"train": [], "test": []}} and dropped == [("all", "test")]


def test_a_split_grouping_leaves_empty_is_left_out_and_the_release_loads(fake_server, tmp_path):
    # SMALL records come from one conversation, one split group: one of the two splits must come out empty
    result = build(fake_server, tmp_path, "--splits", "train=0.5,test=0.5", n=SMALL)
    assert result.returncode == EXIT_OK, result.stderr[-3000:]
    assert "split left out:" in one_line(result.stderr)
    release = release_dir(tmp_path / "out")
    shards = sorted(p.relative_to(release).as_posix() for p in release.glob("data/*/*.parquet"))
    present = {shard.split("/")[2].split("-")[0] for shard in shards}
    assert len(present) == 1, shards
    manifest = json.loads((release / "manifest.json").read_text())
    assert any("left out of those configs" in note for note in manifest["build_report"]["notes"])
    loaded = load_dataset(str(release), "all")
    assert set(loaded) == present and loaded[present.pop()].num_rows == SMALL


# ---- 18.7: one report per run, and builds/latest -----------------------------------------------------


def test_every_run_keeps_its_own_report_and_latest_names_the_newest(fake_server, tmp_path):
    first = build(fake_server, tmp_path, n=SMALL)
    assert first.returncode == EXIT_OK, first.stderr[-3000:]
    first_folder = latest_build_folder(tmp_path / "out", "tomato")
    first_report = (first_folder / "build-report.json").read_bytes()
    second = build(fake_server, tmp_path, n=SMALL)  # all from the cache: a no-op release
    assert second.returncode == EXIT_OK, second.stderr[-3000:]
    builds = tmp_path / "out" / "tomato" / "builds"
    runs = sorted(p.name for p in builds.iterdir() if p.is_dir())
    assert len(runs) == 2 and runs[0] == first_folder.name  # names sort by start time
    assert latest_build_folder(tmp_path / "out", "tomato").name == runs[1]
    assert (first_folder / "build-report.json").read_bytes() == first_report  # the first run's report kept
    reports = [json.loads((builds / run_id / "build-report.json").read_text()) for run_id in runs]
    assert [r["build_run"] for r in reports] == runs
    assert reports[0]["llm"]["total"]["requests"] > 0 and reports[1]["llm"]["total"]["requests"] == 0
    manifest = json.loads((release_dir(tmp_path / "out") / "manifest.json").read_text())
    assert reports[0]["release"]["content_hash"] == reports[1]["release"]["content_hash"] == manifest["content_hash"]
    assert reports[1]["release"]["noop"] is True


# ---- 18.8: --out that cannot be created ----------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_out_folder_that_cannot_be_created_is_refused_before_any_request(fake_server, tmp_path):
    result = run(builder_command(model_of(fake_server), Path("/proc/x/releases"), tmp_path / "cache", n=SMALL))
    assert_refused(result, "--out /proc/x/releases cannot be created or written to")
    assert chat_bodies(fake_server) == []


def test_the_out_check_leaves_nothing_behind(fake_server, tmp_path):
    out = tmp_path / "new" / "releases"
    result = build(fake_server, tmp_path, "--splits", "train=0.9,test=0.1", n=SMALL, out="new/releases")
    assert result.returncode == EXIT_BAD_INPUT  # refused after the --out check: it tried and cleaned up
    assert not (tmp_path / "new").exists() and not out.exists()


# ---- 17.11: the release or the report cannot be written ------------------------------------------------


def tomato_in_process(server, tmp_path: Path) -> int:
    argv = builder_command(model_of(server), tmp_path / "out", tmp_path / "cache", n=SMALL)[3:]
    return run_builder(TOMATO, tomato_generate, argv=argv, add_arguments=tomato_arguments)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "releases/tomato/.staging-x/data")


def test_a_full_disk_while_writing_the_release_is_one_message_and_the_report_is_kept(
        fake_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("release.write_release", disk_full)
    assert tomato_in_process(fake_server, tmp_path) == EXIT_FAILED
    message = one_line(capsys.readouterr().err)
    assert f"error: could not write the release under {tmp_path / 'out'}: No space left on device" in message
    assert "Free disk space where" in message and "every paid reply is in the response cache" in message
    assert "Traceback" not in message
    report = build_report(tmp_path / "out")
    assert report["status"] == "failed: could not write the release (No space left on device)"
    assert report["llm"]["total"]["requests"] == len(chat_bodies(fake_server)) > 0
    assert f"the build report is in {latest_build_folder(tmp_path / 'out', 'tomato')}" in message


def test_when_the_report_cannot_be_written_either_the_message_says_so(fake_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("release.write_release", disk_full)
    monkeypatch.setattr("builders.cli._write_build_report", disk_full)
    assert tomato_in_process(fake_server, tmp_path) == EXIT_FAILED
    message = one_line(capsys.readouterr().err)
    assert "could not write the build report under" in message
    assert "the build report could not be written either" in message and "Traceback" not in message


def test_a_cache_that_cannot_store_a_paid_reply_stops_with_exit_2_and_a_report(fake_server, tmp_path):
    command = builder_command(model_of(fake_server), tmp_path / "out", tmp_path / "cache", n=SMALL)
    result = subprocess.run([sys.executable, "-m", "tests.support.full_disk_builder", "5", *command[3:]], cwd=ROOT,
                            env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert_refused(result, "error:", "database or disk is full", "run the same command again")
    assert build_report(tmp_path / "out")["status"] == "stopped: cache write failed"
