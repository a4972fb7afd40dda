"""LitCharToM's answer key: gold letters an attacker cannot recompute, balanced per record kind and
dimension, the same for the owner on every rebuild.

- Secrecy: an attacker holding the release (every record without the fields that state the answer,
  the row order, the ids, the seed) and this toolkit's code predicts gold letters no better than
  chance: by the builder's old seeded letter streams, hashing ids, completing blocks of four, or the
  dealer run with a guessed salt. The same attacks do find letters dealt the old way. The generated
  records of a small scripted build are copied under new ids to make a release large enough to
  measure (the dealer sees ids and strata only); structure.py's baselines cover what the option
  texts give away (tests/test_litchartom_structure.py).
- Balance: every letter holds the gold n/4 times up to one per record kind and dimension.
- The owner: the same cache and salt rebuild the release byte for byte (through the command line and
  a scripted HTTP model); another salt gives the same questions with other letters, and the answer,
  the OOD prompt and assistant message, and the provenance per option follow.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from builders.answer_key import deal
from builders.litchartom import answer_key, build
from builders.litchartom.records import (
    LETTERS,
    ood_prompt,
    ood_prompt_fields,
    stable_id,
)
from tests.support.public_seed_positions import BalancedPositions
from builders.resources import load_schema
from builders.scenes import Corpus
from builders.validate import RecordValidator, validate_records
from tests.support.scripted_llm import ScriptedOpenAIServer
from tests.test_litchartom_build import _args, _plot_items, _run, _scene
from tests.test_litchartom_fakes import ScriptedLLM, litchartom_responder, make_play
from tests.test_litchartom_server import http_responder

SALT = bytes.fromhex("7e" * 32)
SEED = 3  # the scripted build's seed (tests/test_litchartom_build.py)
OLD_NAMESPACE = "litchartom-letters"  # the seeded balanced streams the builder used to deal letters from
COPIES = 60


@pytest.fixture(scope="module")
def generated() -> list[dict]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        llm = ScriptedLLM(litchartom_responder(plot_items=_plot_items))
        records, _ = _run(monkeypatch, llm, ScriptedLLM(litchartom_responder()), _args(auto_check="off"))
    assert {r["record_type"] for r in records} == {"current", "ood"}
    return records


@pytest.fixture(scope="module")
def release(generated) -> list[dict]:
    """COPIES copies of the generated records (each its own book and ids), in release order, dealt."""
    copies = [{**record, "book_name": f"{record['book_name']} {copy}",
               "record_id": stable_id(copy, record["record_id"])} for copy in range(COPIES) for record in generated]
    copies.sort(key=build.release_sort_key)
    return deal("litchartom", build.BENCHMARK.answer_key, copies, "record_id", SALT)


def slots(records: list[dict]) -> list[tuple[dict, int, str, int]]:
    """(record, question index, stratum, gold index) for every question, in release order."""
    return [(record, index, slot.stratum, slot.gold) for record in records
            for index, slot in enumerate(answer_key.slots(record))]


def attacks(records: list[dict], truth: list[int]) -> dict[str, list[int]]:
    """Each attack's predicted letter (as an index) for every question. What an attacker reads:
    ids, order, strata (kind and dimension are published), the seed and the code; block completion
    also uses the true letters of the three questions before in the same stratum."""
    questions = slots(records)
    old = BalancedPositions(SEED, namespace=OLD_NAMESPACE)
    by_stratum: dict[str, list[int]] = defaultdict(list)
    completed = []
    for (_, _, stratum, _), true in zip(questions, truth):
        before = by_stratum[stratum][-3:]
        completed.append(({0, 1, 2, 3} - set(before)).pop() if len(set(before)) == 3 else 0)
        by_stratum[stratum].append(true)
    guessed = {name: [gold for *_, gold in slots(deal("litchartom", build.BENCHMARK.answer_key, records,
                                                         "record_id", salt))]
               for name, salt in (("empty", b""), ("seed", str(SEED).encode()))}
    return {
        "the builder's old seeded letter streams": [old.next(_old_stream(stratum)) for _, _, stratum, _ in questions],
        "hash of the record id and question": [hashlib.sha256(f"{r['record_id']}|{i}".encode()).digest()[0] % 4
                                               for r, i, _, _ in questions],
        "complete the block of four in the stratum": completed,
        "the dealer with an empty salt": guessed["empty"],
        "the dealer with the seed as salt": guessed["seed"],
        "the builder's own order (gold first)": [0] * len(questions),
        "random guessing": [random.Random(i).randrange(4) for i in range(len(questions))],
    }


def _old_stream(stratum: str) -> str:
    """The old stream names: "current:belief" for the stratum "current:Belief Multiple Choice Question"."""
    kind, label = stratum.split(":", 1)
    return f"{kind}:{label.split()[0].lower()}"


def _accuracy(guess: list[int], truth: list[int]) -> float:
    return sum(g == t for g, t in zip(guess, truth)) / len(truth)


def chance_interval(n: int, p: float = 0.25, z: float = 4.0) -> tuple[float, float]:
    spread = z * (p * (1 - p) / n) ** 0.5
    return p - spread, p + spread


def test_an_attacker_with_the_release_and_the_code_finds_gold_letters_at_chance(release):
    truth = [gold for *_, gold in slots(release)]
    low, high = chance_interval(len(truth))
    assert len(truth) > 1000
    for name, guess in attacks(release, truth).items():
        assert low < _accuracy(guess, truth) < high, (name, _accuracy(guess, truth))


def test_the_same_attacks_find_letters_dealt_the_old_way(release):
    old = BalancedPositions(SEED, namespace=OLD_NAMESPACE)
    truth = [old.next(_old_stream(stratum)) for _, _, stratum, _ in slots(release)]
    found = {name: _accuracy(guess, truth) for name, guess in attacks(release, truth).items()}
    assert found["the builder's old seeded letter streams"] == 1.0
    assert found["complete the block of four in the stratum"] > 0.4


def test_letters_are_balanced_per_kind_and_dimension_and_every_record_stays_valid(release):
    per_stratum: dict[str, Counter] = defaultdict(Counter)
    for _, _, stratum, gold in slots(release):
        per_stratum[stratum][gold] += 1
    assert len(per_stratum) == 8  # current and ood, four dimensions each
    for counts in per_stratum.values():
        assert max(counts.values()) - min(counts[letter] for letter in range(4)) <= 1
    validator = RecordValidator(load_schema("litchartom"), build.BENCHMARK.checks)
    valid, invalid = validate_records(release, validator)
    assert invalid == [] and len(valid) == len(release)


def test_the_builder_leaves_every_gold_as_a_and_publishes_no_generation_order(generated):
    assert {gold for *_, gold in slots(generated)} == {0}
    for record in generated:  # per option provenance names the gold's letter only as the answer does
        for question in record["provenance"]["questions"]:
            assert question["option_types"][0] == "gold"
            assert [source["option"] for source in question["distractor_sources"]] == ["B", "C", "D"]


# -- the owner: the same release from the same cache and salt, other letters from another salt ---------


def _files(release_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(release_dir)): path.read_bytes() for path in sorted(release_dir.rglob("*"))
            if path.is_file()}


def _build(server, tmp: Path, name: str, *extra: str) -> Path:
    from builders.cli import EXIT_OK, run_builder

    url = server.base_url
    code = run_builder(build.BENCHMARK, build.generate, add_arguments=build.add_arguments, argv=[
        "--n", "30", "--model", f"openai-compatible:{url}#writer", "--judge-model", f"openai-compatible:{url}#checker",
        "--model-profile", str(tmp / "scripted-strict.yaml"), "--judge-profile", str(tmp / "scripted-strict.yaml"),
        "--auto-check", "on", "--chunk-chars", "800", "--min-turns", "6", "--concurrency", "2",
        "--out", str(tmp / f"{name}-out"), "--cache-dir", str(tmp / f"{name}-cache"), "--quiet",
        # the owner's rebuild replays the scripted model's failed requests, as `release rebuild` does
        "--retry-failed-runs", "0", *extra])
    assert code == EXIT_OK
    return next((tmp / f"{name}-out" / "litchartom").glob("v*"))


@pytest.fixture(scope="module")
def owner_builds(tmp_path_factory):
    """A build over a scripted HTTP model; the same build from a copy of its cache (salt included)
    into another folder; and one from the same cache with another salt file."""
    tmp = tmp_path_factory.mktemp("litchartom-owner")
    (tmp / "scripted-strict.yaml").write_text(
        "extends: local-smollm2\nname: scripted-strict\njudge: true\nsmoke_test: false\n"
        "judge_note: a scripted checker\nlimits:\n  scenes: {max_plots: 3}\n")
    (tmp / "other.salt").write_text("d4" * 32 + "\n")
    id_work = make_play([_scene(i) for i in range(8)], title="The Test Play", work_id="iambic-test-play")
    ood_work = make_play([_scene(i) for i in range(10, 16)], title="Held Out", work_id="iambic-held-out")
    with pytest.MonkeyPatch.context() as monkeypatch, ScriptedOpenAIServer(responder=http_responder()) as server:
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "sk-scripted")
        monkeypatch.setattr(build, "resolve_sources", lambda args: Corpus((id_work,), (ood_work,)))
        first = _build(server, tmp, "first")
        for name in ("again", "salted"):
            shutil.copytree(tmp / "first-cache", tmp / f"{name}-cache")
        asked = len(server.requests)
        again = _build(server, tmp, "again")
        assert len(server.requests) == asked  # every reply came from the cache
        salted = _build(server, tmp, "salted", "--answer-key-salt-file", str(tmp / "other.salt"))
    return first, again, salted


def _rows(release_dir: Path) -> list[dict]:
    rows = []
    for config in ("current", "ood"):
        if (release_dir / "data" / config).is_dir():
            rows += _released_config(release_dir, config)
    return rows


def _released_config(release_dir: Path, config: str) -> list[dict]:
    import polars as pl

    frame = pl.read_parquet(sorted((release_dir / "data" / config).glob("*.parquet")))
    return [{**row, "provenance": json.loads(row["provenance"]) if isinstance(row["provenance"], str)
             else row["provenance"]} for row in frame.to_dicts()]


def test_the_same_cache_and_salt_rebuild_the_release_byte_for_byte(owner_builds):
    first, again, _ = owner_builds
    assert _files(first) == _files(again)


def test_another_salt_keeps_the_questions_and_moves_the_golds(owner_builds):
    first, _, salted = owner_builds
    mine, theirs = {r["record_id"]: r for r in _rows(first)}, {r["record_id"]: r for r in _rows(salted)}
    assert mine.keys() == theirs.keys() and {r["record_type"] for r in mine.values()} == {"current", "ood"}
    moved = total = 0
    for record_id, record in mine.items():
        other = theirs[record_id]
        for (_, _, _, gold), (_, _, _, other_gold), ours, their in zip(
                slots([record]), slots([other]), _questions(record), _questions(other)):
            assert sorted(ours["options"]) == sorted(their["options"])
            assert ours["options"][gold] == their["options"][other_gold]  # the same gold text
            total += 1
            moved += gold != other_gold
        if other["record_type"] == "ood":
            assert other["messages"][1]["content"] == f"Answer: {other['correct_answer']}"
            assert ood_prompt(**ood_prompt_fields(other)) == other["messages"][0]["content"]
        for (_, _, _, gold), question in zip(slots([other]), other["provenance"]["questions"]):
            assert question["option_types"].index("gold") == gold
            assert sorted(s["option"] for s in question["distractor_sources"]) == [x for i, x in enumerate(LETTERS)
                                                                                  if i != gold]
    assert total >= 8 and moved >= total // 2


def _questions(record: dict) -> list[dict]:
    from builders.litchartom.figures import mcq_items

    return [{"options": item["options"]} for item in mcq_items(record)]
