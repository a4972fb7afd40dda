"""Accounting (requests, cache hits, tokens, cost from prices.json) and the --max-cost budget."""

from __future__ import annotations

import asyncio

import pytest

from builders.llm import BudgetExceeded, ChatRequest, RequestFailed
from builders.llm.accounting import Accounting, load_prices
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import malformed_json, reply_text

MODEL = "openai:gpt-4o-mini"


def ask(text: str, step: str = "default", **fields) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], step=step, **fields)


def cost_of(model: str, input_tokens: int, output_tokens: int) -> float:
    price = load_prices()[model]
    return (input_tokens * price["input"] + output_tokens * price["output"]) / 1e6


def test_requests_hits_tokens_and_cost_per_step(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok", usage=(1000, 400))
    llm = make_llm(MODEL)
    run_chats(llm, [ask("a", "tomato.turn"), ask("b", "tomato.turn"), ask("c", "tomato.judge")])
    run_chats(llm, [ask("a", "tomato.turn"), ask("c", "tomato.judge")])

    turn = llm.accounting.usage(MODEL, "tomato.turn")
    judge = llm.accounting.usage(MODEL, "tomato.judge")
    assert (turn.requests, turn.cache_hits, turn.input_tokens, turn.output_tokens) == (2, 1, 2000, 800)
    assert (judge.requests, judge.cache_hits, judge.input_tokens, judge.output_tokens) == (1, 1, 1000, 400)
    assert turn.cost_usd == pytest.approx(cost_of(MODEL, 2000, 800))
    assert llm.accounting.total_cost == pytest.approx(cost_of(MODEL, 3000, 1200))

    report = llm.accounting.report()
    assert [(row["model"], row["step"]) for row in report["by_model_step"]] == [(MODEL, "tomato.judge"),
                                                                             (MODEL, "tomato.turn")]
    assert report["total"]["requests"] == 3 and report["total"]["cache_hits"] == 2


def test_paid_attempts_count_even_when_the_reply_was_invalid(openai_server, make_llm):
    openai_server.script(*[malformed_json()] * 2)
    openai_server.responder = None
    llm = make_llm(MODEL, max_invalid_retries=1)
    (failed,) = run_chats(llm, [ask("a", schema={"type": "object"})])
    assert isinstance(failed, RequestFailed)
    usage = llm.accounting.totals()
    assert (usage.requests, usage.failures, usage.reasks) == (2, 1, 1)
    assert usage.output_tokens > 0 and usage.cost_usd > 0


def test_local_and_compatible_models_cost_nothing(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok", usage=(10_000, 10_000))
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#m")
    run_chats(llm, [ask("a")])
    assert llm.accounting.totals().input_tokens == 10_000 and llm.accounting.total_cost == 0.0


def test_max_cost_stops_with_budget_exceeded(openai_server, make_llm):
    # Each request costs 1000 * 0.15e-6 + 1000 * 0.60e-6 = $0.00075; the budget holds two.
    openai_server.responder = lambda request: reply_text("ok", usage=(1000, 1000))
    llm = make_llm(MODEL, max_cost=0.0015, concurrency=1)
    outcomes = run_chats(llm, [ask("first"), ask("second"), ask("third")])
    assert [reply.text for reply in outcomes[:2]] == ["ok", "ok"]
    assert isinstance(outcomes[2], BudgetExceeded)
    message = str(outcomes[2])
    assert "the --max-cost budget of $0.0015 is spent ($0.0015 so far)" in message
    assert "run the same command with a higher --max-cost" in message
    assert len(openai_server.requests) == 2 and len(llm.cache) == 2

    # What was paid for is still served; only new requests are refused.
    again = run_chats(llm, [ask("first"), ask("fourth")])
    assert again[0].cached and isinstance(again[1], BudgetExceeded)
    assert len(openai_server.requests) == 2


def test_budget_exceeded_propagates_out_of_a_build_loop(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok", usage=(1_000_000, 0))  # $0.15 each
    llm = make_llm(MODEL, max_cost=0.10, concurrency=1)

    async def build():
        done = 0
        async with llm:
            for n in range(10):
                try:
                    await llm.chat(ask(str(n)))
                except RequestFailed:
                    continue  # builders skip failed requests ...
                done += 1
        return done

    with pytest.raises(BudgetExceeded):  # ... but never swallow the budget
        asyncio.run(build())
    assert len(openai_server.requests) == 1


def test_a_shared_accounting_carries_one_budget_for_two_clients(openai_server, anthropic_server, make_llm):
    openai_server.responder = lambda request: reply_text("ok", usage=(1000, 1000))
    anthropic_server.responder = lambda request: reply_text("ok", usage=(1000, 1000))
    accounting = Accounting(max_cost=0.005)
    generator = make_llm(MODEL, accounting=accounting)
    judge = make_llm("anthropic:claude-haiku-4-5", accounting=accounting)
    run_chats(generator, [ask("a")])
    run_chats(judge, [ask("a")])
    expected = cost_of(MODEL, 1000, 1000) + cost_of("anthropic:claude-haiku-4-5", 1000, 1000)
    assert accounting.total_cost == pytest.approx(expected)
    assert isinstance(run_chats(judge, [ask("b")])[0], BudgetExceeded)  # 0.00675 > 0.005
