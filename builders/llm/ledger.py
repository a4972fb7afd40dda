"""What a release costs in model calls, counted the same way on every build of it.

`Accounting` counts what *this run* paid (a rebuild from the cache pays nothing). A card needs the
opposite: what producing the release takes from scratch, identical on every build of it. The
ledger counts every call the build's consumed work made, cached or not, with the attempts its
reply originally took (kept in the cache), so:

- requests: attempts a fresh build sends (transport retries are the network's, not the release's);
- re-asks: requests made because an earlier reply was refused, by the LLM layer (invalid JSON or
  schema) or by a builder's own check (`ChatRequest.reask`).

Work done ahead of the pipeline and thrown away when it reached --n must not count, or the figures
would depend on timing. So each unit of concurrent work (`builders.pipeline.ordered_map` item) gets
its own ledger in a context variable, merged into its parent only when its result is consumed.
"""

from __future__ import annotations

import contextvars
from collections import defaultdict
from dataclasses import asdict, dataclass


@dataclass
class StepLedger:
    calls: int = 0  # chat() calls answered (a reply or a final failure)
    requests: int = 0  # attempts sent to the provider to answer them (from scratch)
    reasks: int = 0  # requests that repeat a refused reply (layer re-asks + builder re-asks)
    failed: int = 0  # calls with no usable reply


class Ledger:
    def __init__(self) -> None:
        self.steps: dict[str, StepLedger] = defaultdict(StepLedger)
        # Calls made by work run ahead and never consumed (the build stopped first): paid, cached
        # for a later build, not part of this release. Timing decides how many, so they belong in
        # this run's build report, never in the release.
        self._ahead: Ledger | None = None

    @property
    def ahead(self) -> "Ledger":
        if self._ahead is None:
            self._ahead = Ledger()
        return self._ahead

    def record(self, step: str, *, attempts: int, reask: bool, failed: bool = False) -> None:
        row = self.steps[step]
        row.calls += 1
        row.requests += attempts
        # attempts after the first re-ask the layer made; a builder's re-ask is one more when sent
        row.reasks += max(0, attempts - 1) + (1 if reask and attempts > 0 else 0)
        row.failed += int(failed)

    def merge(self, other: "Ledger") -> None:
        for step, row in other.steps.items():
            mine = self.steps[step]
            for name, value in asdict(row).items():
                setattr(mine, name, getattr(mine, name) + value)

    def totals(self) -> StepLedger:
        total = StepLedger()
        for row in self.steps.values():
            for name, value in asdict(row).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def report(self, released: int) -> dict:
        """Per step and in total: calls, requests, re-asks, re-ask share and requests per released record."""
        def row(values: StepLedger) -> dict:
            body = asdict(values)
            body["reask_share"] = round(values.reasks / values.requests, 4) if values.requests else 0.0
            body["requests_per_record"] = round(values.requests / released, 3) if released else None
            return body

        return {"steps": {step: row(values) for step, values in sorted(self.steps.items())},
                "total": row(self.totals()), "released": released}


CURRENT: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("llm_ledger", default=None)


def record(step: str, *, attempts: int, reask: bool, failed: bool = False) -> None:
    """Count one answered call in the ledger of the work under way (no ledger: nothing to count)."""
    ledger = CURRENT.get()
    if ledger is not None:
        ledger.record(step, attempts=attempts, reask=reask, failed=failed)
