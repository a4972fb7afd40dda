"""Errors the LLM layer raises. Each message names the problem and the fix."""

from __future__ import annotations

from collections.abc import Callable


class LLMError(Exception):
    """Base class for every error of the LLM layer."""


class ConfigError(LLMError):
    """A model string, key or option is wrong; raised before any request is sent."""


class RequestFailed(LLMError):
    """A request failed for good after its bounded retries; no record may be built from it."""

    def __init__(self, reason: str, *, request_hash: str = "", attempts: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.request_hash = request_hash
        self.attempts = attempts


class BudgetExceeded(LLMError):
    """The --max-cost budget is spent; the build stops and can resume later from the cache.

    The message states the spend when it is read, not when the budget refused a request: replies
    already on the wire are still booked after that, and a stop message printed once they are in
    then gives the same figure as the build report."""

    def __init__(self, max_cost: float, spent: Callable[[], float], next_request: float = 0.0):
        super().__init__(max_cost)
        self.max_cost = max_cost
        self._spent = spent
        self.next_request = next_request  # the worst-case cost of the request refused (0: budget used up)
        self.hint: str | None = None  # a message in place of the generic one (batch mode's first round)

    @property
    def spent(self) -> float:
        return self._spent()

    def __str__(self) -> str:
        if self.hint:
            return self.hint + "."
        spent = self.spent
        text = f"the --max-cost budget of ${self.max_cost:g} is spent (${usd(spent)} so far)."
        if spent < self.max_cost:
            text += (f" The next request could cost up to ${usd(self.next_request)}, more than the "
                     f"${usd(self.max_cost - spent)} left.")
        return text + (" Everything paid for is in the response cache: run the same command with a higher "
                       "--max-cost to continue where this build stopped.")


def usd(amount: float) -> str:
    """Dollars to a millionth, as the build report states them: 0.0015, 0.000572."""
    return f"{amount:.6f}".rstrip("0").rstrip(".") or "0"


class CacheError(LLMError):
    """The response cache file is unreadable, corrupt, or of another format version."""


# Raised by providers; the client turns them into retries or RequestFailed.


class TransientError(LLMError):
    """A fault worth retrying: 5xx, timeouts, dropped connections."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """429: retried after Retry-After (or backoff) and reported to the concurrency limiter."""


class FatalProviderError(LLMError):
    """Authentication or bad-request errors: retrying cannot help."""


# The response cache's own failures (helper B, issue 17).


class CacheReadOnly(CacheError):
    """The cache file or its folder cannot be written by this user; the cached replies are intact."""


class CacheWriteFailed(CacheError):
    """SQLite could not store a paid reply (disk full, I/O error, read-only).

    The reply was kept in memory and appended to `fallback` (None when no fallback location could
    be written either); re-running the same command imports the fallback file into the cache first.
    The build should stop: write its report and exit, sending no new request.
    """

    def __init__(self, message: str, *, fallback=None):
        super().__init__(message)
        self.fallback = fallback
