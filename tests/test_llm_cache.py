"""The response cache: hits make no requests, keys separate what must differ, files survive and fail clearly."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from builders.llm import LLM, CacheError, ChatRequest, ResponseCache
from builders.llm.client import CACHE_FILE
from tests.support.llm_fixtures import FAST_RETRIES, chat_once, run_chats
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_json, reply_text

SCHEMA = {"type": "object", "properties": {"said": {"type": "string"}}, "required": ["said"]}


def echo(request):
    """Answers each prompt with itself, so a reply shows which request produced it."""
    return reply_json({"said": request.json["messages"][-1]["content"]})


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest(messages=[{"role": "system", "content": "Repeat."}, {"role": "user", "content": text}],
                       **{"schema": SCHEMA, **fields})


@pytest.fixture
def echo_server(openai_server):
    openai_server.responder = echo
    return openai_server


def model_of(server) -> str:
    return f"openai-compatible:{server.base_url}#scripted"


def test_a_repeat_makes_no_request(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    first, second = run_chats(llm, [ask("a")]) + run_chats(llm, [ask("a")])
    assert len(echo_server.requests) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.data == first.data == {"said": "a"} and second.text == first.text
    assert second.provenance == first.provenance
    usage = llm.accounting.totals()
    assert (usage.requests, usage.cache_hits) == (1, 1)


def test_another_sample_is_a_new_request_with_another_seed(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    replies = run_chats(llm, [ask("a", sample=0), ask("a", sample=1)]) + run_chats(llm, [ask("a", sample=1)])
    assert len(echo_server.requests) == 2 and replies[2].cached
    seeds = {body["seed"] for body in echo_server.bodies()}
    assert len(seeds) == 2
    assert replies[0].provenance["request_hash"] != replies[1].provenance["request_hash"]


def test_changing_one_message_re_requests_only_that_one(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    prompts = [f"prompt {n}" for n in range(10)]
    run_chats(llm, [ask(text) for text in prompts])
    echo_server.reset_counts()
    prompts[4] = "prompt 4, edited"
    replies = run_chats(llm, [ask(text) for text in prompts])
    assert [body["messages"][-1]["content"] for body in echo_server.bodies()] == ["prompt 4, edited"]
    assert [reply.cached for reply in replies] == [True] * 4 + [False] + [True] * 5


@pytest.mark.parametrize("change", [{"temperature": 0.1}, {"max_tokens": 99}, {"top_p": 0.5}, {"seed": 5},
                                    {"schema": {**SCHEMA, "additionalProperties": False}}])
def test_every_sampling_input_is_part_of_the_key(echo_server, make_llm, change):
    llm = make_llm(model_of(echo_server))
    run_chats(llm, [ask("a")])
    run_chats(llm, [ask("a", **change)])
    assert len(echo_server.requests) == 2


def test_a_repeat_penalty_is_part_of_the_key_only_when_set(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    (plain,) = run_chats(llm, [ask("a")])
    (penalised,) = run_chats(llm, [ask("a", repeat_penalty=1.0)])
    assert not penalised.cached and len(echo_server.requests) == 2
    assert penalised.provenance["repeat_penalty"] == 1.0 and "repeat_penalty" not in plain.provenance
    # an OpenAI-compatible server is not sent llama.cpp's parameter...
    assert all("repeat_penalty" not in body for body in echo_server.bodies())


def test_the_llama_cpp_dialect_sends_the_repeat_penalty(echo_server):
    import asyncio

    from builders.llm.providers.openai_api import OpenAIProvider

    async def send():  # ...the embedded model's llama.cpp server is
        provider = OpenAIProvider(name="local", model="m", api_key=None, base_url=echo_server.base_url, timeout=10,
                                  schema_dialect="llama.cpp")
        try:
            await provider.complete(ask("a", repeat_penalty=1.0), seed=1)
            await provider.complete(ask("b"), seed=1)
        finally:
            await provider.close()

    asyncio.run(send())
    assert [body.get("repeat_penalty") for body in echo_server.bodies()] == [1.0, None]


def test_step_and_prompt_hash_are_not_part_of_the_key(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    run_chats(llm, [ask("a", step="one", prompt_hash="old")])
    (reply,) = run_chats(llm, [ask("a", step="two", prompt_hash="new")])
    assert reply.cached and len(echo_server.requests) == 1
    assert reply.provenance["prompt_hash"] == "new"  # this request's template, not the first one's
    assert llm.accounting.usage(llm.label, "two").cache_hits == 1


def test_the_client_seed_is_part_of_the_key(echo_server, make_llm, tmp_path):
    run_chats(make_llm(model_of(echo_server), seed=1), [ask("a")])
    run_chats(make_llm(model_of(echo_server), seed=2), [ask("a")])
    run_chats(make_llm(model_of(echo_server), seed=1), [ask("a")])
    assert len(echo_server.requests) == 2


def test_the_cache_survives_closing_and_reopening(echo_server, make_llm, tmp_path):
    run_chats(make_llm(model_of(echo_server), cache_dir=tmp_path / "c"), [ask(str(n)) for n in range(5)])
    assert (tmp_path / "c" / CACHE_FILE).is_file()
    echo_server.reset_counts()
    reopened = make_llm(model_of(echo_server), cache_dir=tmp_path / "c")
    replies = run_chats(reopened, [ask(str(n)) for n in range(5)])
    assert echo_server.requests == [] and all(reply.cached for reply in replies)
    assert [reply.data["said"] for reply in replies] == [str(n) for n in range(5)]
    assert len(reopened.cache) == 5


def test_a_client_can_be_entered_twice(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    run_chats(llm, [ask("a")])
    (again,) = run_chats(llm, [ask("a")])
    assert again.cached


def test_a_shared_cache_serves_two_clients(echo_server, tmp_path):
    cache = ResponseCache(tmp_path / "shared.sqlite")
    run_chats(LLM(model_of(echo_server), cache=cache, **FAST_RETRIES), [ask("a")])
    (reply,) = run_chats(LLM(model_of(echo_server), cache=cache, **FAST_RETRIES), [ask("a")])
    assert reply.cached and len(echo_server.requests) == 1


def test_a_damaged_entry_is_requested_again_and_replaced(echo_server, make_llm):
    llm = make_llm(model_of(echo_server))
    (reply,) = run_chats(llm, [ask("a")])
    with sqlite3.connect(llm.cache.path) as db:
        db.execute("UPDATE responses SET value = ?", (b"{not json",))
    (again,) = run_chats(llm, [ask("a")])
    assert not again.cached and again.data == reply.data and len(echo_server.requests) == 2
    (third,) = run_chats(llm, [ask("a")])
    assert third.cached


# ---- two processes ----


def _fill_cache(base_url: str, cache_dir: str, prompts: list[str], barrier) -> None:
    """Runs in a child process: ask every prompt through the layer, sharing the cache file."""
    os.environ["OPENAI_COMPATIBLE_API_KEY"] = "unused"
    llm = LLM(f"openai-compatible:{base_url}#scripted", cache_dir=Path(cache_dir), concurrency=16, **FAST_RETRIES)
    barrier.wait()  # both processes write at the same time
    outcomes = run_chats(llm, [ask(text) for text in prompts])
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {failures[0]!r}")


def test_two_processes_writing_one_cache_lose_nothing(tmp_path):
    spawn = multiprocessing.get_context("spawn")  # the parent runs server threads: no fork
    shared = [f"shared {n}" for n in range(40)]
    prompts_a = shared + [f"only a {n}" for n in range(80)]
    prompts_b = [f"only b {n}" for n in range(80)] + shared[::-1]
    with ScriptedOpenAIServer(responder=echo) as server:
        barrier = spawn.Barrier(2)
        workers = [spawn.Process(target=_fill_cache, args=(server.base_url, str(tmp_path), prompts, barrier))
                   for prompts in (prompts_a, prompts_b)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0, 0]
        server.reset_counts()
        everything = sorted(set(prompts_a) | set(prompts_b))
        llm = LLM(f"openai-compatible:{server.base_url}#scripted", cache_dir=tmp_path, **FAST_RETRIES)
        replies = run_chats(llm, [ask(text) for text in everything])
        assert server.requests == []
        assert [reply.data["said"] for reply in replies] == everything
        assert len(llm.cache) == len(everything)


# ---- files that cannot be used ----


def test_a_corrupt_file_is_a_clear_error_and_stays_in_place(tmp_path):
    path = tmp_path / CACHE_FILE
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(CacheError) as caught:
        LLM("openai-compatible:http://127.0.0.1:9/v1#m", cache_dir=tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert "Move it aside or pass another --cache-dir" in message
    assert path.read_bytes() == garbage


def test_another_format_version_is_a_clear_error_and_stays_in_place(echo_server, make_llm, tmp_path):
    run_chats(make_llm(model_of(echo_server), cache_dir=tmp_path), [ask("paid for")])
    path = tmp_path / CACHE_FILE
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(CacheError) as caught:
        ResponseCache(path)
    message = str(caught.value)
    assert str(path) in message and "format version 99" in message and "reads version 1" in message
    assert "Move it aside or pass another --cache-dir" in message
    with sqlite3.connect(path) as db:  # untouched: the entry and the version are still there
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
        assert db.execute("SELECT value FROM meta").fetchone()[0] == "99"


def test_an_unwritable_cache_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(CacheError, match="pass a writable --cache-dir"):
        ResponseCache(blocker / "cache.sqlite")


def test_an_invalid_verdict_is_remembered_and_a_new_sample_asks_again(openai_server, make_llm):
    """Invalid replies were paid for and the same seeds would repeat them: a rebuild replays the
    failure without a request (same release, nothing paid twice); another sample asks again."""
    openai_server.script(reply_text("not json"), reply_text("still not json"))
    llm = make_llm(model_of(openai_server), max_invalid_retries=1)
    (failed,) = run_chats(llm, [ask("a")])
    assert isinstance(failed, Exception) and len(openai_server.requests) == 2
    (again,) = run_chats(llm, [ask("a")])
    assert isinstance(again, Exception) and str(again) == str(failed) and len(openai_server.requests) == 2
    openai_server.script(reply_json({"said": "a"}))
    assert chat_once(llm, ask("a", sample=1)).data == {"said": "a"}


