"""Model strings and configuration errors: clear messages, raised before any request is sent."""

from __future__ import annotations

import asyncio

import pytest

from builders.llm import LLM, ChatRequest, ConfigError, parse_model
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import reply_text

HELLO = ChatRequest(messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("text, provider, model, base_url", [
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
    ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None),
    ("openai-compatible:http://127.0.0.1:8000/v1#my-model", "openai-compatible", "my-model",
     "http://127.0.0.1:8000/v1"),
    ("openai-compatible:https://host.example/v1/#org/model:7b", "openai-compatible", "org/model:7b",
     "https://host.example/v1"),
    ("local:smollm2", "local", "smollm2", None),
])
def test_model_strings_parse(text, provider, model, base_url):
    spec = parse_model(text)
    assert (spec.provider, spec.model, spec.base_url) == (provider, model, base_url)


@pytest.mark.parametrize("text, expected", [
    ("gpt-4o-mini", "not of the form provider:model"),
    ("", "not of the form provider:model"),
    ("openai:", "not of the form provider:model"),
    ("mistral:large", "unknown provider 'mistral'"),
    ("local:llama-70b", "unknown local model 'llama-70b'"),
    ("openai-compatible:http://127.0.0.1:8000/v1", "openai-compatible:<base URL>#<model name>"),
    ("openai-compatible:127.0.0.1:8000/v1#m", "openai-compatible:<base URL>#<model name>"),
    ("openai-compatible:ftp://host/v1#m", "openai-compatible:<base URL>#<model name>"),
    ("openai-compatible:http://127.0.0.1:8000/v1#", "openai-compatible:<base URL>#<model name>"),
    ("openai-compatible:http://user:pw@127.0.0.1/v1#m", "OPENAI_COMPATIBLE_API_KEY"),
])
def test_bad_model_strings_name_the_problem(text, expected):
    with pytest.raises(ConfigError) as caught:
        parse_model(text)
    assert expected in str(caught.value)


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(ConfigError) as caught:
        parse_model("gemini:pro")
    for known in ("openai", "anthropic", "openai-compatible", "local"):
        assert known in str(caught.value)


@pytest.mark.parametrize("model, variable", [("openai:gpt-4o-mini", "OPENAI_API_KEY"),
                                             ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY")])
def test_missing_key_names_the_variable_before_any_request(model, variable, openai_server, anthropic_server,
                                                           monkeypatch, tmp_path):
    monkeypatch.delenv(variable)
    with pytest.raises(ConfigError) as caught:
        LLM(model, cache_dir=tmp_path)
    assert variable in str(caught.value)
    assert openai_server.requests == [] and anthropic_server.requests == []


def test_blank_key_counts_as_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "   ")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        LLM("openai:gpt-4o-mini", cache_dir=tmp_path)


def test_compatible_server_needs_no_key(openai_server, monkeypatch, make_llm):
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    openai_server.script(reply_text("hello"))
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#scripted")
    (reply,) = run_chats(llm, [HELLO])
    assert reply.text == "hello"
    assert openai_server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_other_options_fail_before_any_request(openai_server, tmp_path):
    model = f"openai-compatible:{openai_server.base_url}#m"
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        LLM(model, cache_dir=tmp_path, concurrency=0)
    with pytest.raises(ConfigError, match="needs a response cache"):
        LLM(model)
    with pytest.raises(ConfigError, match="prices.json"):
        LLM("openai:some-unpriced-model", cache_dir=tmp_path, max_cost=1.0)
    assert openai_server.requests == []


def test_invalid_schema_fails_before_any_request(openai_server, make_llm):
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#m")
    bad = ChatRequest(messages=[{"role": "user", "content": "hi"}],
                      schema={"type": "object", "properties": {"a": {"type": "no-such-type"}}})
    (outcome,) = run_chats(llm, [bad])
    assert isinstance(outcome, ConfigError)
    assert "properties/a/type" in str(outcome) and "no-such-type" in str(outcome)
    assert openai_server.requests == []


def test_chat_outside_async_with_is_a_clear_error(openai_server, make_llm):
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#m")
    with pytest.raises(RuntimeError, match="async with llm"):
        asyncio.run(llm.chat(HELLO))
