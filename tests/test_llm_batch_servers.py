"""Batch mode through the real SDKs against the local batch API servers (tests/support/batch_servers.py):
the same replies and cache entries as online, and every injected fault ending in finished work or a
message naming how to continue, with no line paid twice."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest

from builders.llm import LLM, BatchOptions, ChatRequest, RequestFailed
from tests.support.batch_servers import BatchAnthropicServer, BatchFaults, BatchOpenAIServer
from tests.support.scripted_llm import reply_json, reply_text

FAST = BatchOptions(gather_seconds=0.1, poll_first=0.01, poll_max=0.05)
PROTOCOLS = {
    "openai": (BatchOpenAIServer, "openai:gpt-4o-mini", "OPENAI_API_KEY", "OPENAI_BASE_URL", "base_url"),
    "anthropic": (BatchAnthropicServer, "anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                  "base_url"),
}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


def echo(request):
    """Free text answers "re: <prompt>"; a schema request answers {"answer": "<prompt>"}."""
    body = request.json
    content = body["messages"][-1]["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    if body.get("response_format") or body.get("tools"):
        return reply_json({"answer": text})
    return reply_text("re: " + text)


@contextmanager
def serving(protocol: str, monkeypatch):
    server_class, model, key_variable, url_variable, _ = PROTOCOLS[protocol]
    with server_class(responder=echo) as server:
        monkeypatch.setenv(key_variable, "test-key-0123456789")
        monkeypatch.setenv(url_variable, server.base_url if protocol == "openai" else server.root_url)
        server.model_string = model
        yield server


@pytest.fixture(params=sorted(PROTOCOLS))
def server(request, monkeypatch):
    with serving(request.param, monkeypatch) as server:
        yield server


# The fault matrix runs on both protocols; by default on OpenAI only (the Anthropic half with -m slow).
@pytest.fixture(params=["openai", pytest.param("anthropic", marks=pytest.mark.slow)])
def fault_server(request, monkeypatch):
    with serving(request.param, monkeypatch) as server:
        yield server


async def conversation(llm: LLM, name: str, turns: int) -> list[str]:
    said, text = [], name
    for turn in range(turns):
        schema = SCHEMA if turn % 2 else None
        reply = await llm.chat(ChatRequest(messages=[{"role": "user", "content": f"{text} / {turn}"}], schema=schema,
                                           temperature=0, max_tokens=128, step="test.turn"))
        said.append(reply.text)
        text = reply.text[-40:]
    return said


def run(server, cache_dir, *, batch=FAST, conversations=3, turns=2):
    async def main():
        llm = LLM(server.model_string, cache_dir=cache_dir, batch=batch, retry_base_delay=0.01)
        async with llm:
            said = await asyncio.gather(*(conversation(llm, f"c{i}", turns) for i in range(conversations)),
                                        return_exceptions=True)
        return said, llm.batch_report()

    return asyncio.run(main())


def cache_entries(cache_dir) -> dict:
    from tests.test_reliability_support import cache_entries as read

    return read(cache_dir)


def test_batch_replies_and_cache_entries_are_those_of_the_online_route(server, tmp_path):
    online, _ = run(server, tmp_path / "online", batch=None)
    batched, report = run(server, tmp_path / "batch")
    assert batched == online and report["rounds"] == 2 and server.billed_more_than_once() == []
    entries_online, entries_batch = cache_entries(tmp_path / "online"), cache_entries(tmp_path / "batch")
    assert entries_batch.keys() == entries_online.keys()
    assert {e.pop("route") for e in entries_batch.values()} == {"batch"}  # the cache says how each came
    assert entries_batch == entries_online


FAULTS = {
    "partial line errors": BatchFaults(error_lines=lambda custom_id: custom_id < "8"),
    "expiry": BatchFaults(expire_batches=1, lines_before_expiry=1),
    "cancellation": BatchFaults(cancel_batches=1, lines_before_cancel=1),
    "slow completion": BatchFaults(in_progress_polls=4),
    "results unavailable for a while": BatchFaults(results_unavailable=2),
    "results unavailable (503)": BatchFaults(results_unavailable=2, results_unavailable_status=503),
    "429/5xx on polling": BatchFaults(poll_errors=(429, 500, 503, 502)),
    "a lost submit response": BatchFaults(lose_submit_responses=1),
    "expired lines left out of the results": BatchFaults(expire_batches=1, omit_unrun_lines=True),
}


# Three faults by default (one per stage: submit, polling, results); every fault with -m slow.
DEFAULT_FAULTS = {"a lost submit response", "429/5xx on polling", "expiry"}


@pytest.mark.parametrize("fault", [name if name in DEFAULT_FAULTS else pytest.param(name, marks=pytest.mark.slow)
                                   for name in sorted(FAULTS)])
def test_each_fault_ends_in_a_finished_run_paying_no_line_twice(fault_server, tmp_path, fault):
    server = fault_server
    expected, _ = run(server, tmp_path / "online", batch=None)
    server.faults = FAULTS[fault]
    said, report = run(server, tmp_path / "batch")
    assert said == expected, report
    assert server.billed_more_than_once() == []
    if fault == "a lost submit response":
        assert report["submissions_found_again"] == 1
        assert len(server.batches_created) == 2  # one per round: the lost one was found, not sent again


def test_a_refused_batch_names_how_to_continue_and_a_rerun_finishes(server, tmp_path):
    expected, _ = run(server, tmp_path / "online", batch=None)
    server.faults = BatchFaults(reject_batches=1)
    said, _ = run(server, tmp_path / "batch")
    assert all(isinstance(outcome, RequestFailed) for outcome in said)
    assert "refused" in str(said[0]) and "Run the same command again, or without --batch" in str(said[0])
    assert server.lines_billed == []
    server.faults = BatchFaults()
    said, _ = run(server, tmp_path / "batch")
    assert said == expected and server.billed_more_than_once() == []


def test_a_line_refused_for_good_fails_alone(server, tmp_path):
    server.faults = BatchFaults(invalid_lines=lambda custom_id: True)
    said, report = run(server, tmp_path / "batch", conversations=2, turns=1)
    assert all(isinstance(outcome, RequestFailed) and "the batch line was refused" in str(outcome) for outcome in said)
    assert report["lines_failed"] == 2
    server.faults = BatchFaults()  # the next run asks them again (a transport failure is not a verdict)
    said, _ = run(server, tmp_path / "batch", conversations=2, turns=1)
    assert said == [["re: c0 / 0"], ["re: c1 / 0"]]


def test_rounds_are_cut_to_the_providers_line_limit(server, tmp_path):
    options = BatchOptions(gather_seconds=0.1, poll_first=0.01, poll_max=0.05, max_lines=2)
    said, report = run(server, tmp_path / "batch", batch=options, conversations=5, turns=1)
    assert report["rounds"] == 1 and [b["lines"] for b in report["batches"]] == [1, 2, 2] or \
        sorted(b["lines"] for b in report["batches"]) == [1, 2, 2]
    assert said == [[f"re: c{i} / 0"] for i in range(5)]
