"""`python -m release export`: a release folder written out in the original benchmark's file layout.

For each benchmark, a fake build's records are released with the real writer; what the command
exports from the release folder must equal what the builder's own export makes of the records.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

from builders.litchartom.export import original_files
from builders.moral_roleplay.export import export_compat as moral_export
from builders.personaeval.export import PUBLISHED_COLUMNS, export_csv
from builders.tomato.export import FILES as TOMATO_FILES
from builders.tomato.export import dumps as tomato_dumps
from builders.tomato.export import export_compat as tomato_export
from release.__main__ import main
from release.export import builder_benchmark, export_release, release_records
from tests.support.fake_releases import BENCHMARKS, fake_records, write_fake_release


@pytest.fixture(scope="module")
def release_of(tmp_path_factory):
    """name -> (the fake build's records, the release folder written from them), built once."""
    made = {}

    def get(name: str):
        if name not in made:
            records = fake_records(name)
            made[name] = records, write_fake_release(name, records, tmp_path_factory.mktemp("releases"))
        return made[name]

    return get


@pytest.fixture(params=BENCHMARKS)
def built(request, release_of):
    """(benchmark name, the build's records, the release folder written from them)."""
    return (request.param, *release_of(request.param))


def in_release_order(name: str, records: list[dict]) -> list[dict]:
    return sorted(records, key=builder_benchmark(name).sort_key)


def files_of(folder) -> dict[str, bytes]:
    """Relative path -> bytes of every file under `folder` (PersonaEval's export has data/ and configs/)."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_export_from_the_release_equals_the_builders_export_of_the_records(built, tmp_path, capsys):
    name, records, release = built
    assert main(["export", str(release), "--format", "original", "--out", str(tmp_path / "release")]) == 0
    exported = files_of(tmp_path / "release")
    assert str(tmp_path / "release") in capsys.readouterr().out  # says what it wrote

    reference = tmp_path / "records"
    if name == "tomato":
        tomato_export(records, reference)
    elif name == "personaeval":  # rows keep the order they are given: the release's
        export_csv(in_release_order(name, records), reference)
    elif name == "moral_roleplay":
        moral_export(records, reference)
    if name == "litchartom":  # the builder gives the files' contents; the command writes them
        expected = original_files(in_release_order(name, records))
        assert set(exported) == set(expected)
        for file_name, rows in expected.items():
            assert rows and json.loads(exported[file_name]) == rows
            assert exported[file_name] == (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode()
    else:
        assert exported == files_of(reference)
    assert all(exported.values())


def test_tomato_files_are_the_originals_format_re_dumping_gives_the_same_bytes(release_of, tmp_path):
    records, release = release_of("tomato")
    counts = export_release(release, tmp_path)
    assert set(counts) == set(TOMATO_FILES) and counts["tomato.json"] == len(records)
    for file_name in TOMATO_FILES:
        text = (tmp_path / file_name).read_text(encoding="utf-8")
        rows = json.loads(text)
        assert tomato_dumps(rows) == text  # sorted keys, 4-space indent, as the original files
        assert all("provenance" not in row and isinstance(row["u_id"], str) for row in rows)


def test_personaeval_csvs_have_the_columns_the_original_harness_reads(release_of, tmp_path):
    records, release = release_of("personaeval")
    counts = export_release(release, tmp_path)
    tracks = sorted({record["track"] for record in records})
    assert {f"data/{track}.csv" for track in tracks} <= set(counts) and "configs/default.yaml" in counts
    rows = list(csv.DictReader(io.StringIO((tmp_path / "data" / f"{tracks[0]}.csv").read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == PUBLISHED_COLUMNS and len(rows) == counts[f"data/{tracks[0]}.csv"]
    assert all(row["gt"] in {row[f"option{i}"] for i in range(1, 5)} for row in rows)


def test_release_records_are_each_record_once_decoded_in_release_order(built):
    name, records, release = built
    read = release_records(release)
    benchmark = builder_benchmark(name)
    assert [r[benchmark.id_field] for r in read] == [r[benchmark.id_field] for r in in_release_order(name, records)]
    assert isinstance(read[0]["provenance"], dict)  # free-form JSON columns come back as objects


# -- bad input --------------------------------------------------------------------------------------


def test_a_folder_that_is_not_a_release_is_refused_with_the_fix(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="is not a release: it has no manifest.json.*Pass a release folder"):
        export_release(tmp_path, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist; pass a release folder"):
        export_release(tmp_path / "missing", tmp_path / "out")
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert "is neither a release folder (no manifest.json)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unknown_format_is_refused_naming_the_known_ones(release_of, tmp_path, capsys):
    _, release = release_of("tomato")
    with pytest.raises(ValueError, match="unknown export format 'csv'; use one of: original"):
        export_release(release, tmp_path / "out", fmt="csv")
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(release), "--format", "csv", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "invalid choice: 'csv'" in capsys.readouterr().err


def test_an_unknown_benchmark_an_incomplete_release_and_out_inside_the_release_are_refused(release_of, tmp_path):
    name = "personaeval"
    _, release = release_of(name)
    copy = tmp_path / "copy"
    shutil.copytree(release, copy)
    with pytest.raises(ValueError, match="is inside the release folder"):
        export_release(copy, copy / "export")
    manifest = json.loads((copy / "manifest.json").read_text())
    shard = next(path for path in manifest["files"] if path.endswith(".parquet"))
    (copy / shard).unlink()
    with pytest.raises(FileNotFoundError, match=f"is incomplete: {shard} missing"):
        export_release(copy, tmp_path / "out")
    (copy / "manifest.json").write_text(json.dumps({**manifest, "benchmark": "quiz"}))
    with pytest.raises(ValueError, match="release of 'quiz', which has no 'original' export; exports exist for tomato"):
        export_release(copy, tmp_path / "out")
    (copy / "manifest.json").write_text(json.dumps({"benchmark": name}))
    with pytest.raises(ValueError, match="has no 'counts'"):
        export_release(copy, tmp_path / "out")
