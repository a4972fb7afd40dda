"""How many requests may be in flight, and how fast they may start.

`AdaptiveLimiter` is an AIMD concurrency limit per model (as in NeMo Data Designer): a 429
shrinks it by a quarter and pauses new starts briefly; a run of successes grows it back by one.
RPM/TPM budgets, when the user states them, are leaky buckets from `aiolimiter`.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

DECREASE_FACTOR = 0.75
SUCCESSES_TO_GROW = 25
COOLDOWN_SECONDS = 2.0


class AdaptiveLimiter:
    def __init__(self, maximum: int):
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._paused_until = 0.0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> "AdaptiveLimiter":
        async with self._changed:
            while self.in_flight >= self.limit:
                await self._changed.wait()
            self.in_flight += 1
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        return self

    async def __aexit__(self, *exc) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def record_success(self) -> None:
        self._successes += 1
        if self._successes >= SUCCESSES_TO_GROW and self.limit < self.maximum:
            self.limit += 1
            self._successes = 0

    def record_rate_limited(self, retry_after: float | None) -> None:
        self.limit = max(1, int(self.limit * DECREASE_FACTOR))
        self._successes = 0
        self._paused_until = max(self._paused_until, time.monotonic() + (retry_after or COOLDOWN_SECONDS))


class RateBudget:
    """Optional requests-per-minute and tokens-per-minute buckets."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self._requests = AsyncLimiter(rpm, 60) if rpm else None
        self._tokens = AsyncLimiter(tpm, 60) if tpm else None
        self._tpm = tpm

    async def acquire(self, estimated_tokens: int) -> None:
        if self._requests:
            await self._requests.acquire()
        if self._tokens:
            await self._tokens.acquire(min(max(1, estimated_tokens), self._tpm))
