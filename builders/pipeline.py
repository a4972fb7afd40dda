"""One build, from a builder's batches of candidate records to a written release.

The builder's `generate(ctx)` yields batches in a deterministic order. This module validates and
deduplicates them as they arrive, stops the generator once `--n` records are kept, then splits
them and writes the release. Everything a release contains is a function of the config and the
response cache; timings and what this particular run paid go to a separate build report.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from .benchmark import Benchmark
from .dedup import dedup_records
from .llm import LLM, ledger
from .llm.ledger import Ledger
from .splits import assign_splits
from .validate import RecordValidator, validate_records

Record = dict


@dataclass
class Batch:
    """What a builder yields: candidate records plus the funnel counts and rejects behind them.

    Counting in the batch (not in concurrent workers) keeps the funnel deterministic: only work
    whose batch the pipeline consumed is counted, however far ahead the workers ran.
    """

    records: list[Record]
    counts: dict[str, int] = field(default_factory=dict)  # funnel stage -> how many reached it
    rejects: list[dict] = field(default_factory=list)  # {"stage", "reason", "record"}


PIPELINE_STAGES = ("candidates", "passed validation", "after dedup", "cut at --n", "released")


class BuildReport:
    """The funnel (stage -> count) and the rejects with reasons.

    The builder's own stages come first, in the order they first appear, then the pipeline's
    stages in pipeline order, so the funnel reads top to bottom like the build ran.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self.rejects: list[dict] = []
        self.notes: list[str] = []
        self.sources: dict = {}  # what the source loaders found (builders.sources): build report only

    @property
    def funnel(self) -> dict[str, int]:
        builder = {s: k for s, k in self._counts.items() if s not in PIPELINE_STAGES}
        return {**builder, **{s: self._counts[s] for s in PIPELINE_STAGES if s in self._counts}}

    def count(self, stage: str, k: int = 1) -> None:
        self._counts[stage] = self._counts.get(stage, 0) + k

    def reject(self, stage: str, reason: str, record: Any = None) -> None:
        self.rejects.append({"stage": stage, "reason": reason, "record": record})

    def add_batch(self, batch: Batch) -> None:
        for stage, k in batch.counts.items():
            self.count(stage, k)
        self.rejects.extend(batch.rejects)

    def reject_summary(self) -> dict[str, dict[str, int]]:
        """Reject counts per stage and reason class (the reason up to its first colon)."""
        summary: dict[str, Counter] = {}
        for reject in self.rejects:
            reason = str(reject["reason"]).split(":")[0][:80]
            summary.setdefault(reject["stage"], Counter())[reason] += 1
        return {stage: dict(sorted(c.items())) for stage, c in sorted(summary.items())}


@dataclass
class BuildContext:
    args: Any
    llm: LLM
    judge: LLM
    seed: int
    report: BuildReport
    kept: Callable[[], int]  # how many records are kept so far

    def needed(self) -> int:
        """How many more records the build still wants."""
        return max(0, self.args.n - self.kept())


async def ordered_map(function: Callable[[Any], Awaitable[Any]], items: Iterable[Any], *,
                      concurrency: int) -> AsyncIterator[Any]:
    """Run `function` over `items` with at most `concurrency` in flight; yield results in input order.

    Work runs ahead of the consumer by at most `concurrency` items; closing the generator cancels
    whatever is still running (its paid replies are already in the response cache).
    """
    iterator = iter(items)
    pending: list[tuple[asyncio.Task, Ledger]] = []

    async def consume() -> Any:
        # The item's calls count toward the release only once its result is consumed (see
        # builders.llm.ledger): work run ahead and cancelled when the build stops is not counted.
        task, item_ledger = pending.pop(0)
        result = await task
        if (parent := ledger.CURRENT.get()) is not None:
            parent.merge(item_ledger)
            parent.ahead.merge(item_ledger.ahead)
        return result

    try:
        for item in iterator:
            item_ledger = Ledger()
            context = contextvars.copy_context()
            context.run(ledger.CURRENT.set, item_ledger)
            pending.append((asyncio.get_running_loop().create_task(function(item), context=context), item_ledger))
            if len(pending) >= concurrency:
                yield await consume()
        while pending:
            yield await consume()
    finally:
        unconsumed = [task for task, _ in pending]
        for task in unconsumed:
            task.cancel()
        await asyncio.gather(*unconsumed, return_exceptions=True)
        if (parent := ledger.CURRENT.get()) is not None:
            for _, item_ledger in pending:  # paid for, but not part of the release: said so in the build report
                parent.ahead.merge(item_ledger)
                parent.ahead.merge(item_ledger.ahead)


@dataclass
class Collected:
    kept: list[Record]
    dedup_stats: dict
    removed: list[dict]
    exhausted: bool  # the builder ran out of work before reaching --n
    calls: Ledger = field(default_factory=Ledger)  # model calls of the consumed work (builders.llm.ledger)


async def collect(benchmark: Benchmark, schema: dict, batches: AsyncIterator, report: BuildReport, n: int,
                  on_progress: Callable[[int], None] = lambda kept: None,
                  dedup_options: dict | None = None) -> Collected:
    """Validate batches as they come; deduplicate whenever enough are valid; stop at n kept."""
    validator = RecordValidator(schema, benchmark.checks)  # compiled once for the whole build
    valid: list[Record] = []
    kept: list[Record] = []
    dedup = None
    exhausted = True
    calls = Ledger()  # what the consumed work asked of the models (builders.llm.ledger)
    token = ledger.CURRENT.set(calls)
    try:
        async for batch in batches:
            if not isinstance(batch, Batch):
                batch = Batch(records=list(batch))
            report.add_batch(batch)
            report.count("candidates", len(batch.records))
            good, bad = validate_records(batch.records, validator)
            report.rejects.extend(bad)
            report.count("passed validation", len(good))
            valid.extend(good)
            if len(valid) >= n:  # dedup only when it can decide whether we are done
                dedup = _dedup(benchmark, valid, dedup_options)
                kept = dedup.kept
            on_progress(min(len(kept) if dedup else 0, n))
            if len(kept) >= n:
                exhausted = False
                break
    finally:
        await batches.aclose()
        ledger.CURRENT.reset(token)
    dedup = _dedup(benchmark, valid, dedup_options)
    report.count("after dedup", len(dedup.kept))
    _report_cut(benchmark, dedup.kept, n, report)
    return Collected(kept=dedup.kept[:n], dedup_stats=dedup.stats, removed=dedup.removed, exhausted=exhausted,
                     calls=calls)


def _report_cut(benchmark: Benchmark, kept: list[Record], n: int, report: BuildReport) -> None:
    """Valid records beyond --n were paid for too: each is a reject saying so, and a unit (a split
    group: a conversation, a scene...) released only in part is named in the notes."""
    beyond = kept[n:]
    if not beyond:
        return
    report.count("cut at --n", len(beyond))
    sizes = Counter(benchmark.group(record) for record in kept)
    released = Counter(benchmark.group(record) for record in kept[:n])
    for record in beyond:
        group = benchmark.group(record)
        report.reject("cut at --n", f"--n {n} reached: {released[group]} of {sizes[group]} records of its unit "
                      "released", {benchmark.id_field: record[benchmark.id_field], "unit": group})
    partial = sorted(group for group in released if released[group] < sizes[group])
    if partial:
        report.notes.append(f"--n {n} reached inside {len(partial)} unit(s), released in part: "
                            + "; ".join(f"{group} ({released[group]} of {sizes[group]})" for group in partial)
                            + " (the rest are rejects 'cut at --n')")


def _dedup(benchmark: Benchmark, records: list[Record], options: dict | None):
    return dedup_records(records, key=benchmark.id_field, text=benchmark.dedup_text, **(options or {}))


def split_by_config(benchmark: Benchmark, records: list[Record], ratios: dict[str, float],
                    seed: int) -> dict[str, dict[str, list[Record]]]:
    """config -> split -> records. Splits are assigned once, on all records, so a record lands in
    the same split in every config it belongs to."""
    splits = assign_splits(records, group=benchmark.group, ratios=ratios, seed=seed)
    return {config: {split: [r for r in rows if member(r)] for split, rows in splits.items()}
            for config, member in benchmark.configs.items()}


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stages: dict[str, float] = {}
        self._last = self.started

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.stages[stage] = round(now - self._last, 3)
        self._last = now

    @property
    def total(self) -> float:
        return round(time.perf_counter() - self.started, 3)
