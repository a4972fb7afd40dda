"""Reaching --n: records beyond it are reported, and a unit released only in part is named."""

from __future__ import annotations

import asyncio

from builders.benchmark import Benchmark
from builders.pipeline import Batch, BuildReport, collect

SCHEMA = {"type": "object", "required": ["id", "unit", "text"],
          "properties": {"id": {"type": "string"}, "unit": {"type": "string"}, "text": {"type": "string"}}}
DEMO = Benchmark(name="demo", pretty_name="Demo", id_field="id", group=lambda r: r["unit"],
                 dedup_text=lambda r: r["text"], configs={"all": lambda r: True})


def unit(name: str, size: int) -> Batch:
    """One unit of work (a conversation, say) and its records, with distinct texts."""
    return Batch([{"id": f"{name}-{i}", "unit": name,
                   "text": f"{name} item {i}: " + " ".join(f"w{name}{i}x{k}" for k in range(12))}
                  for i in range(size)], counts={"units": 1})


def run(batches: list[Batch], n: int):
    async def generate():
        for batch in batches:
            yield batch

    report = BuildReport()
    return asyncio.run(collect(DEMO, SCHEMA, generate(), report, n)), report


def test_records_beyond_n_are_rejects_and_the_truncated_unit_is_named():
    collected, report = run([unit("a", 6), unit("b", 11), unit("c", 5)], n=10)
    assert len(collected.kept) == 10 and report.funnel["cut at --n"] == 7
    cut = [r for r in report.rejects if r["stage"] == "cut at --n"]
    assert [r["record"]["id"] for r in cut] == [f"b-{i}" for i in range(4, 11)]
    assert all(r["reason"] == "--n 10 reached: 4 of 11 records of its unit released" for r in cut)
    assert report.notes == ["--n 10 reached inside 1 unit(s), released in part: b (4 of 11) "
                            "(the rest are rejects 'cut at --n')"]
    assert list(report.funnel)[-3:] == ["passed validation", "after dedup", "cut at --n"]


def test_a_build_that_ends_on_a_unit_boundary_reports_no_cut():
    collected, report = run([unit("a", 5), unit("b", 5)], n=10)
    assert len(collected.kept) == 10 and "cut at --n" not in report.funnel and not report.notes
