"""Requests, cache hits, tokens and estimated cost per model and step, and the --max-cost budget.

The budget is kept by reservation: before a request leaves, its worst-case cost (every byte of the
prompt a token, and all of max_tokens) is reserved; when its reply is booked at its real cost the
reservation is released. A request whose worst case does not fit next to what is spent and what
replies still on the wire may cost waits for them, or, with nothing on the wire, stops the build.
So the spend stays within --max-cost however many requests are in flight, unless a provider bills
more than the worst case it was reserved at.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import BudgetExceeded, ConfigError, usd

PRICES_FILE = Path(__file__).with_name("prices.json")


def load_prices() -> dict[str, dict[str, float]]:
    """USD per million input/output tokens, by model string; update the file as prices change."""
    return json.loads(PRICES_FILE.read_text())["usd_per_million_tokens"]


def parse_price_per_mtok(text: str) -> tuple[float, float]:
    """--price-per-mtok IN,OUT: USD per million input and output tokens, e.g. 0.15,0.60."""
    parts = text.split(",")
    try:
        prices = tuple(float(part) for part in parts)
    except ValueError:
        prices = ()
    if len(prices) != 2 or not all(math.isfinite(p) and p >= 0 for p in prices):
        raise argparse.ArgumentTypeError(f"expected IN,OUT: two non-negative USD prices per million input and "
                                         f"output tokens, e.g. 0.15,0.60; got {text!r}")
    return prices


def load_batch_discounts() -> dict[str, float]:
    """Price factor of each provider's batch API (0.5: half the online price)."""
    return json.loads(PRICES_FILE.read_text()).get("batch_price_factor", {})


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
    # replies whose reported token counts could not be true (more output than max_tokens allows, or
    # none reported for a reply refused unread): booked at the most the request could have cost
    tokens_corrected: int = 0


class Accounting:
    """Usage per (model, step); `price_per_mtok` (USD per million input and output tokens) prices
    every model of this accounting in place of prices.json (for a model it does not list)."""

    def __init__(self, max_cost: float | None = None, price_per_mtok: tuple[float, float] | None = None):
        self.max_cost = max_cost
        self.by_model_step: dict[tuple[str, str], Usage] = defaultdict(Usage)
        self.failed_requests: list[dict] = []  # every request given up, with its reason (for the build report)
        self._prices = load_prices()
        self._batch_discount = load_batch_discounts()
        self.batch_status = None  # batch mode: a callable giving the progress line's batch part
        self._price_override = None if price_per_mtok is None else \
            {"input": float(price_per_mtok[0]), "output": float(price_per_mtok[1])}
        self.reserved = 0.0  # worst-case cost of the requests on the wire
        self._reservations = 0
        self._room_waiters: list[asyncio.Future] = []
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

    @property
    def in_flight(self) -> int:
        """Requests on the wire now (what the live progress shows)."""
        return self._in_flight

    def price_of(self, model: str, *, batch: bool = False) -> dict[str, float] | None:
        """USD per million tokens; through a provider's batch API, its batch discount applies (to a
        --price-per-mtok price too, which is the online price)."""
        if self._price_override is not None:
            price = dict(self._price_override)
        elif model.startswith("local:") or model.startswith("openai-compatible:"):
            return {"input": 0.0, "output": 0.0}
        else:
            price = self._prices.get(model)
        if price is None or not batch:
            return price
        factor = self._batch_discount.get(model.partition(":")[0], 1.0)
        return {side: value * factor for side, value in price.items()}

    def check_budget_is_enforceable(self, model: str) -> None:
        """A --max-cost that cannot stop anything (the model's price unknown or zero) is refused."""
        if self.max_cost is None:
            return
        price = self.price_of(model)
        if price is None:
            why = f"its price is not in {PRICES_FILE}"
        elif price["input"] <= 0 and price["output"] <= 0:
            why = "its price is zero, so no spend would ever reach the budget"
        else:
            return
        raise ConfigError(f"--max-cost cannot be enforced for {model}: {why}. Give its price with "
                          "--price-per-mtok IN,OUT (USD per million input and output tokens, e.g. "
                          "--price-per-mtok 0.15,0.60), or drop --max-cost")

    def cost_of(self, model: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        price = self.price_of(model, batch=batch) or {"input": 0.0, "output": 0.0}
        return (input_tokens * price["input"] + output_tokens * price["output"]) / 1e6

    def usage(self, model: str, step: str) -> Usage:
        return self.by_model_step[(model, step)]

    def add_tokens(self, model: str, step: str, input_tokens: int, output_tokens: int, *, batch: bool = False) -> None:
        usage = self.usage(model, step)
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        usage.cost_usd += self.cost_of(model, input_tokens, output_tokens, batch=batch)

    async def reserve(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Reserve a request's worst-case cost before it leaves; the amount reserved (0 without a budget).

        Waits while replies on the wire hold the room it needs; raises BudgetExceeded when the budget
        is used up, or when the request could cost more than is left and nothing on the wire will
        free any."""
        (cost,) = await self.reserve_round(model, [(input_tokens, output_tokens)], batch=False)
        return cost

    async def reserve_round(self, model: str, worst: list[tuple[int, int]], *, batch: bool = True) -> list[float]:
        """Reserve several requests at once, all or none (a batch round cannot be half submitted):
        each one's worst-case cost. Waits while others hold the room; BudgetExceeded when they cannot
        fit (`next_request` is then their whole worst case)."""
        if self.max_cost is None:
            return [0.0] * len(worst)
        costs = [self.cost_of(model, i, o, batch=batch) for i, o in worst]
        total = sum(costs)
        while True:
            spent = self.total_cost
            if spent >= self.max_cost:
                raise BudgetExceeded(self.max_cost, lambda: self.total_cost)
            if spent + self.reserved + total <= self.max_cost:
                self.reserved += total
                self._reservations += len(costs)
                return costs
            if self._reservations == 0:
                raise BudgetExceeded(self.max_cost, lambda: self.total_cost, next_request=total)
            await self._room_freed()

    def settle(self, reservation: float, model: str, step: str, input_tokens: int, output_tokens: int, *,
               batch: bool = False) -> None:
        """Book a reply at its real cost in place of its reservation (booked first: the spend plus
        what is reserved never dips below the truth in between)."""
        self.add_tokens(model, step, input_tokens, output_tokens, batch=batch)
        self.release(reservation)

    def release(self, reservation: float) -> None:
        """A reservation given back: its request failed without a reply, or its reply is booked."""
        if self.max_cost is None:
            return
        self._reservations -= 1
        # Summed floats drift: with nothing on the wire, nothing is reserved.
        self.reserved = self.reserved - reservation if self._reservations else 0.0
        waiters, self._room_waiters = self._room_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _room_freed(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._room_waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._room_waiters:
                self._room_waiters.remove(waiter)

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

    def report(self) -> dict:
        rows = [{"model": model, "step": step, **asdict(usage)}
                for (model, step), usage in sorted(self.by_model_step.items())]
        # Sorted: concurrent requests fail in any order, the report should not.
        failed = sorted(self.failed_requests, key=lambda f: (f["model"], f["step"], f["request_hash"], f["reason"]))
        # spent_usd is the figure a budget stop message states (to a millionth of a dollar)
        budget = {"max_cost_usd": self.max_cost, "spent_usd": float(usd(self.total_cost)),
                  "price_per_mtok": self._price_override}
        return {"by_model_step": rows, "total": asdict(self.totals()), "failed_requests": failed, "budget": budget}
