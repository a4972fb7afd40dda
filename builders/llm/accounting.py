"""Requests, cache hits, tokens and estimated cost per model and step."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BudgetExceeded

PRICES_FILE = Path(__file__).with_name("prices.json")


def load_prices() -> dict[str, dict[str, float]]:
    """USD per million input/output tokens, by model string; update the file as prices change."""
    return json.loads(PRICES_FILE.read_text())["usd_per_million_tokens"]


@dataclass
class Usage:
    requests: int = 0  # calls sent to the provider (each retry counts)
    cache_hits: int = 0
    failures: int = 0  # requests given up after their retries
    retries: int = 0  # transport retries (429, 5xx, timeouts): the network's cost, not the model's
    reasks: int = 0  # requests repeating a refused reply (invalid JSON or schema, or a builder's check)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Accounting:
    def __init__(self, max_cost: float | None = None):
        self.max_cost = max_cost
        self.by_model_step: dict[tuple[str, str], Usage] = defaultdict(Usage)
        self.failed_requests: list[dict] = []  # every request given up, with its reason (for the build report)
        self._prices = load_prices()
        # Wall time during which at least one request was on the wire: the rest of a build's time
        # is the toolkit's own overhead (what the ToMATO benchmark reports).
        self.busy_seconds = 0.0
        self._in_flight = 0
        self._busy_since = 0.0

    def request_started(self) -> None:
        if self._in_flight == 0:
            self._busy_since = time.perf_counter()
        self._in_flight += 1

    def request_finished(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self.busy_seconds += time.perf_counter() - self._busy_since

    def price_of(self, model: str) -> dict[str, float] | None:
        if model.startswith("local:") or model.startswith("openai-compatible:"):
            return {"input": 0.0, "output": 0.0}
        return self._prices.get(model)

    def usage(self, model: str, step: str) -> Usage:
        return self.by_model_step[(model, step)]

    def add_tokens(self, model: str, step: str, input_tokens: int, output_tokens: int) -> None:
        usage = self.usage(model, step)
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        price = self.price_of(model) or {"input": 0.0, "output": 0.0}
        usage.cost_usd += (input_tokens * price["input"] + output_tokens * price["output"]) / 1e6

    def record_failure(self, model: str, step: str, *, request_hash: str, reason: str, attempts: int) -> None:
        """A request given up after its retries: counted, and listed with its reason."""
        self.usage(model, step).failures += 1
        self.failed_requests.append({"model": model, "step": step, "request_hash": request_hash,
                                     "reason": reason, "attempts": attempts})

    @property
    def total_cost(self) -> float:
        return sum(u.cost_usd for u in self.by_model_step.values())

    def totals(self) -> Usage:
        total = Usage()
        for usage in self.by_model_step.values():
            for name, value in asdict(usage).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def check_budget(self) -> None:
        if self.max_cost is not None and self.total_cost >= self.max_cost:
            raise BudgetExceeded(
                f"the --max-cost budget of ${self.max_cost:g} is spent (${self.total_cost:.4f} so far). "
                "Everything paid for is in the response cache: run the same command with a higher "
                "--max-cost to continue where this build stopped.")

    def report(self) -> dict:
        rows = [{"model": model, "step": step, **asdict(usage)}
                for (model, step), usage in sorted(self.by_model_step.items())]
        # Sorted: concurrent requests fail in any order, the report should not.
        failed = sorted(self.failed_requests, key=lambda f: (f["model"], f["step"], f["request_hash"], f["reason"]))
        return {"by_model_step": rows, "total": asdict(self.totals()), "failed_requests": failed}
