"""Errors the LLM layer raises. Each message names the problem and the fix."""


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
    """The --max-cost budget is spent; the build stops and can resume later from the cache."""


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
