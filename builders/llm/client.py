"""`LLM`: the one interface builders use to get chat completions.

Everything below a builder's request is handled here, once: the response cache, structured
output, retries with backoff, the concurrency limit and rate budgets, accounting and the cost
budget. A builder only builds `ChatRequest`s and reads `ChatReply`s.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from .accounting import Accounting
from .cache import ResponseCache, request_key
from .errors import ConfigError, FatalProviderError, RateLimited, RequestFailed, TransientError
from .limits import AdaptiveLimiter, RateBudget
from .models import ModelSpec, parse_model
from .providers.anthropic_api import AnthropicProvider
from .providers.local_model import LocalModelProvider
from .providers.openai_api import OpenAIProvider
from .structured import InvalidReply, check_schema, parse_reply
from .types import ChatReply, ChatRequest, RawReply

MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After is capped so a build never stalls for hours


class LLM:
    def __init__(self, model: str, *, cache: ResponseCache, accounting: Accounting | None = None,
                 concurrency: int = 8, rpm: float | None = None, tpm: float | None = None, seed: int = 0,
                 timeout: float = 120.0, max_retries: int = 6, max_invalid_retries: int = 2,
                 retry_base_delay: float = 1.0, cache_dir: Path | None = None):
        self.spec: ModelSpec = parse_model(model)
        self._api_key = self.spec.api_key()  # a missing key fails here, before any work starts
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        self.cache = cache
        self.accounting = accounting or Accounting()
        self.seed = seed
        self.concurrency = concurrency
        self._limiter: AdaptiveLimiter | None = None  # created inside the running event loop
        self._budget = RateBudget(rpm, tpm)
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_invalid_retries = max_invalid_retries
        self._retry_base_delay = retry_base_delay
        self._cache_dir = cache_dir or cache.path.parent
        self.provider = None

    @property
    def label(self) -> str:
        return self.spec.label

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> "LLM":
        self.provider = self._make_provider()
        await self.provider.start()
        self._limiter = AdaptiveLimiter(self.concurrency)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.provider is not None:
            await self.provider.close()
            self.provider = None

    def _make_provider(self):
        spec = self.spec
        if spec.provider == "anthropic":
            return AnthropicProvider(model=spec.model, api_key=self._api_key,
                                     base_url=_env("ANTHROPIC_BASE_URL"), timeout=self._timeout)
        if spec.provider == "local":
            return LocalModelProvider(model=spec.model, cache_dir=self._cache_dir,
                                      slots=min(self.concurrency, 8), timeout=self._timeout)
        base_url = spec.base_url if spec.provider == "openai-compatible" else _env("OPENAI_BASE_URL")
        return OpenAIProvider(name=spec.provider, model=spec.model, api_key=self._api_key, base_url=base_url,
                              timeout=self._timeout, schema_dialect="openai-strict" if spec.provider == "openai" else "full")

    # -- the one call builders make ------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatReply:
        if self.provider is None:
            raise RuntimeError("use the LLM inside `async with llm:`")
        if request.schema is not None:
            check_schema(request.schema)
        key = self._key(request)
        usage = self.accounting.usage(self.label, request.step)
        hit = self.cache.get(key)
        if hit is not None:
            usage.cache_hits += 1
            return _reply_from_cache(hit)

        self.accounting.check_budget()
        reasons = []
        for attempt in range(self._max_invalid_retries + 1):
            seed = self._seed_for(request, attempt)
            raw = await self._send(request, seed, key)
            try:
                data = self._check(raw, request)
            except InvalidReply as error:
                reasons.append(str(error))
                usage.retries += 1
                continue
            entry = {"text": raw.text, "data": data, "input_tokens": raw.input_tokens,
                     "output_tokens": raw.output_tokens,
                     "provenance": self._provenance(request, key, seed, attempt + 1,
                                                   getattr(self.provider, "reported_model", raw.model))}
            self.cache.put(key, entry)
            return _reply_from_cache(entry, cached=False)
        usage.failures += 1
        usage.retries -= 1  # the last invalid attempt was not followed by a retry
        raise RequestFailed(f"{self.label}: no valid reply after {len(reasons)} attempts; last: {reasons[-1]}",
                            request_hash=key, attempts=len(reasons))

    # -- internals -----------------------------------------------------------------------------

    def _key(self, request: ChatRequest) -> str:
        model_id = self.spec.label
        if self.spec.provider == "local":
            model_id += "@" + self._local_weights()
        return request_key(model=model_id, messages=request.messages, schema=request.schema,
                           temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
                           seed=request.seed if request.seed is not None else self.seed, sample=request.sample)

    def _local_weights(self) -> str:
        if not hasattr(self, "_weights"):
            self._weights = self.provider.weights_sha256
        return self._weights

    def _seed_for(self, request: ChatRequest, attempt: int) -> int:
        """A distinct, reproducible seed per (base seed, sample, attempt): a re-ask must not repeat a bad reply."""
        base = request.seed if request.seed is not None else self.seed
        digest = hashlib.sha256(f"{base}:{request.sample}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    async def _send(self, request: ChatRequest, seed: int, key: str) -> RawReply:
        usage = self.accounting.usage(self.label, request.step)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        usage.retries += 1
                    await self._budget.acquire(_estimate_tokens(request))
                    async with self._limiter:
                        usage.requests += 1
                        try:
                            raw = await self.provider.complete(request, seed if self.provider.supports_seed else None)
                        except RateLimited as error:
                            self._limiter.record_rate_limited(error.retry_after)
                            raise
                    self._limiter.record_success()
        except TransientError as error:
            usage.failures += 1
            raise RequestFailed(f"{self.label}: gave up after {self._max_retries + 1} attempts: {error}",
                                request_hash=key, attempts=self._max_retries + 1) from None
        except FatalProviderError as error:  # authentication, bad request: retrying cannot help
            usage.failures += 1
            raise RequestFailed(f"{self.label}: {error}", request_hash=key, attempts=1) from None
        self.accounting.add_tokens(self.label, request.step, raw.input_tokens, raw.output_tokens)
        return raw

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception()
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        backoff = wait_exponential_jitter(initial=self._retry_base_delay, max=60 * self._retry_base_delay,
                                          jitter=self._retry_base_delay)
        return backoff(retry_state)

    def _check(self, raw: RawReply, request: ChatRequest):
        if raw.finish_reason == "refusal":
            raise InvalidReply(f"the model refused: {raw.text[:160]!r}")
        if raw.finish_reason == "length":
            raise InvalidReply(f"reply truncated at max_tokens={request.max_tokens}")
        if request.schema is None:
            if not raw.text.strip():
                raise InvalidReply("empty reply")
            return None
        return parse_reply(raw.text, request.schema, data=raw.data)

    def _provenance(self, request: ChatRequest, key: str, seed: int, attempts: int, reported: str) -> dict:
        return {
            "model": self.label,
            "provider": self.spec.provider,
            "model_reported": reported,
            "request_hash": key,
            "prompt_hash": request.prompt_hash,
            "sample": request.sample,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "seed": seed if self.provider.supports_seed else None,
            "attempts": attempts,
        }


def _reply_from_cache(entry: dict, cached: bool = True) -> ChatReply:
    return ChatReply(text=entry["text"], data=entry.get("data"), cached=cached,
                     provenance=dict(entry.get("provenance", {})),
                     input_tokens=entry.get("input_tokens", 0), output_tokens=entry.get("output_tokens", 0))


def _estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish estimate for the TPM bucket: ~4 characters a token plus the output allowance."""
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + request.max_tokens


def _env(name: str) -> str | None:
    return os.environ.get(name) or None
