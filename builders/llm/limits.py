"""How many requests may be in flight, and how fast they may start.

`AdaptiveLimiter` is an AIMD concurrency limit per model (as in NeMo Data Designer): a 429
shrinks it by a quarter and pauses new starts briefly; a run of successes grows it back by one.
RPM/TPM budgets, when the user states them, are leaky buckets from `aiolimiter`. The RPM bucket
holds one second's worth of requests, not a minute's: providers enforce "600 RPM" as about 10
per second, so a minute-sized burst at start would be answered with 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from aiolimiter import AsyncLimiter

DECREASE_FACTOR = 0.75
SUCCESSES_TO_GROW = 25
COOLDOWN_SECONDS = 2.0


class AdaptiveLimiter:
    """At most `limit` requests in flight; waiters get freed slots first come, first served.

    A freed slot is handed to exactly one waiter (a condition variable's notify_all would wake
    all of them, thousands when a builder queues a whole batch, to find one slot)."""

    def __init__(self, maximum: int):
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._successes = 0
        self._paused_until = 0.0
        self._waiters: deque[asyncio.Future] = deque()

    async def __aenter__(self) -> "AdaptiveLimiter":
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
        else:
            slot = asyncio.get_running_loop().create_future()
            self._waiters.append(slot)
            try:
                await slot  # resolved by _hand_over, which already counted us in flight
            except asyncio.CancelledError:
                if not slot.cancelled():  # the slot arrived just as we were cancelled: give it back
                    self._release()
                raise
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        return self

    async def __aexit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            slot = self._waiters.popleft()
            if not slot.done():  # a cancelled waiter left its future behind
                self.in_flight += 1
                slot.set_result(None)

    def record_success(self) -> None:
        self._successes += 1
        if self._successes >= SUCCESSES_TO_GROW and self.limit < self.maximum:
            self.limit += 1
            self._successes = 0
            self._hand_over()

    def record_rate_limited(self, retry_after: float | None) -> None:
        now = time.monotonic()
        # The other requests of the same burst were sent before the first 429 came back; their
        # 429s are the same signal, so the limit shrinks once per pause, not once per reply.
        if now >= self._paused_until:
            self.limit = max(1, int(self.limit * DECREASE_FACTOR))
        self._successes = 0
        self._paused_until = max(self._paused_until, now + (retry_after or COOLDOWN_SECONDS))


class RateBudget:
    """Optional requests-per-minute and tokens-per-minute buckets."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self._requests = _one_second_bucket(rpm) if rpm else None
        self._tokens = AsyncLimiter(tpm, 60) if tpm else None
        self._tpm = tpm

    async def acquire(self, estimated_tokens: int) -> None:
        if self._requests:
            await self._requests.acquire()
        if self._tokens:
            await self._tokens.acquire(min(max(1, estimated_tokens), self._tpm))


def _one_second_bucket(per_minute: float) -> AsyncLimiter:
    """A bucket holding one second's worth (at least 1) that refills at per_minute / 60 a second."""
    capacity = max(1.0, per_minute / 60)
    return AsyncLimiter(capacity, capacity * 60 / per_minute)
