"""Running a protocol's units against the model: concurrently, in release order, with progress.

Units run through `builders.pipeline.ordered_map`, so predictions come back in release order
whatever finished first and the results files do not depend on timing. `BudgetExceeded` is not
caught here: it stops the run, and every reply already paid for is in the response cache, so the
same command with a higher --max-cost resumes without paying twice.
"""

from __future__ import annotations

from collections.abc import Callable

from benchscore.protocol import Context, Prediction, Protocol, Unit
from builders.pipeline import ordered_map


async def run_units(protocol: Protocol, units: list[Unit], ctx: Context, *, concurrency: int,
                    on_progress: Callable[[int], None] = lambda done: None) -> list[Prediction]:
    predictions: list[Prediction] = []
    done = 0
    async for result in ordered_map(lambda unit: protocol.run(unit, ctx), units, concurrency=concurrency):
        predictions += result
        done += 1
        on_progress(done)
    return predictions
