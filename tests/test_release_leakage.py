"""Cross-release leakage: a new release's test split against earlier releases, in manifest and card."""

from __future__ import annotations

import json
import random

from huggingface_hub import DatasetCard

from release import write_release
from tests.test_release_fixtures import (  # noqa: F401  (fixtures)
    BUILD_REPORT,
    quiz_benchmark,
    quiz_record,
    releases_root,
    resources_root,
)

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "pe", "da", "ri", "on", "el", "an", "is", "gu")


def question(n: int) -> str:
    """A distinct question per n, of made-up words: far from every other one in character 5-grams."""
    rng = random.Random(n)
    words = ["".join(rng.choices(SYLLABLES, k=3)) for _ in range(12)]
    return f"Why did {words[0]} {' '.join(words[1:])}?"


def record(record_id: str, text: str, level: int = 2) -> dict:
    item = quiz_record(0, question=text)
    # the dedup text reads a free-form JSON field too: earlier releases must be decoded back
    return {**item, "id": record_id, "level": level, "extra": {"topic": "hiding things"}}


def leakage_benchmark():
    return quiz_benchmark(splits={"train": 0.7, "test": 0.3},
                          dedup_text=lambda r: f"{r['question']} ({r['extra']['topic']})")


def by_config(benchmark, splits: dict[str, list[dict]]) -> dict:
    return {config: {split: [r for r in rows if member(r)] for split, rows in splits.items()}
            for config, member in benchmark.configs.items()}


def first_release() -> dict[str, list[dict]]:
    return {"train": [record(f"t{i:02d}", question(i)) for i in range(30)],
            "test": [record(f"s{i:02d}", question(100 + i)) for i in range(10)]}


def second_release() -> dict[str, list[dict]]:
    near = question(5).replace("Why did", "How could")  # a few characters changed
    test = [record(f"n{i:02d}", question(200 + i)) for i in range(12)]
    test += [
        record("copy-of-train", question(3).upper()),  # exact after normalisation
        record("near-train", near),
        record("copy-of-test", question(102) + "!!", level=1),  # only the all-splits check sees it
    ]
    return {"train": [record(f"u{i:02d}", question(300 + i)) for i in range(20)], "test": test}


def write(resources_root, releases_root, splits):
    benchmark = leakage_benchmark()
    return write_release(benchmark, by_config(benchmark, splits), BUILD_REPORT, releases_root,
                         resources_root=resources_root)


def manifest_leakage(result) -> dict:
    return json.loads((result.path / "manifest.json").read_text())["leakage"]


def test_a_first_release_says_there_is_no_earlier_release(resources_root, releases_root):
    result = write(resources_root, releases_root, first_release())
    leakage = manifest_leakage(result)
    assert leakage["earlier_versions"] == [] and leakage["against_train"] is None and leakage["against_all"] is None
    card = DatasetCard.load(result.path / "README.md").text
    section = card.split("<!-- toolkit:begin leakage -->")[1].split("<!-- toolkit:end leakage -->")[0]
    assert "No earlier release" in section


def test_reused_records_are_reported_with_their_ids_against_train_and_against_all(resources_root, releases_root):
    write(resources_root, releases_root, first_release())
    result = write(resources_root, releases_root, second_release())
    leakage = manifest_leakage(result)
    assert leakage["earlier_versions"] == ["1.0.0"] and leakage["unreadable_versions"] == []
    assert leakage["new_splits"] == ["test"] and leakage["new_records"] == 15

    train = leakage["against_train"]
    assert train["versions"] == ["1.0.0"] and train["previous_records"] == 30
    assert (train["leaked_records"], train["exact"], train["near"]) == (2, 1, 1)
    found = {m["id"]: m for m in train["matches"]}
    assert set(found) == {"copy-of-train", "near-train"}
    assert found["copy-of-train"]["kind"] == "exact" and found["copy-of-train"]["similarity"] == 1.0
    assert found["copy-of-train"]["duplicate_of"] == {"version": "1.0.0", "config": "all", "split": "train",
                                                      "id": "t03"}
    assert found["near-train"]["kind"] == "near" and 0.85 <= found["near-train"]["similarity"] < 1.0
    assert found["near-train"]["duplicate_of"]["id"] == "t05"

    everything = leakage["against_all"]
    assert everything["previous_records"] == 40  # each record once, though it is in two configs
    assert {m["id"]: m["duplicate_of"]["id"] for m in everything["matches"]} == {
        "copy-of-train": "t03", "near-train": "t05", "copy-of-test": "s02"}
    assert everything["leaked_share"] == round(3 / 15, 6)

    card = DatasetCard.load(result.path / "README.md").text
    section = card.split("<!-- toolkit:begin leakage -->")[1].split("<!-- toolkit:end leakage -->")[0]
    assert "| `train` splits | v1.0.0 | 30 | 2 | 1 | 1 | 13.3% |" in section
    assert "| all splits | v1.0.0 | 40 | 3 | 2 | 1 | 20.0% |" in section
    assert "| `copy-of-test` | exact | 1.0 | v1.0.0 / all / test / `s02` |" in section


def test_every_earlier_version_is_compared_and_a_match_names_its_first_version(resources_root, releases_root):
    write(resources_root, releases_root, first_release())
    write(resources_root, releases_root, second_release())
    third = {"train": [record("w00", question(400))], "test": [record("again", question(3)),
                                                               record("from-v2", question(201))]}
    leakage = manifest_leakage(write(resources_root, releases_root, third))
    assert leakage["earlier_versions"] == ["1.0.0", "1.0.1"]
    matches = {m["id"]: m["duplicate_of"] for m in leakage["against_all"]["matches"]}
    assert matches["again"] == {"version": "1.0.0", "config": "all", "split": "train", "id": "t03"}
    assert matches["from-v2"] == {"version": "1.0.1", "config": "all", "split": "test", "id": "n01"}
    assert leakage["against_train"]["versions"] == ["1.0.0", "1.0.1"]


def test_an_earlier_release_that_cannot_be_read_is_reported_not_fatal(resources_root, releases_root):
    write(resources_root, releases_root, first_release())
    benchmark = quiz_benchmark(splits={"train": 0.7, "test": 0.3},
                               dedup_text=lambda r: f"{r['question']} ({r['extra']['scope']})")
    splits = {"test": [{**record("x", question(500)), "extra": {"scope": "new field"}}], "train": []}
    result = write_release(benchmark, by_config(benchmark, splits), BUILD_REPORT, releases_root,
                           resources_root=resources_root)
    leakage = manifest_leakage(result)
    assert leakage["unreadable_versions"] == [{"version": "1.0.0", "reason": "KeyError: 'scope'"}]
    assert leakage["against_all"]["previous_records"] == 0 and leakage["against_all"]["versions"] == []
    assert "v1.0.0 could not be read (KeyError: 'scope')" in (result.path / "README.md").read_text()


def test_the_leakage_report_is_deterministic(resources_root, tmp_path):
    paths = []
    for root in ("a", "b"):
        write(resources_root, tmp_path / root, first_release())
        shuffled = second_release()
        if root == "b":
            shuffled = {split: list(reversed(rows)) for split, rows in shuffled.items()}
        paths.append(write(resources_root, tmp_path / root, shuffled).path)
    first, second = paths
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
