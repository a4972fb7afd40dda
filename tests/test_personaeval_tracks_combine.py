"""PersonaEval tracks built one run at a time into one --out combine into one release.

The user's way: `--plays macbeth` (Drama), then `--track literary` into the same --out. The second
version holds both configs, its changelog lists Literary as added and Drama as unchanged (not
removed), Drama's parquet is byte for byte the first version's, and both configs load with
`datasets.load_dataset`. The end-to-end test runs the real command line on the strong-model
stand-in and needs the PDNC corpus (shared/corpora/pdnc); the writer-level tests (rebuilding a
track, the same build again, a release published meanwhile, an incomplete earlier release) use the
fake PersonaEval build of tests/support/fake_releases.py.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import datasets
import pytest

from builders.personaeval.build import BENCHMARK
from builders.pipeline import split_by_config
from release import write_release
from release import writer as writer_module
from release.carried_configs import REPORT_KEY
from release.versioning import VersionError
from tests.support.fake_releases import fake_records
from tests.support.standin_builds import ROOT, run_standin_build, standin_server

pytest.importorskip("builders.sources.plays")

PDNC = next((path for path in (ROOT.parent / "shared" / "corpora" / "pdnc", Path("/work/shared/corpora/pdnc"))
             if (path / "DaisyMiller").is_dir()), None)


def changelog_section(release: Path) -> str:
    """The newest version's entry of CHANGELOG.md."""
    text = (release / "CHANGELOG.md").read_text(encoding="utf-8")
    return text.split("\n## v")[1]


def row_of(section: str, config: str) -> tuple[int, ...]:
    """(rows, added, removed, changed, unchanged) of a config's test split in a changelog entry."""
    match = re.search(rf"^\| {config} \| test \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", section, re.MULTILINE)
    assert match, section
    return tuple(int(n) for n in match.groups())


def loaded_ids(release: Path, config: str, cache: Path) -> list[str]:
    return datasets.load_dataset(str(release), config, split="test", cache_dir=str(cache))["id"]


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.skipif(PDNC is None, reason="the PDNC corpus (shared/corpora/pdnc) is not available")
def test_drama_then_literary_into_one_out_is_one_release_with_both(tmp_path):
    with standin_server("openai") as server:
        first = run_standin_build("builders.personaeval", server, tmp_path, "--plays", "macbeth", n=6)
        assert first.result.returncode == 0, first.result.stderr[-3000:]
        drama_release = first.release
        second = run_standin_build("builders.personaeval", server, tmp_path, "--track", "literary",
                                   "--pdnc-dir", str(PDNC), "--novels", "DaisyMiller", n=4)
    assert second.result.returncode == 0, second.result.stderr[-3000:]
    combined = second.release
    assert (drama_release.name, combined.name) == ("v1.0.0", "v1.0.1")
    drama, literary = first.manifest["counts"]["Drama"]["test"], second.manifest["counts"]["Literary"]["test"]
    assert second.manifest["counts"] == {"Drama": {"test": drama}, "Literary": {"test": literary}}
    assert drama > 0 and literary > 0

    section = changelog_section(combined)
    assert row_of(section, "Drama") == (drama, 0, 0, 0, drama)  # kept, not removed
    assert row_of(section, "Literary") == (literary, literary, 0, 0, 0)
    assert "removed:" not in section
    shard = "data/Drama/test-00000-of-00001.parquet"
    assert (combined / shard).read_bytes() == (drama_release / shard).read_bytes()
    carried = second.manifest["build_report"][REPORT_KEY]
    assert list(carried) == ["Drama"] and carried["Drama"].startswith(f"kept unchanged from v1.0.0 ({drama} records)")
    card = (combined / "README.md").read_text(encoding="utf-8")
    assert "### Carried configs" in card and "- **Drama**" in card and "- **Literary**" in card

    drama_ids = [row["id"] for row in first.records("Drama")]
    assert loaded_ids(combined, "Drama", tmp_path / "hf") == drama_ids
    assert loaded_ids(combined, "Literary", tmp_path / "hf") == [row["id"] for row in second.records("Literary")]


# -- the writer, on the fake build's records ----------------------------------------------------------


@pytest.fixture(scope="module")
def drama() -> list[dict]:
    return fake_records("personaeval")


def as_track(records: list[dict], track: str) -> list[dict]:
    """The records as another track's (new ids: a track's records are its own)."""
    moved = copy.deepcopy(records)
    for record in moved:
        record["track"], record["id"] = track, f"{track.lower()}-{record['id']}"
    return moved


def release(records: list[dict], root: Path):
    return write_release(BENCHMARK, split_by_config(BENCHMARK, records, {"test": 1.0}, 0), {"funnel": {}}, root)


def manifest_of(result) -> dict:
    return json.loads((result.path / "manifest.json").read_text())


def test_rebuilding_a_track_replaces_it_whole_and_keeps_the_others(drama, tmp_path):
    literary = as_track(drama, "Literary")
    release(drama, tmp_path)
    combined = release(literary, tmp_path)
    assert combined.counts == {"Drama": {"test": len(drama)}, "Literary": {"test": len(literary)}}

    fewer = drama[: len(drama) // 2]
    rebuilt = release(fewer, tmp_path)  # Drama again, half as many items
    assert rebuilt.version == "1.0.2" and rebuilt.counts == {"Drama": {"test": len(fewer)},
                                                            "Literary": {"test": len(literary)}}
    section = changelog_section(rebuilt.path)
    assert row_of(section, "Drama") == (len(fewer), 0, len(drama) - len(fewer), 0, len(fewer))
    assert row_of(section, "Literary") == (len(literary), 0, 0, 0, len(literary))
    assert manifest_of(rebuilt)["build_report"][REPORT_KEY] == {
        "Literary": f"kept unchanged from v1.0.1 ({len(literary)} records): this build made none of its records; "
                    "its build report is that version's"}


def test_the_same_track_built_again_is_the_same_release(drama, tmp_path):
    release(drama, tmp_path)
    combined = release(as_track(drama, "Literary"), tmp_path)
    assert set(combined.counts) == {"Drama", "Literary"}
    again = release(as_track(drama, "Literary"), tmp_path)  # with Drama kept, the same content as v1.0.1
    assert again.noop and again.version == combined.version == "1.0.1"
    assert sorted(p.name for p in (tmp_path / "personaeval").glob("v*")) == ["v1.0.0", "v1.0.1"]


def test_a_first_release_carries_nothing(drama, tmp_path):
    first = release(drama, tmp_path)
    assert first.counts == {"Drama": {"test": len(drama)}} and REPORT_KEY not in manifest_of(first)["build_report"]


def test_a_track_another_build_published_meanwhile_is_not_dropped(drama, tmp_path, monkeypatch):
    release(drama, tmp_path)
    carry = writer_module.carry_configs

    def another_build_publishes_first(*args, **kwargs):
        prepared = carry(*args, **kwargs)  # this build read v1.0.0 ...
        with monkeypatch.context() as inner:
            inner.setattr(writer_module, "carry_configs", carry)
            release(as_track(drama, "Script"), tmp_path)  # ... then another build published v1.0.1
        return prepared

    monkeypatch.setattr(writer_module, "carry_configs", another_build_publishes_first)
    with pytest.raises(VersionError, match=r"changed while this build ran \(now v1\.0\.1, v1\.0\.0 when it began\): "
                                           "another build .* Run the same command again"):
        release(as_track(drama, "Literary"), tmp_path)
    monkeypatch.setattr(writer_module, "carry_configs", carry)
    again = release(as_track(drama, "Literary"), tmp_path)  # the rerun the message asks for keeps all three
    assert again.version == "1.0.2" and set(again.counts) == {"Drama", "Literary", "Script"}


def test_an_earlier_release_missing_a_shard_stops_with_the_fix(drama, tmp_path):
    first = release(drama, tmp_path)
    (first.path / "data" / "Drama" / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(VersionError, match=r"the latest release v1\.0\.0 is incomplete .* cannot be kept in the next "
                                           r"version; restore .* from a copy, or move it aside"):
        release(as_track(drama, "Literary"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "personaeval").glob("v*")) == ["v1.0.0"]
