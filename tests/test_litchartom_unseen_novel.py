"""LitCharToM on PDNC novels the project has never seen (issue 20's "done when"): two novels written
by tests/support/pdnc_synthetic.py, one held out, built through the real command line on the
strong-model stand-in. Both record kinds are released, no file of the release is empty, the
characters go by the names a reader knows (never a PDNC epithet), and every record's character
speaks in its plot."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from builders.sources import pdnc
from tests.support.pdnc_synthetic import EPITHETS, READER_NAMES, write_synthetic_novel
from tests.support.standin_builds import run_standin_build, standin_server

HELD_OUT = "TheSaltRoadHome"
IN_DISTRIBUTION = "TheLanternAtHarrowCross"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("unseen")
    write_synthetic_novel(root / "pdnc" / IN_DISTRIBUTION)
    write_synthetic_novel(root / "pdnc" / HELD_OUT, title="The Salt Road Home", author="Edith Marlowe Penrose",
                          author_code="PENR", seed=1)
    with standin_server("openai") as server:
        build = run_standin_build("builders.litchartom", server, root, "--pdnc-dir", str(root / "pdnc"),
                                  "--novels", f"{IN_DISTRIBUTION},{HELD_OUT}", "--ood-works", HELD_OUT, n=12)
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    return build, root / "pdnc"


def test_both_record_kinds_are_released_and_no_file_is_empty(built):
    build, _ = built
    counts = build.manifest["counts"]
    assert counts["current"]["test"] and counts["ood"]["test"]
    files = [p for p in build.release.rglob("*") if p.is_file()]
    assert all(p.stat().st_size for p in files)
    assert all(pq.read_metadata(p).num_rows for p in files if p.suffix == ".parquet")
    notes = build.manifest["build_report"].get("notes") or []
    assert not [n for n in notes if "out-of-distribution" in n or "without any record" in n]
    assert {r["book_name"] for r in build.records("ood")} == {"The Salt Road Home"}


def test_characters_go_by_readers_names_and_speak_in_their_plots(built):
    build, pdnc_dir = built
    works = {work.title: work for work in (pdnc.load_novel(pdnc_dir / name) for name in (IN_DISTRIBUTION, HELD_OUT))}
    rows = build.records("current") + build.records("ood")
    assert {r["character"] for r in rows} <= set(READER_NAMES.values())
    assert not {r["character"] for r in rows} & set(EPITHETS.values())
    for row in rows:
        work = works[row["book_name"]]
        provenance = row["provenance"] if isinstance(row["provenance"], dict) else json.loads(row["provenance"])
        start, end = provenance["source"]["span"]
        speaker = work.resolve(row["character"])
        assert any(t.speaker == speaker and start <= t.span[0] and t.span[1] <= end for t in work.turns), row["character"]
        assert all(t.startswith(f"({row['character']}, ") for t in row["triples"])
