"""Retries, the adaptive concurrency limit, the concurrency bound and the RPM budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from builders.llm import ChatRequest, RequestFailed
from builders.llm.limits import COOLDOWN_SECONDS, DECREASE_FACTOR, SUCCESSES_TO_GROW, AdaptiveLimiter
from tests.support.llm_fixtures import chat_once, run_chats
from tests.support.scripted_llm import delayed, drop_connection, garbage_body, http_error, max_overlap, reply_text


def hello(n: int = 0) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": f"hello {n}"}], max_tokens=16)


def compatible(server) -> str:
    return f"openai-compatible:{server.base_url}#scripted"


# ---- transient faults are retried ----


@pytest.mark.parametrize("fault", [http_error(500), http_error(502), http_error(503), http_error(408),
                                   drop_connection(), garbage_body()],
                         ids=["500", "502", "503", "408", "dropped", "garbage-body"])
def test_transient_faults_are_retried(openai_server, make_llm, fault):
    openai_server.script(fault, fault, reply_text("fine"))
    llm = make_llm(compatible(openai_server))
    assert chat_once(llm, hello()).text == "fine"
    usage = llm.accounting.totals()
    assert (usage.requests, usage.retries, usage.failures) == (3, 2, 0)


@pytest.mark.parametrize("fault", [http_error(529), http_error(503), drop_connection(), garbage_body()],
                         ids=["529-overloaded", "503", "dropped", "garbage-body"])
def test_transient_faults_are_retried_on_anthropic(anthropic_server, make_llm, fault):
    anthropic_server.script(fault, reply_text("fine"))
    assert chat_once(make_llm("anthropic:claude-haiku-4-5"), hello()).text == "fine"
    assert len(anthropic_server.requests) == 2


def test_a_timeout_is_retried(openai_server, make_llm):
    openai_server.script(delayed(3.0, reply_text("too late")), reply_text("in time"))
    llm = make_llm(compatible(openai_server), timeout=0.5)
    started = time.monotonic()
    assert chat_once(llm, hello()).text == "in time"
    assert 0.5 <= time.monotonic() - started < 2.5
    assert llm.accounting.totals().requests == 2


def test_retries_are_bounded(openai_server, make_llm):
    openai_server.script(*[http_error(503, message="upstream down")] * 3)
    llm = make_llm(compatible(openai_server), max_retries=2)
    with pytest.raises(RequestFailed) as caught:
        chat_once(llm, hello())
    assert "gave up after 3 attempts" in caught.value.reason and "HTTP 503" in caught.value.reason
    assert caught.value.attempts == 3 and len(openai_server.requests) == 3
    assert llm.accounting.totals().failures == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_fail_at_once(openai_server, anthropic_server, make_llm, status):
    for server, model in ((openai_server, compatible(openai_server)),
                          (anthropic_server, "anthropic:claude-haiku-4-5")):
        server.script(http_error(status, message="no such thing"), reply_text("never sent"))
        with pytest.raises(RequestFailed) as caught:
            chat_once(make_llm(model), hello())
        assert f"HTTP {status}" in caught.value.reason and caught.value.attempts == 1
        assert len(server.requests) == 1 and server.pending == 1


# ---- rate limiting ----


def test_retry_after_is_honoured(openai_server, make_llm):
    openai_server.script(http_error(429, retry_after=1), reply_text("after the wait"))
    assert chat_once(make_llm(compatible(openai_server)), hello()).text == "after the wait"
    first, second = openai_server.requests
    waited = second.received - first.answered
    assert 1.0 <= waited < 1.6  # the base backoff is 0.01 s: only Retry-After explains a 1 s wait


def test_retry_after_on_anthropic_is_honoured(anthropic_server, make_llm):
    anthropic_server.script(http_error(429, retry_after=0.7), reply_text("ok"))
    assert chat_once(make_llm("anthropic:claude-haiku-4-5"), hello()).text == "ok"
    first, second = anthropic_server.requests
    assert 0.7 <= second.received - first.answered < 1.3


def test_429_without_retry_after_waits_the_cooldown(openai_server, make_llm):
    openai_server.script(http_error(429), reply_text("ok"))
    llm = make_llm(compatible(openai_server))
    assert chat_once(llm, hello()).text == "ok"
    first, second = openai_server.requests
    # The backoff alone is ~0.01 s; the limiter pauses new starts for the cooldown after a 429.
    assert COOLDOWN_SECONDS <= second.received - first.answered < COOLDOWN_SECONDS + 0.6
    usage = llm.accounting.totals()
    assert (usage.requests, usage.retries) == (2, 1)


def test_a_burst_of_429s_shrinks_the_concurrency_once(openai_server, make_llm):
    concurrency = 8
    openai_server.script(*[delayed(0.2, http_error(429, retry_after=0.3))] * concurrency)
    openai_server.responder = lambda request: delayed(0.2, reply_text("ok"))
    llm = make_llm(compatible(openai_server), concurrency=concurrency)
    outcomes = run_chats(llm, [hello(n) for n in range(2 * concurrency)])
    assert all(reply.text == "ok" for reply in outcomes)
    first_wave = openai_server.requests[:concurrency]
    after = [r for r in openai_server.requests if r.received > max(r.answered for r in first_wave)]
    assert max_overlap(first_wave) == concurrency
    assert max_overlap(after) == int(concurrency * DECREASE_FACTOR)  # 6, not 8 * 0.75**8 -> 1


def test_adaptive_limiter_shrinks_pauses_and_grows_back():
    async def scenario():
        limiter = AdaptiveLimiter(8)
        limiter.record_rate_limited(retry_after=None)
        assert limiter.limit == 6
        limiter.record_rate_limited(retry_after=None)  # same burst: no further shrink
        assert limiter.limit == 6
        started = time.monotonic()
        async with limiter:  # a new start waits out the pause
            pass
        waited = time.monotonic() - started
        limiter.record_rate_limited(retry_after=0.0)  # the pause is over: a new 429 is a new signal
        assert limiter.limit == 4
        for _ in range(SUCCESSES_TO_GROW):
            limiter.record_success()
        assert limiter.limit == 5
        return waited

    assert COOLDOWN_SECONDS - 0.05 <= asyncio.run(scenario()) < COOLDOWN_SECONDS + 1


def test_adaptive_limiter_never_goes_below_one_or_above_its_maximum():
    limiter = AdaptiveLimiter(2)
    for _ in range(5):
        limiter._paused_until = 0.0  # each 429 in its own burst
        limiter.record_rate_limited(retry_after=0.0)
    assert limiter.limit == 1
    for _ in range(10 * SUCCESSES_TO_GROW):
        limiter.record_success()
    assert limiter.limit == 2


# ---- bounds ----


def test_concurrency_bound_is_respected(openai_server, make_llm):
    openai_server.responder = lambda request: delayed(0.1, reply_text("ok"))
    run_chats(make_llm(compatible(openai_server), concurrency=4), [hello(n) for n in range(24)])
    assert openai_server.max_in_flight == 4  # reached, never exceeded


def test_rpm_budget_spaces_requests(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok")
    llm = make_llm(compatible(openai_server), concurrency=16, rpm=1200)

    async def warm_then_burst() -> float:
        async with llm:
            await llm.chat(hello(-1))  # the client's first call is slow; keep it out of the timing
            await asyncio.sleep(1.0)  # the bucket refills
            started = time.monotonic()
            await asyncio.gather(*(llm.chat(hello(n)) for n in range(40)))
            return time.monotonic() - started

    elapsed = asyncio.run(warm_then_burst())
    # 1200 RPM = 20 a second with a one-second burst: 20 at once, then one every 50 ms.
    assert 0.9 <= elapsed < 3.0
    # By arrival: at most 20 + 20/s x window in any window, give or take 8 requests of scheduling
    # jitter on a busy machine (the server shares the GIL). Without pacing all 40 arrive at once.
    arrivals = sorted(r.received for r in openai_server.requests[1:])
    for i in range(len(arrivals)):
        for j in range(i + 1, len(arrivals)):
            assert j - i + 1 <= 20 + 20 * (arrivals[j] - arrivals[i]) + 8, "more requests than the budget allows"


def test_low_rpm_allows_one_request_at_a_time(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok")
    run_chats(make_llm(compatible(openai_server), rpm=120), [hello(n) for n in range(4)])
    arrivals = sorted(r.received for r in openai_server.requests)
    assert arrivals[3] - arrivals[1] >= 2 * 0.5 - 0.1  # one every 0.5 s (the first may arrive late)
