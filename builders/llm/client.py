"""`LLM`: the one interface builders use to get chat completions.

Everything below a builder's request is handled here, once: the response cache, structured
output, retries with backoff, the concurrency limit and rate budgets, accounting and the cost
budget. A builder only builds `ChatRequest`s and reads `ChatReply`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from . import ledger
from .accounting import Accounting
from .batch import Batcher, BatchOptions, GoOnline
from .batch_ledger import BatchLedger
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
from .providers.batch_api import batch_api_for
from .providers.http import REPLY_CAP
from .secrets import redact
from .structured import InvalidReply, check_schema, parse_reply
from .types import ChatReply, ChatRequest, RawReply

LOCAL_MIN_TIMEOUT = 900.0  # seconds per request for the embedded model
MAX_RETRY_AFTER = 120.0  # seconds; a longer Retry-After is capped so a build never stalls for hours
RETRY_FAILED_RUNS = 3  # later runs that ask a failed request again (its verdict stands within a run)
CLAIM_POLL_FIRST, CLAIM_POLL_MAX = 0.05, 1.0  # seconds between looks while another build asks a request
# The default cap on a reply's body: generous for max_tokens tokens of JSON-escaped non-ASCII text in a
# chat-completion envelope (a token is rarely over 8 characters, "\uXXXX" is 6 bytes), far below the
# megabytes a broken server or proxy can send.
REPLY_BYTES_PER_TOKEN = 32
REPLY_BYTES_SLACK = 64 * 1024
TOKENS_TOLERANCE = 4  # reported output tokens above 4 x max_tokens (+256) are not believed
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


CACHE_FILE = "responses.sqlite"  # in --cache-dir (as the CLI names it), next to the embedded model's models/


class LLM:
    """One model behind cache, retries, limits and accounting.

    Give either `cache_dir` (the client opens `<cache_dir>/responses.sqlite` and closes it on
    exit) or a shared `cache` (a builder's generator and judge use one file); likewise either
    `max_cost` or a shared `accounting` that carries the budget.
    """

    def __init__(self, model: str, *, cache_dir: Path | None = None, cache: ResponseCache | None = None,
                 accounting: Accounting | None = None, max_cost: float | None = None,
                 max_reply_bytes: int | None = None,
                 concurrency: int | None = None, rpm: float | None = None, tpm: float | None = None,
                 seed: int = 0, timeout: float = 120.0, max_retries: int = 6, max_invalid_retries: int = 2,
                 retry_base_delay: float = 1.0, profile: ModelProfile | str | Path | None = None,
                 retry_failed_runs: int = RETRY_FAILED_RUNS, batch: BatchOptions | None = None):
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
        if retry_failed_runs < 0:
            raise ConfigError(f"--retry-failed-runs must be 0 or more, got {retry_failed_runs}")
        if accounting is not None and max_cost is not None:
            raise ConfigError("pass max_cost to the shared Accounting(max_cost=...) instead of to each LLM")
        self.accounting = accounting or Accounting(max_cost)
        self.accounting.check_budget_is_enforceable(self.label)
        if max_reply_bytes is not None and max_reply_bytes < 1:
            raise ConfigError(f"max_reply_bytes must be at least 1, got {max_reply_bytes}")
        self._max_reply_bytes = max_reply_bytes  # None: derived from each request's max_tokens
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
        self.retry_failed_runs = retry_failed_runs
        self._earlier_runs: dict[str, int] = {}  # key -> runs that tried a failed request being asked again
        self._batch_options = _checked_batch_options(batch, self.spec)
        self._batcher: Batcher | None = None

    @property
    def batch(self) -> bool:
        """True when requests go through the provider's batch API."""
        return self._batch_options is not None

    def batch_report(self) -> dict | None:
        return None if self._batcher is None else self._batcher.stats.report()

    @property
    def label(self) -> str:
        return self.spec.label

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> "LLM":
        self.provider = self._make_provider()
        await self.provider.start()
        self._limiter = AdaptiveLimiter(self.concurrency)
        if self._batch_options is not None:
            self._batcher = Batcher(batch_api_for(self.provider), BatchLedger(self.cache, self._model_id()),
                                    self._batch_options, self.accounting, self.label)
            await self._batcher.start()  # what an earlier run left: found, polled, collected
            self.accounting.batch_status = self._batcher.stats.line
        return self

    async def __aexit__(self, *exc) -> None:
        if self._batcher is not None:  # batches still open are left to a later run, recorded in the ledger
            await self._batcher.close()
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
        hit = await self._cached_or_claimed(key)
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
        # A callback, not a finally in the task: a task cancelled before it starts runs no finally.
        task.add_done_callback(lambda _: self._end_claim(key))
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

    async def _cached_or_claimed(self, key: str) -> dict | None:
        """The entry to serve, or None once this process has claimed the key and must send it.

        While another build (or another task of this one) is asking the same request, wait for its
        reply instead of paying for it again; a dead or stuck claimer's claim is taken over."""
        delay = CLAIM_POLL_FIRST
        while True:
            hit = self.cache.get(key)
            if hit is not None and not self._asks_again(hit, key):
                return hit
            if self.cache.claim(key, hit):  # raises CacheWriteFailed once replies cannot be stored
                if hit is not None:
                    self._earlier_runs[key] = hit.get("runs", 1)
                return None
            self.cache.asked_this_run.add(key)  # what the other asker gets stands for this run too
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, CLAIM_POLL_MAX)

    def _asks_again(self, hit: dict, key: str) -> bool:
        """A failure verdict from an earlier run is asked again (the provider or prompt may be fixed
        since) in up to `retry_failed_runs` later runs; within one run it stands."""
        return ("failed" in hit and key not in self.cache.asked_this_run
                and hit.get("runs", 1) <= self.retry_failed_runs)

    def _end_claim(self, key: str) -> None:
        """The request is stored (the put ended the claim already), failed or abandoned: others may ask now."""
        self._earlier_runs.pop(key, None)
        self.cache.release(key)

    async def _fetch(self, request: ChatRequest, key: str, trip: "_Trip") -> dict:
        """A valid reply from the provider, cached; re-asked (another seed) when a reply is invalid."""
        usage = self.accounting.usage(self.label, request.step)
        if request.reask:  # a builder asks again because its own check refused an earlier reply
            usage.reasks += 1
        reasons, refused_texts = [], set()
        for attempt in range(self._max_invalid_retries + 1):
            seed = self._seed_for(request, attempt)
            raw, surrogates = _storable_reply(await self._send(request, seed, key, trip))
            raw, redacted = _without_secrets(raw, self._api_key)
            try:
                data, in_data = _without_lone_surrogates(self._check(raw, request))  # escapes parsed
                surrogates += in_data
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
            if surrogates:  # the reply as the provider sent it could not be stored; say what changed
                entry["provenance"]["lone_surrogates_replaced"] = surrogates
            if redacted:  # a provider (or a proxy) echoed a key into the reply: it never reaches a file
                entry["provenance"]["secrets_redacted"] = redacted
            if raw.route != "online":  # the cache records the route; the release (from provenance) does not differ
                entry["route"] = raw.route
            self.cache.put(key, entry)
            return entry
        usage.reasks -= 1  # the last invalid attempt was not followed by a re-ask
        reason = f"{self.label}: no valid reply after {len(reasons)} attempts; last: {reasons[-1]}"
        # Invalid replies were paid for and re-asking with the same seeds repeats them: remember the
        # verdict, so this run does not pay for them again. A later run asks again (the provider or
        # the prompt may be fixed by then) in up to --retry-failed-runs runs; "runs" counts the runs
        # that tried (absent: one); --retry-failed-runs 0 (a rebuild) replays it. Transport failures
        # are not remembered: the next run asks again.
        runs = self._earlier_runs.pop(key, 0) + 1
        self.cache.put(key, {"failed": reason, "attempts": len(reasons), **({"runs": runs} if runs > 1 else {})})
        raise self._failure(reason, request, key, attempts=len(reasons))

    def _trip_done(self, task: asyncio.Task) -> None:
        self._trips.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned trip's failure has nobody left to tell

    def _key(self, request: ChatRequest) -> str:
        model_id = self._model_id()
        extra = {} if request.repeat_penalty is None else {"repeat_penalty": request.repeat_penalty}
        return request_key(model=model_id, messages=request.messages, schema=request.schema,
                           temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
                           seed=request.seed if request.seed is not None else self.seed, sample=request.sample,
                           **extra)

    def _model_id(self) -> str:
        # The model's identity, not where it is served: a vLLM server restarted on another port
        # (or a team moving its server) keeps its cache.
        model_id = f"{self.spec.provider}:{self.spec.model}"
        if self.spec.provider == "local":
            model_id += "@" + self._local_weights()
        return model_id

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
            raw = await retrying(self._attempt, request, seed, usage, trip, key)
        except FatalProviderError as error:  # authentication, bad request: retrying cannot help
            raise self._failure(f"{self.label}: {error}", request, key, attempts=1) from None
        except TransientError as error:
            raise self._failure(f"{self.label}: gave up after {self._max_retries + 1} attempts: {error}",
                                request, key, attempts=self._max_retries + 1) from None
        return raw

    async def _attempt(self, request: ChatRequest, seed: int, usage, trip: "_Trip", key: str) -> RawReply:
        if self._batcher is not None:
            try:
                return await self._batch_attempt(request, seed, usage, trip, key)
            except GoOnline:  # a small round, sent online for latency (--batch-online-below)
                pass
        async with self._limiter:  # verdicts inside, so the next waiter sees the new limit
            # The budget is taken once a slot is free, when the request really leaves: taken
            # earlier, requests queued behind the limit would leave in a burst the budget forbids.
            await self._budget.acquire(_estimate_tokens(request))
            # Reserved here and not on entry to chat(), for the same reason: queued requests would
            # all have passed an entry check made while nothing was spent yet.
            worst_input = _worst_input_tokens(request)
            reservation = await self.accounting.reserve(self.label, worst_input, request.max_tokens)
            if trip.abandoned:
                self.accounting.release(reservation)
                raise asyncio.CancelledError()
            usage.requests += 1
            trip.on_the_wire = True
            self.accounting.request_started()
            cap = REPLY_CAP.set(self._reply_cap(request))
            try:
                raw = await self.provider.complete(request, seed if self.provider.supports_seed else None)
            except BaseException as error:  # no reply, nothing to book
                self.accounting.release(reservation)
                if isinstance(error, RateLimited):
                    self._limiter.record_rate_limited(error.retry_after)
                raise
            finally:
                REPLY_CAP.reset(cap)
                self.accounting.request_finished()
            raw, corrected = _plausible_usage(raw, request, worst_input)
            usage.tokens_corrected += corrected
            self.accounting.settle(reservation, self.label, request.step, raw.input_tokens, raw.output_tokens)
            self._limiter.record_success()
            return raw

    async def _batch_attempt(self, request: ChatRequest, seed: int, usage, trip: "_Trip", key: str) -> RawReply:
        """One attempt through the batch API: the batcher gathers it into a round and reserves the
        round's worst case; the reply is booked here at batch prices, as online replies are."""
        if trip.abandoned:
            raise asyncio.CancelledError()
        worst_input = _worst_input_tokens(request)

        def submitted() -> None:  # paid for from here on: the trip runs to its end
            trip.on_the_wire = True

        raw, reservation, via_batch = await self._batcher.complete(
            request, seed, seed if self.provider.supports_seed else None, key, worst_input, self._reply_cap(request),
            submitted)
        raw, corrected = _plausible_usage(raw, request, worst_input)
        usage.tokens_corrected += corrected
        if reservation is None:  # paid for in an earlier run: booked, nothing to settle
            self.accounting.add_tokens(self.label, request.step, raw.input_tokens, raw.output_tokens, batch=True)
        else:
            self.accounting.settle(reservation, self.label, request.step, raw.input_tokens, raw.output_tokens,
                                   batch=True)
        stats = self._batcher.stats
        stats.cost_usd += self.accounting.cost_of(self.label, raw.input_tokens, raw.output_tokens, batch=True)
        stats.online_price_usd += self.accounting.cost_of(self.label, raw.input_tokens, raw.output_tokens)
        return replace(raw, route="batch" if via_batch else raw.route)

    def _reply_cap(self, request: ChatRequest) -> int:
        if self._max_reply_bytes is not None:
            return self._max_reply_bytes
        return REPLY_BYTES_SLACK + REPLY_BYTES_PER_TOKEN * request.max_tokens

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gives one (capped), else exponential backoff with jitter."""
        error = state.outcome.exception()
        if getattr(error, "retry_after", None) is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        base = self._retry_base_delay
        return wait_exponential_jitter(multiplier=base, max=60 * base, jitter=base)(state)

    def _failure(self, reason: str, request: ChatRequest, key: str, *, attempts: int) -> RequestFailed:
        """A RequestFailed whose text never carries an API key (whole, cut short or masked), even when a
        server echoes it back; counted and listed (with its reason) in the accounting."""
        reason = redact(reason, (self._api_key,))
        self.accounting.record_failure(self.label, request.step, request_hash=key, reason=reason, attempts=attempts)
        return RequestFailed(reason, request_hash=key, attempts=attempts)

    def _check(self, raw: RawReply, request: ChatRequest):
        if raw.finish_reason == "oversized":
            raise InvalidReply(f"reply refused: {raw.note}")
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


def _worst_input_tokens(request: ChatRequest) -> int:
    """The most input tokens a request can be billed: a token is at least one byte of the prompt (and
    of the schema, which goes out with it), plus a few tokens of framing per message."""
    size = sum(len(m.get("content", "").encode("utf-8", "surrogatepass")) + 16 for m in request.messages) + 16
    if request.schema is not None:
        size += len(json.dumps(request.schema))
    return size


def _plausible_usage(raw: RawReply, request: ChatRequest, worst_input: int) -> tuple[RawReply, bool]:
    """The reply with token counts that can be true, and whether they had to be corrected.

    A provider bills at most max_tokens of output; a count a little over it may be framing counted
    differently, one far over it cannot be true: it (or a count that is not a number) is replaced
    by the reply's own size in bytes, capped at max_tokens. Input counts are believed when they are
    counts (what a provider adds to the prompt, tools and framing, has no bound known here). A
    reply refused unread is booked at the most it could cost."""
    if raw.finish_reason == "oversized":
        return replace(raw, input_tokens=worst_input, output_tokens=request.max_tokens), True
    input_tokens, output_tokens = _count(raw.input_tokens), _count(raw.output_tokens)
    implausible_input = input_tokens is None
    implausible_output = output_tokens is None or output_tokens > TOKENS_TOLERANCE * request.max_tokens + 256
    corrected = implausible_input or implausible_output
    if implausible_input:
        input_tokens = worst_input
    if implausible_output:
        output_tokens = min(request.max_tokens, len(raw.text.encode("utf-8", "surrogatepass")))
    return replace(raw, input_tokens=input_tokens, output_tokens=output_tokens), corrected


def _count(value) -> int | None:
    """A token count as reported, if it is one (JSON may bring a string, a fraction, NaN or a negative)."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _storable_reply(raw: RawReply) -> tuple[RawReply, int]:
    """The reply with every lone surrogate in its text replaced by U+FFFD, and how many there were.

    JSON escapes can carry a lone surrogate ("\\ud800") that no UTF-8 file can store. Replaced when
    the reply arrives, so this run and a rerun served from the cache see the same text."""
    text, in_text = _without_lone_surrogates(raw.text)
    model, in_model = _without_lone_surrogates(raw.model)
    data, _ = _without_lone_surrogates(raw.data)  # Anthropic's data is in its text too: counted there
    if not (in_text or in_model or data is not raw.data):
        return raw, 0
    return replace(raw, text=text, model=model, data=data), in_text + in_model


def _without_secrets(raw: RawReply, api_key: str | None) -> tuple[RawReply, int]:
    """The reply with every known key (and its cut-short or masked forms) redacted from its text and
    parsed data, and how many strings changed. Done as the reply arrives, like the surrogates, so the
    cache, the release and a rerun all hold the same redacted text."""
    text = redact(raw.text, (api_key,))
    data, in_data = _redact_strings(raw.data, api_key)
    changed = int(text != raw.text) + in_data
    return (replace(raw, text=text, data=data), changed) if changed else (raw, 0)


def _redact_strings(value, api_key: str | None):
    if isinstance(value, str):
        clean = redact(value, (api_key,))
        return clean, int(clean != value)
    if isinstance(value, list):
        cleaned = [_redact_strings(item, api_key) for item in value]
        count = sum(n for _, n in cleaned)
        return ([item for item, _ in cleaned], count) if count else (value, 0)
    if isinstance(value, dict):
        cleaned = {k: _redact_strings(v, api_key) for k, v in value.items()}
        count = sum(n for _, n in cleaned.values())
        return ({k: v for k, (v, _) in cleaned.items()}, count) if count else (value, 0)
    return value, 0


def _without_lone_surrogates(value):
    """`value` (a string, or JSON data) with lone surrogates replaced by U+FFFD, and how many; the
    value itself when it has none."""
    if isinstance(value, str):
        return _LONE_SURROGATE.subn("\ufffd", value) if _LONE_SURROGATE.search(value) else (value, 0)
    if isinstance(value, list):
        repaired = [_without_lone_surrogates(item) for item in value]
        count = sum(n for _, n in repaired)
        return ([item for item, _ in repaired], count) if count else (value, 0)
    if isinstance(value, dict):
        repaired = [(_without_lone_surrogates(k), _without_lone_surrogates(v)) for k, v in value.items()]
        count = sum(kn + vn for (_, kn), (_, vn) in repaired)
        return ({k: v for (k, _), (v, _) in repaired}, count) if count else (value, 0)
    return value, 0


def _estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish estimate for the TPM bucket: ~4 characters a token plus the output allowance."""
    return sum(len(m.get("content", "")) for m in request.messages) // 4 + request.max_tokens


BATCH_PROVIDERS = ("openai", "anthropic")


def _checked_batch_options(options: BatchOptions | None, spec: ModelSpec) -> BatchOptions | None:
    """Batch mode for a provider with a batch API, with sane timings; refused before any request otherwise."""
    if options is None:
        return None
    if spec.provider not in BATCH_PROVIDERS:
        raise ConfigError(f"--batch needs a provider with a batch API (openai: or anthropic:); {spec.label} has none "
                          "(an openai-compatible server or the embedded model answers online). Drop --batch, or "
                          "choose an openai: or anthropic: model")
    options.check()
    return options


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
