"""Batch mode in the LLM layer, against an in-process batch API (the HTTP servers are tested with the
real SDKs in test_llm_batch_servers.py): rounds, the ledger across runs, lost submissions,
resubmitted lines, the budget."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from builders.llm import LLM, Accounting, BatchOptions, BudgetExceeded, ChatRequest, ConfigError, RequestFailed
from builders.llm import client as client_module
from builders.llm.errors import FatalProviderError, TransientError
from builders.llm.providers.batch_api import BatchAPI, BatchState, LineResult
from builders.llm.types import RawReply

FAST = BatchOptions(gather_seconds=0.05, poll_first=0.01, poll_max=0.02)


class FakeBatchAPI(BatchAPI):
    """Batches end after `polls` looks; each line's reply echoes its prompt. Faults are set per test."""

    name = "fake batch API"
    max_lines = 1000
    max_bytes = 10**9

    def __init__(self, polls: int = 1):
        self.polls = polls
        self.batches: dict[str, dict] = {}
        self.billed: list[str] = []  # line ids answered, across batches
        self.lose_submits = 0  # the batch is created, the answer lost
        self.expire_first = set()  # line ids whose first submission expires
        self.refuse = 0
        self._ids = itertools.count(1)

    def line(self, line_id, request, seed):
        return {"custom_id": line_id, "prompt": request.messages[-1]["content"]}

    async def submit(self, lines, round_id):
        if self.refuse:
            self.refuse -= 1
            raise FatalProviderError("HTTP 400: the file is not valid")
        batch_id = f"batch_{next(self._ids)}"
        self.batches[batch_id] = {"round": round_id, "lines": lines, "looks": 0, "read": False}
        if self.lose_submits:
            self.lose_submits -= 1
            raise TransientError("the connection dropped before the answer")
        return batch_id, 0.0

    async def find(self, round_id, since, lines, known):
        return next((b for b, v in self.batches.items() if v["round"] == round_id and b not in known), None)

    async def state(self, batch_id):
        batch = self.batches[batch_id]
        batch["looks"] += 1
        ended = batch["looks"] >= self.polls
        return BatchState("completed" if ended else "in_progress", ended)

    async def results(self, batch_id):
        for line in self.batches[batch_id]["lines"]:
            line_id = line["custom_id"]
            if line_id in self.expire_first:
                self.expire_first.discard(line_id)
                yield LineResult(line_id, "again", reason="batch_expired")
                continue
            self.billed.append(line_id)
            yield LineResult(line_id, "reply", {"text": "re: " + line["prompt"]}, size=20)

    def reply(self, payload):
        return RawReply(text=payload["text"], finish_reason="stop", input_tokens=10, output_tokens=5, model="m")


@pytest.fixture
def fake_api(monkeypatch):
    api = FakeBatchAPI()
    monkeypatch.setattr(client_module, "batch_api_for", lambda provider: api)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    return api


def request(text: str, step: str = "test.step") -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], temperature=0, max_tokens=64, step=step)


async def conversation(llm: LLM, name: str, turns: int) -> list[str]:
    """Dependent requests: each turn's prompt holds the previous reply, as a ToMATO turn does."""
    said = []
    text = name
    for turn in range(turns):
        reply = await llm.chat(request(f"{text} / turn {turn}"))
        said.append(reply.text)
        text = reply.text
    return said


def run_build(tmp_path, *, conversations=3, turns=2, options=FAST, accounting=None):
    async def main():
        llm = LLM("openai:gpt-4o-mini", cache_dir=tmp_path, batch=options, accounting=accounting)
        async with llm:
            said = await asyncio.gather(*(conversation(llm, f"c{i}", turns) for i in range(conversations)))
        return said, llm.batch_report()

    return asyncio.run(main())


def test_dependent_requests_go_in_rounds_and_a_rerun_pays_nothing(fake_api, tmp_path):
    said, report = run_build(tmp_path)
    assert report["rounds"] == 2 and len(report["batches"]) == 2  # one round per turn of the 3 conversations
    assert report["lines_submitted"] == 6 and report["lines_answered"] == 6
    assert said[0] == ["re: c0 / turn 0", "re: re: c0 / turn 0 / turn 1"]
    assert report["saving_usd"] > 0 and report["cost_usd"] == pytest.approx(report["online_price_usd"] / 2, abs=2e-6)
    again, report = run_build(tmp_path)
    assert again == said and report["lines_submitted"] == 0 and len(fake_api.billed) == 6


def test_a_lost_submission_is_found_again_and_not_paid_twice(fake_api, tmp_path):
    fake_api.lose_submits = 1
    said, report = run_build(tmp_path, turns=1)
    assert report["submissions_found_again"] == 1
    assert len(fake_api.batches) == 1 and sorted(fake_api.billed) == sorted(set(fake_api.billed))
    assert said == [["re: c0 / turn 0"], ["re: c1 / turn 0"], ["re: c2 / turn 0"]]


def test_a_batch_left_by_a_killed_run_is_collected_not_resubmitted(fake_api, tmp_path):
    fake_api.polls = 10**9  # the first run never sees its batch end
    options = BatchOptions(gather_seconds=0.05, poll_first=0.01, poll_max=0.02)

    async def killed_run():
        llm = LLM("openai:gpt-4o-mini", cache_dir=tmp_path, batch=options)
        async with llm:
            task = asyncio.ensure_future(conversation(llm, "c0", 1))
            while not fake_api.batches:
                await asyncio.sleep(0.01)
            task.cancel()  # the build is stopped with its batch submitted and running
            await asyncio.gather(task, return_exceptions=True)
        return llm.batch_report()

    first = asyncio.run(killed_run())
    assert first["batches_left_running"] == ["batch_1"]
    fake_api.polls = 1
    said, report = run_build(tmp_path, conversations=1, turns=1)
    assert said == [["re: c0 / turn 0"]]
    assert list(fake_api.batches) == ["batch_1"] and fake_api.billed == [fake_api.batches["batch_1"]["lines"][0]["custom_id"]]
    assert report["lines_submitted"] == 0


def test_a_round_written_down_but_never_confirmed_is_adopted_at_start(fake_api, tmp_path):
    """Killed between the provider accepting a batch and the ledger recording its id."""
    from builders.llm.batch_ledger import BatchLedger, line_id
    from builders.llm.cache import ResponseCache

    async def key_of(text):
        llm = LLM("openai:gpt-4o-mini", cache_dir=tmp_path)
        return llm._key(request(text)), llm._seed_for(request(text), 0)

    key, seed = asyncio.run(key_of("c0 / turn 0"))
    lid = line_id(key, seed)
    cache = ResponseCache(tmp_path / "responses.sqlite")
    BatchLedger(cache, "openai:gpt-4o-mini").submitting("round-x", [lid])
    cache.close()
    fake_api.batches["batch_9"] = {"round": "round-x", "lines": [{"custom_id": lid, "prompt": "c0 / turn 0"}],
                                   "looks": 0, "read": False}
    said, report = run_build(tmp_path, conversations=1, turns=1)
    assert said == [["re: c0 / turn 0"]] and report["submissions_found_again"] == 1
    assert list(fake_api.batches) == ["batch_9"]


def test_expired_lines_go_into_the_next_round_and_are_bounded(fake_api, tmp_path):
    fake_api.expire_first = None  # set below, once line ids are known

    class ExpireAll(set):
        def __contains__(self, item):
            return True

        def discard(self, item):
            pass

    fake_api.expire_first = ExpireAll()
    with pytest.raises(RequestFailed, match="ended without a reply 3 times"):
        run_build(tmp_path, conversations=1, turns=1)
    assert len(fake_api.batches) == 3 and fake_api.billed == []


def test_one_expired_line_is_submitted_once_more(fake_api, tmp_path):
    original = fake_api.results

    async def results(batch_id):
        async for result in original(batch_id):
            if batch_id == "batch_1" and result.line_id == fake_api.batches["batch_1"]["lines"][0]["custom_id"]:
                fake_api.billed.remove(result.line_id)
                yield LineResult(result.line_id, "again", reason="batch_expired")
            else:
                yield result

    fake_api.results = results
    said, report = run_build(tmp_path, conversations=2, turns=1)
    assert report["lines_submitted_again"] == 1 and len(fake_api.batches) == 2
    assert sorted(fake_api.billed) == sorted(set(fake_api.billed)) and len(fake_api.billed) == 2


def test_a_refused_batch_fails_its_requests_with_the_fix(fake_api, tmp_path):
    fake_api.refuse = 1
    with pytest.raises(RequestFailed, match="refused a batch of 3 requests.*none of them was paid for"):
        run_build(tmp_path, turns=1)


def test_a_budget_below_one_round_is_refused_before_anything_is_submitted(fake_api, tmp_path):
    with pytest.raises(BudgetExceeded) as stopped:
        run_build(tmp_path, accounting=Accounting(max_cost=0.00001))
    assert "one batch round (3 requests gathered)" in str(stopped.value) and "drop --batch" in str(stopped.value)
    assert fake_api.batches == {}


@pytest.mark.parametrize("model", ["local:smollm2", "openai-compatible:http://127.0.0.1:9/v1#m"])
def test_batch_mode_needs_a_provider_with_a_batch_api(tmp_path, model):
    with pytest.raises(ConfigError, match="--batch needs a provider with a batch API"):
        LLM(model, cache_dir=tmp_path, batch=FAST)


def test_small_rounds_go_online_when_asked(fake_api, tmp_path, monkeypatch):
    online = []

    async def complete(self, req, seed):
        online.append(req.messages[-1]["content"])
        return RawReply(text="online: " + req.messages[-1]["content"], finish_reason="stop")

    monkeypatch.setattr("builders.llm.providers.openai_api.OpenAIProvider.complete", complete)
    options = BatchOptions(gather_seconds=0.05, poll_first=0.01, poll_max=0.02, online_below=2)
    said, report = run_build(tmp_path, conversations=1, turns=2, options=options)
    assert said == [["online: c0 / turn 0", "online: online: c0 / turn 0 / turn 1"]]
    assert fake_api.batches == {} and report["lines_sent_online"] == 2
