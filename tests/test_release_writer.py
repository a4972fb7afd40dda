"""write_release: Hub-shaped layout, deterministic bytes, manifest, versioning, changelog, crash safety."""

from __future__ import annotations

import errno
import json
import random

import datasets
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from release import parquet_io, write_release
from release import writer as writer_module
from release.arrow_schema import RecordShapeError, arrow_schema_from_json_schema, parse_json_schema
from release.manifest import canonical_json, sha256_file
from release.versioning import VersionError
from tests.test_release_fixtures import (  # noqa: F401  (fixtures)
    BUILD_REPORT,
    QUIZ_SCHEMA,
    quiz_benchmark,
    quiz_record,
    quiz_splits,
    releases_root,
    resources_root,
)


def release(resources_root, releases_root, records, **kwargs):
    benchmark = kwargs.pop("benchmark", None) or quiz_benchmark()
    return write_release(benchmark, quiz_splits(benchmark, records), BUILD_REPORT, releases_root,
                         resources_root=resources_root, **kwargs)


def records(n=40):
    return [quiz_record(i) for i in range(n)]


def test_first_release_has_the_hub_dataset_layout(resources_root, releases_root):
    result = release(resources_root, releases_root, records(), repo_id="org/quiz")
    assert (result.version, result.noop, result.previous_version) == ("1.0.0", False, None)
    assert result.path == releases_root / "quiz" / "v1.0.0"
    files = sorted(p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file())
    assert files == [
        "CHANGELOG.md", "README.md", "charts/answer_position.png", "charts/category.png", "charts/level.png",
        "data/all/test-00000-of-00001.parquet", "data/all/validation-00000-of-00001.parquet",
        "data/hard/test-00000-of-00001.parquet", "data/hard/validation-00000-of-00001.parquet",
        "manifest.json",
    ]
    assert result.counts == {"all": {"test": 32, "validation": 8}, "hard": {"test": 21, "validation": 5}}
    assert not [p for p in (releases_root / "quiz").iterdir() if p.name.startswith(".")]  # no staging left


def test_manifest_digests_every_file_and_carries_the_build_report(resources_root, releases_root):
    result = release(resources_root, releases_root, records())
    raw = (result.path / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert raw == canonical_json(manifest)  # canonical: sorted keys, fixed separators
    on_disk = {p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    for path, info in manifest["files"].items():
        assert info == {"sha256": sha256_file(result.path / path), "size": (result.path / path).stat().st_size}
    assert manifest["counts"] == result.counts
    assert manifest["build_report"] == BUILD_REPORT
    assert manifest["content_hash"] == result.content_hash
    assert manifest["previous_version"] is None and manifest["version"] == "1.0.0"
    assert manifest["toolkit_version"]


def test_load_dataset_reads_every_config_with_the_schema_types(resources_root, releases_root, tmp_path):
    result = release(resources_root, releases_root, records())
    for config, splits in result.counts.items():
        loaded = datasets.load_dataset(str(result.path), config, cache_dir=str(tmp_path / "cache"))
        assert {split: loaded[split].num_rows for split in loaded} == splits
    test = loaded["test"]
    assert test.features["answer_idx"] == datasets.Value("int64")
    assert test.features["hard"] == datasets.Value("bool")
    assert test.features["options"] == datasets.List(datasets.Value("string"))
    assert test.features["meta"]["samples"] == datasets.List(datasets.Value("int64"))
    assert test["id"] == sorted(test["id"])  # stable release order


def test_same_records_in_any_order_give_byte_identical_files(resources_root, tmp_path):
    shuffled = records()
    random.Random(3).shuffle(shuffled)
    first = release(resources_root, tmp_path / "a", records())
    second = release(resources_root, tmp_path / "b", shuffled)
    assert first.content_hash == second.content_hash
    for path in sorted(first.path.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (second.path / path.relative_to(first.path)).read_bytes(), path
    metadata = pq.ParquetFile(first.path / "data/all/test-00000-of-00001.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_identical_rebuild_is_a_reported_noop(resources_root, releases_root):
    first = release(resources_root, releases_root, records())
    again = write_release(quiz_benchmark(), quiz_splits(quiz_benchmark(), records()),
                          {**BUILD_REPORT, "costs": {"usd": 9.99}}, releases_root, resources_root=resources_root)
    assert again.noop and again.version == "1.0.0" and again.path == first.path
    assert sorted(p.name for p in (releases_root / "quiz").iterdir()) == ["v1.0.0"]


def test_changed_rebuild_gets_a_patch_version_and_a_changelog(resources_root, releases_root):
    release(resources_root, releases_root, records(40))
    changed = records(37) + [quiz_record(50)]
    changed[0] = quiz_record(0, question="What does person 0 want now?")
    result = release(resources_root, releases_root, changed)
    assert (result.version, result.previous_version, result.noop) == ("1.0.1", "1.0.0", False)
    changelog = (result.path / "CHANGELOG.md").read_text()
    assert changelog.index("## v1.0.1") < changelog.index("## v1.0.0")
    assert "| all | test | 29 | 0 | 3 | 0 | 29 |" in changelog  # q0037..q0039 removed
    assert "| all | validation | 9 | 1 | 0 | 1 | 7 |" in changelog  # q0050 added, q0000 changed
    assert "- removed: `q0037`, `q0038`, `q0039`" in changelog
    assert "- added: `q0050`" in changelog and "- changed: `q0000`" in changelog


def easy_first_benchmark():
    """A benchmark whose first declared config (`easy`, level 1) is empty when only hard items are built."""
    return quiz_benchmark(configs={"easy": lambda r: r["level"] == 1, "hard": lambda r: r["level"] >= 2})


def hard_records(n=40):
    return [r for r in records(n) if r["level"] >= 2]


def test_an_empty_config_is_not_written_and_the_first_non_empty_one_is_the_default(resources_root, releases_root,
                                                                                     tmp_path):
    result = release(resources_root, releases_root, hard_records(), benchmark=easy_first_benchmark())
    assert result.counts == {"hard": {"test": 21, "validation": 5}}
    assert not (result.path / "data" / "easy").exists()
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"] == result.counts and not [f for f in manifest["files"] if "easy" in f]
    card = DatasetCard.load(result.path / "README.md")
    assert card.data.to_dict()["configs"] == [{"config_name": "hard", "default": True, "data_files": [
        {"split": "test", "path": "data/hard/test-*.parquet"},
        {"split": "validation", "path": "data/hard/validation-*.parquet"}]}]
    assert [info["config_name"] for info in card.data.to_dict()["dataset_info"]] == ["hard"]
    assert "| hard (default) | test | 21 |" in card.text
    assert card.text.count("easy") == 1  # only in the note below: no table, snippet or entry for it
    assert 'load_dataset("./releases/quiz/v1.0.0", "hard")' in card.text
    level_table = card.text.split("#### `level`")[1].split("####")[0]
    assert "| 2 | 11 | 2 | 50.0% |" in level_table and "| 1 |" not in level_table  # the hard config's rows
    loaded = datasets.load_dataset(str(result.path), "hard", cache_dir=str(tmp_path / "cache"))
    assert loaded["validation"].num_rows == 5
    # the card and the manifest say why the declared config is missing
    note = ("config(s) without any record in this build, so not released (a release holds no empty file): "
            "`easy`")
    assert result.left_out == (note,)
    assert manifest["build_report"]["notes"] == [note] and note in card.text
    assert "notes" not in BUILD_REPORT  # the caller's report is left as it was


def test_an_empty_split_of_a_non_empty_config_is_left_out_with_a_note(resources_root, releases_root, tmp_path):
    only_test = [r for r in records() if int(r["id"][1:]) % 5 != 0]
    result = release(resources_root, releases_root, only_test)
    assert result.counts == {"all": {"test": 32}, "hard": {"test": 21}}
    files = sorted(p.relative_to(result.path).as_posix() for p in (result.path / "data").rglob("*") if p.is_file())
    assert files == ["data/all/test-00000-of-00001.parquet", "data/hard/test-00000-of-00001.parquet"]
    assert all(pq.read_metadata(result.path / f).num_rows for f in files)  # no file of no rows
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"] == result.counts
    assert [n for n in manifest["build_report"]["notes"] if "`validation`" in n] == [
        "config `all`: split(s) `validation` have no record in this build, so they are not released (a release "
        "holds no empty file)",
        "config `hard`: split(s) `validation` have no record in this build, so they are not released (a release "
        "holds no empty file)"]
    card = DatasetCard.load(result.path / "README.md")
    assert [f["split"] for c in card.data.to_dict()["configs"] for f in c["data_files"]] == ["test", "test"]
    loaded = datasets.load_dataset(str(result.path), "hard", cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["test"]


def test_a_build_reports_own_notes_come_first_and_a_full_release_adds_none(resources_root, releases_root):
    benchmark = quiz_benchmark()
    report = {**BUILD_REPORT, "notes": ["the builder's own note"]}
    full = write_release(benchmark, quiz_splits(benchmark, records()), report, releases_root,
                         resources_root=resources_root)
    assert json.loads((full.path / "manifest.json").read_text())["build_report"]["notes"] == ["the builder's own note"]
    assert full.left_out == ()
    splits = quiz_splits(benchmark, records())
    splits["hard"]["validation"] = []
    partial = write_release(benchmark, splits, report, releases_root, resources_root=resources_root)
    notes = json.loads((partial.path / "manifest.json").read_text())["build_report"]["notes"]
    assert notes[0] == "the builder's own note" and notes[1].startswith("config `hard`: split(s) `validation`")
    assert report["notes"] == ["the builder's own note"]


def test_a_config_that_became_empty_shows_its_rows_as_removed_in_the_changelog(resources_root, releases_root):
    benchmark = easy_first_benchmark()
    release(resources_root, releases_root, records(12), benchmark=benchmark)
    result = release(resources_root, releases_root, hard_records(12), benchmark=benchmark)
    assert set(result.counts) == {"hard"}
    changelog = (result.path / "CHANGELOG.md").read_text()
    assert "| easy | test | 0 | 0 | 3 | 0 | 0 |" in changelog
    assert "| easy | validation | 0 | 0 | 1 | 0 | 0 |" in changelog
    latest = changelog.split("## v1.0.0")[0]
    assert "### easy / test\n\n- removed: `q0003`, `q0006`, `q0009`" in latest
    assert "### easy / validation\n\n- removed: `q0000`" in latest


def test_version_policy_and_requested_versions(resources_root, releases_root):
    assert release(resources_root, releases_root, records(10)).version == "1.0.0"
    assert release(resources_root, releases_root, records(11), bump="minor").version == "1.1.0"
    assert release(resources_root, releases_root, records(12), bump="major").version == "2.0.0"
    assert release(resources_root, releases_root, records(13), version="2.3.4").version == "2.3.4"
    with pytest.raises(VersionError, match="already exists"):
        release(resources_root, releases_root, records(14), version="2.3.4")
    with pytest.raises(VersionError, match="goes backwards"):
        release(resources_root, releases_root, records(14), version="2.0.1")
    with pytest.raises(VersionError, match="unknown bump"):
        release(resources_root, releases_root, records(14), bump="huge")
    with pytest.raises(VersionError, match="not a semantic version"):
        release(resources_root, releases_root, records(14), version="2.4")
    assert sorted(p.name for p in (releases_root / "quiz").iterdir()) == ["v1.0.0", "v1.1.0", "v2.0.0", "v2.3.4"]


def test_large_splits_are_sharded(resources_root, releases_root, monkeypatch, tmp_path):
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 10)
    result = release(resources_root, releases_root, records(40))
    shards = sorted(p.name for p in (result.path / "data" / "all").iterdir())
    assert shards == [
        "test-00000-of-00004.parquet", "test-00001-of-00004.parquet", "test-00002-of-00004.parquet",
        "test-00003-of-00004.parquet", "validation-00000-of-00001.parquet",
    ]
    loaded = datasets.load_dataset(str(result.path), "all", cache_dir=str(tmp_path / "cache"))
    assert loaded["test"].num_rows == 32 and loaded["test"]["id"] == sorted(loaded["test"]["id"])


def test_disk_full_while_writing_leaves_no_release(resources_root, releases_root, monkeypatch):
    real_writer = parquet_io.pq.ParquetWriter
    calls = []

    class DiskFillingWriter(real_writer):
        def write_table(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:  # the third row group written
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write_table(*args, **kwargs)

    monkeypatch.setattr(parquet_io.pq, "ParquetWriter", DiskFillingWriter)
    with pytest.raises(OSError) as error:
        release(resources_root, releases_root, records())
    assert error.value.errno == errno.ENOSPC
    assert list((releases_root / "quiz").iterdir()) == []  # no version folder, no staging folder

    monkeypatch.setattr(parquet_io.pq, "ParquetWriter", real_writer)
    assert release(resources_root, releases_root, records()).version == "1.0.0"


def test_a_killed_write_is_not_mistaken_for_a_release(resources_root, releases_root):
    leftover = releases_root / "quiz" / ".staging-abc"
    (leftover / "data").mkdir(parents=True)  # what a killed process leaves behind
    (releases_root / "quiz" / "v9.0.0").mkdir()  # a version folder without manifest.json
    result = release(resources_root, releases_root, records())
    assert (result.version, result.previous_version) == ("1.0.0", None)


@pytest.mark.parametrize(
    "splits, message",
    [
        ({"all": {"test": []}, "hard": {"test": [], "validation": []}}, "nothing to release"),
        ({"all": {"test": []}, "other": {"test": []}}, r"configs \['other'\] are not declared"),
        ({"all": {"test-x": []}}, "must use only letters"),
        ({"all": {"test": [quiz_record(1), quiz_record(1)]}}, r"duplicate id values \['q0001'\]"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_written(resources_root, releases_root, splits, message):
    with pytest.raises(ValueError, match=message):
        write_release(quiz_benchmark(), splits, BUILD_REPORT, releases_root, resources_root=resources_root)
    assert not list(releases_root.glob("quiz/*"))


def test_missing_schema_names_the_file_to_add(tmp_path, releases_root):
    with pytest.raises(FileNotFoundError, match=r"quiz\.schema\.json"):
        write_release(quiz_benchmark(), {"all": {"test": [quiz_record(1)]}}, {}, releases_root,
                      resources_root=tmp_path)


# --- configs derived from one encoding of the split ------------------------------------------------


def direct_shards(tmp_path, benchmark, records, config, split):
    """A config/split written from its own records (sorted by the release order): the reference
    bytes the derived path must reproduce."""
    ordered = sorted(records, key=lambda record: record["id"])
    written = parquet_io.write_split(ordered, parse_json_schema(QUIZ_SCHEMA), arrow_schema_from_json_schema(QUIZ_SCHEMA),
                                     tmp_path / "direct", config, split,
                                     describe=lambda record: f"{config}/{split} record id={record['id']!r}")
    return [(tmp_path / "direct" / path).read_bytes() for path in written.paths]


@pytest.mark.parametrize("batch_rows, row_group_rows", [(10_000, 10_000), (7, 4), (3, 5)])
def test_a_derived_config_is_byte_identical_to_one_encoded_directly(resources_root, releases_root, tmp_path,
                                                                    monkeypatch, batch_rows, row_group_rows):
    monkeypatch.setattr(writer_module, "ENCODE_BATCH_ROWS", batch_rows)  # batches and row groups unaligned
    monkeypatch.setattr(parquet_io, "ROW_GROUP_SIZE", row_group_rows)
    monkeypatch.setattr(parquet_io, "MAX_ROWS_PER_SHARD", 12)
    shuffled = records(60)
    random.Random(5).shuffle(shuffled)
    benchmark = quiz_benchmark()
    splits = quiz_splits(benchmark, shuffled)
    result = write_release(benchmark, splits, BUILD_REPORT, releases_root, resources_root=resources_root)
    for config, by_split in splits.items():
        for split, members in by_split.items():
            released = sorted((result.path / "data" / config).glob(f"{split}-*.parquet"))
            assert [path.read_bytes() for path in released] == direct_shards(tmp_path, benchmark, members, config, split)
    hard_test = pq.read_table(sorted((result.path / "data" / "hard").glob("test-*.parquet")))
    assert hard_test["id"].to_pylist() == sorted(r["id"] for r in splits["hard"]["test"])


def test_configs_with_different_objects_for_one_id_are_each_encoded_from_their_own_records(
        resources_root, releases_root, tmp_path):
    """The union of a split's records is by object: when two configs hold different records under
    one id, sort keys repeat, a mask cannot say which is which, and each config is encoded alone."""
    benchmark = quiz_benchmark(configs={"all": lambda r: True, "hard": lambda r: True})
    base = records(20)
    edited = [dict(record, question=record["question"] + " (hard)") for record in base[:8]]
    splits = {"all": {"test": base}, "hard": {"test": edited}}
    result = write_release(benchmark, splits, BUILD_REPORT, releases_root, resources_root=resources_root)
    for config, members in (("all", base), ("hard", edited)):
        released = sorted((result.path / "data" / config).glob("test-*.parquet"))
        assert [path.read_bytes() for path in released] == direct_shards(tmp_path / config, benchmark, members,
                                                                         config, "test")


def test_a_bad_record_is_named_by_the_first_config_that_holds_it(resources_root, releases_root):
    benchmark = quiz_benchmark()
    rows = records(12)
    bad = dict(quiz_record(2), answer_idx="2")  # level 3: in `all` and `hard`
    splits = {"all": {"test": [r for r in rows if r["id"] != "q0002"]},
              "hard": {"test": [bad if r["id"] == "q0002" else r for r in rows if r["level"] >= 2]}}
    with pytest.raises(RecordShapeError, match=r"hard/test record id='q0002'\.answer_idx: expected integer"):
        write_release(benchmark, splits, BUILD_REPORT, releases_root, resources_root=resources_root)
    assert list((releases_root / "quiz").iterdir()) == []
