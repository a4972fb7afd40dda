"""`LLM`: the one interface builders use to get chat completions.

Everything below a builder's request is handled here, once: the response cache, structured
output, retries with backoff, the concurrency limit and rate budgets, accounting and the cost
budget. A builder only builds `ChatRequest`s and reads `ChatReply`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from . import ledger
from .accounting import PRICES_FILE, Accounting
from .cache import ResponseCache, request_key
from .errors import (
    ConfigError,
    FatalProviderError,
    RateLimited,
    RequestFailed,
    TransientError,
)
from .limits import AdaptiveLimiter, RateBudget
from .models import ModelSpec, parse_model
from .profiles import ModelProfile, profile_for
from .structured import InvalidReply, check_schema, parse_reply
from .types import ChatReply, ChatRequest, RawReply

LOCAL_MIN_TIMEOUT = 900.0  # seconds per request for the embedded model
MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After is capped so a build never stalls for hours


CACHE_FILE = "responses.sqlite"  # in --cache-dir (as the CLI names it), next to the embedded model's models/


class LLM:
    """One model behind cache, retries, limits and accounting.

    Give either `cache_dir` (the client opens `<cache_dir>/responses.sqlite` and closes it on
    exit) or a shared `cache` (a builder's generator and judge use one file); likewise either
    `max_cost` or a shared `accounting` that carries the budget.
    """

    def __init__(self, model: str, *, cache_dir: Path | None = None, cache: ResponseCache | None = None,
                 accounting: Accounting | None = None, max_cost: float | None = None,
                 concurrency: int | None = None, rpm: float | None = None, tpm: float | None = None,
                 seed: int = 0, timeout: float = 120.0, max_retries: int = 6, max_invalid_retries: int = 2,
                 retry_base_delay: float = 1.0, profile: ModelProfile | str | Path | None = None):
        self.spec: ModelSpec = parse_model(model)
        # What the model can do (builders read their limits from it); a profile that contradicts
        # the model fails here, before any work starts.
        self.profile: ModelProfile = profile if isinstance(profile, ModelProfile) else profile_for(self.spec, profile)
        self._api_key = self.spec.api_key()  # a missing key fails here, before any work starts
        if concurrency is None:
            concurrency = self.profile.concurrency
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        if cache is None and cache_dir is None:
            raise ConfigError("the LLM client needs a response cache: pass cache_dir=<folder> (or a shared cache=)")
        if accounting is not None and max_cost is not None:
            raise ConfigError("pass max_cost to the shared Accounting(max_cost=...) instead of to each LLM")
        self.accounting = accounting or Accounting(max_cost)
        self._check_budget_is_enforceable()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else ResponseCache(Path(cache_dir) / CACHE_FILE)
        self.seed = seed
        self.concurrency = concurrency
        self._limiter: AdaptiveLimiter | None = None  # created inside the running event loop
        self._budget = RateBudget(rpm, tpm)
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_invalid_retries = max_invalid_retries
        self._retry_base_delay = retry_base_delay
        self._cache_dir = Path(cache_dir) if cache_dir is not None else self.cache.path.parent
        self.provider = None
        self._trips: set[asyncio.Task] = set()  # uncached requests under way (see _Trip)

    def _check_budget_is_enforceable(self) -> None:
        if self.accounting.max_cost is not None and self.accounting.price_of(self.label) is None:
            raise ConfigError(f"--max-cost cannot be enforced for {self.label}: its price is not in "
                              f"{PRICES_FILE}; add it there (USD per million input/output tokens) or drop --max-cost")

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
        if self._trips:  # replies already asked for are paid for: let them arrive and be cached
            await asyncio.gather(*self._trips, return_exceptions=True)
        if self.provider is not None:
            await self.provider.close()
            self.provider = None
        if self._owns_cache:
            self.cache.close()

    def _make_provider(self):
        # Each provider module imports its SDK; importing only the one in use saves seconds per
        # process (the anthropic SDK alone takes about two).
        spec = self.spec
        if spec.provider == "anthropic":
            from .providers.anthropic_api import AnthropicProvider

            return AnthropicProvider(model=spec.model, api_key=self._api_key,
                                     base_url=_env("ANTHROPIC_BASE_URL"), timeout=self._timeout)
        if spec.provider == "local":
            from .providers.local_model import LocalModelProvider

            return LocalModelProvider(model=spec.model, cache_dir=self._cache_dir,
                                      slots=min(self.concurrency, 8),
                                      # a CPU model on a busy machine is slow, not broken
                                      timeout=max(self._timeout, LOCAL_MIN_TIMEOUT))
        from .providers.openai_api import OpenAIProvider

        base_url = spec.base_url if spec.provider == "openai-compatible" else _env("OPENAI_BASE_URL")
        # OpenAI takes strict schemas; a compatible server that decodes under a llama.cpp grammar
        # needs its anchored patterns (as the embedded one does); others take the schema as it is.
        dialect = "openai-strict" if spec.provider == "openai" else ("llama.cpp" if self.profile.grammar else "full")
        return OpenAIProvider(name=spec.provider, model=spec.model, api_key=self._api_key, base_url=base_url,
                              timeout=self._timeout, schema_dialect=dialect)

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
            if "failed" in hit:  # the model was asked and paid for; its replies were all invalid
                ledger.record(request.step, attempts=hit.get("attempts", 0), reask=request.reask, failed=True)
                raise self._failure(hit["failed"], request, key, attempts=hit.get("attempts", 0))
            reply = _reply_from_cache(hit)
            ledger.record(request.step, attempts=reply.provenance.get("attempts", 1), reask=request.reask)
            # Identical messages may come from an edited template: provenance names this request's.
            reply.provenance["prompt_hash"] = request.prompt_hash
            return reply

        trip = _Trip()
        task = asyncio.ensure_future(self._fetch(request, key, trip))
        self._trips.add(task)
        task.add_done_callback(self._trip_done)
        try:
            entry = await asyncio.shield(task)
        except asyncio.CancelledError:
            trip.abandoned = True  # no new attempt starts
            if not trip.on_the_wire:  # nothing asked for yet (queued, or waiting to retry): stop now
                task.cancel()
            raise
        except RequestFailed as error:
            # Invalid replies are a verdict a fresh build meets again (cached with its attempts);
            # a transport failure is not, and costs a fresh build nothing.
            verdict = self.cache.get(key)
            attempts = verdict.get("attempts", 0) if verdict and "failed" in verdict else 0
            ledger.record(request.step, attempts=attempts, reask=request.reask, failed=True)
            raise error from None
        ledger.record(request.step, attempts=entry["provenance"]["attempts"], reask=request.reask)
        return _reply_from_cache(entry, cached=False)

    # -- internals -----------------------------------------------------------------------------

    async def _fetch(self, request: ChatRequest, key: str, trip: "_Trip") -> dict:
        """A valid reply from the provider, cached; re-asked (another seed) when a reply is invalid."""
        usage = self.accounting.usage(self.label, request.step)
        if request.reask:  # a builder asks again because its own check refused an earlier reply
            usage.reasks += 1
        reasons, refused_texts = [], set()
        for attempt in range(self._max_invalid_retries + 1):
            seed = self._seed_for(request, attempt)
            raw = await self._send(request, seed, key, trip)
            try:
                data = self._check(raw, request)
            except InvalidReply as error:
                reasons.append(str(error))
                usage.reasks += 1
                if _repeats_itself(request, raw.text, refused_texts):
                    reasons[-1] += "; the same reply came back at temperature 0, so it was not asked again"
                    break
                refused_texts.add(raw.text)
                continue
            entry = {"text": raw.text, "data": data, "input_tokens": raw.input_tokens,
                     "output_tokens": raw.output_tokens,
                     "provenance": self._provenance(request, key, seed, attempt + 1,
                                                   getattr(self.provider, "reported_model", raw.model))}
            self.cache.put(key, entry)
            return entry
        usage.reasks -= 1  # the last invalid attempt was not followed by a re-ask
        reason = f"{self.label}: no valid reply after {len(reasons)} attempts; last: {reasons[-1]}"
        # Invalid replies were paid for and re-asking with the same seeds repeats them: remember the
        # verdict, so a rebuild neither pays again nor gets a different outcome. (Transport failures
        # are not remembered: the next run asks again.)
        self.cache.put(key, {"failed": reason, "attempts": len(reasons)})
        raise self._failure(reason, request, key, attempts=len(reasons))

    def _trip_done(self, task: asyncio.Task) -> None:
        self._trips.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned trip's failure has nobody left to tell

    def _key(self, request: ChatRequest) -> str:
        # The model's identity, not where it is served: a vLLM server restarted on another port
        # (or a team moving its server) keeps its cache.
        model_id = f"{self.spec.provider}:{self.spec.model}"
        if self.spec.provider == "local":
            model_id += "@" + self._local_weights()
        extra = {} if request.repeat_penalty is None else {"repeat_penalty": request.repeat_penalty}
        return request_key(model=model_id, messages=request.messages, schema=request.schema,
                           temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
                           seed=request.seed if request.seed is not None else self.seed, sample=request.sample,
                           **extra)

    def _local_weights(self) -> str:
        if not hasattr(self, "_weights"):
            self._weights = self.provider.fingerprint
        return self._weights

    def _seed_for(self, request: ChatRequest, attempt: int) -> int:
        """A distinct, reproducible seed per (base seed, sample, attempt): a re-ask must not repeat a bad reply."""
        base = request.seed if request.seed is not None else self.seed
        digest = hashlib.sha256(f"{base}:{request.sample}:{attempt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

    async def _send(self, request: ChatRequest, seed: int, key: str, trip: "_Trip") -> RawReply:
        """One reply from the provider, retrying transient faults; RequestFailed when they persist."""
        usage = self.accounting.usage(self.label, request.step)

        def before_sleep(state: RetryCallState) -> None:
            usage.retries += 1
            trip.on_the_wire = False  # the failed attempt is over; the next one has not left yet

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),  # 429, 5xx, timeouts, dropped connections
            stop=stop_after_attempt(self._max_retries + 1),
            wait=self._wait,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            raw = await retrying(self._attempt, request, seed, usage, trip)
        except FatalProviderError as error:  # authentication, bad request: retrying cannot help
            raise self._failure(f"{self.label}: {error}", request, key, attempts=1) from None
        except TransientError as error:
            raise self._failure(f"{self.label}: gave up after {self._max_retries + 1} attempts: {error}",
                                request, key, attempts=self._max_retries + 1) from None
        self.accounting.add_tokens(self.label, request.step, raw.input_tokens, raw.output_tokens)
        return raw

    async def _attempt(self, request: ChatRequest, seed: int, usage, trip: "_Trip") -> RawReply:
        async with self._limiter:  # verdicts inside, so the next waiter sees the new limit
            # The budget is taken once a slot is free, when the request really leaves: taken
            # earlier, requests queued behind the limit would leave in a burst the budget forbids.
            await self._budget.acquire(_estimate_tokens(request))
            # Checked here and not on entry to chat(), for the same reason: queued requests would
            # all have passed an entry check made while nothing was spent yet.
            self.accounting.check_budget()
            if trip.abandoned:
                raise asyncio.CancelledError()
            usage.requests += 1
            trip.on_the_wire = True
            self.accounting.request_started()
            try:
                raw = await self.provider.complete(request, seed if self.provider.supports_seed else None)
            except RateLimited as error:
                self._limiter.record_rate_limited(error.retry_after)
                raise
            finally:
                self.accounting.request_finished()
            self._limiter.record_success()
            return raw

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gives one (capped), else exponential backoff with jitter."""
        error = state.outcome.exception()
        if getattr(error, "retry_after", None) is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        base = self._retry_base_delay
        return wait_exponential_jitter(multiplier=base, max=60 * base, jitter=base)(state)

    def _failure(self, reason: str, request: ChatRequest, key: str, *, attempts: int) -> RequestFailed:
        """A RequestFailed whose text never carries the API key, even when a server echoes it back;
        counted and listed (with its reason) in the accounting."""
        if self._api_key:
            reason = reason.replace(self._api_key, "<API key>")
        self.accounting.record_failure(self.label, request.step, request_hash=key, reason=reason, attempts=attempts)
        return RequestFailed(reason, request_hash=key, attempts=attempts)

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
            "temperature": request.temperature if self.provider.supports_sampling_parameters else None,
            "top_p": request.top_p if self.provider.supports_sampling_parameters else None,
            "max_tokens": request.max_tokens,
            **({} if request.repeat_penalty is None else {"repeat_penalty": request.repeat_penalty}),
            "seed": seed if self.provider.supports_seed else None,
            "attempts": attempts,
        }


@dataclass
class _Trip:
    """One uncached request on its way to the provider, run as its own task.

    A request that has left is paid for. Its trip therefore runs to the end (the reply arrives, is
    validated and cached) even when the caller is cancelled: a build stopped by --max-cost, by
    reaching --n or by Ctrl-C never pays twice for it. An abandoned trip starts no new attempt.
    """

    abandoned: bool = False
    on_the_wire: bool = False  # an attempt has left and its reply is not in yet


def _repeats_itself(request: ChatRequest, text: str, refused_texts: set[str]) -> bool:
    """A greedy request whose refused reply came back word for word: the server decodes it the same
    whatever the seed (llama.cpp, vLLM, most APIs at temperature 0), so a further re-ask would pay for
    the same refusal again (a reply truncated at max_tokens, above all)."""
    return request.temperature == 0 and text in refused_texts


def _reply_from_cache(entry: dict, cached: bool = True) -> ChatReply:
    return ChatReply(text=entry["text"], data=entry.get("data"), cached=cached,
                     provenance=dict(entry.get("provenance", {})),
                     input_tokens=entry.get("input_tokens", 0), output_tokens=entry.get("output_tokens", 0))


def _estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish estimate for the TPM bucket: ~4 characters a token plus the output allowance."""
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + request.max_tokens


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@contextlib.asynccontextmanager
async def opened(*clients: "LLM"):
    """Enter each distinct client (a generator and its judge may be one) for the duration of a run;
    on exit, replies already asked for arrive and are cached."""
    async with contextlib.AsyncExitStack() as stack:
        for client in {id(c): c for c in clients}.values():
            await stack.enter_async_context(client)
        yield
