"""The planted API key reaches the server's auth header and nothing else: not bodies, cache, logs or errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from builders.llm import ChatRequest, RequestFailed
from builders.llm.client import CACHE_FILE
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import drop_connection, http_error, malformed_json, reply_json, reply_text, truncated

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
AUTH_HEADERS = {"authorization", "x-api-key"}


@pytest.fixture(params=["openai", "openai-compatible", "anthropic"])
def provider(request):
    if request.param == "anthropic":
        return request.getfixturevalue("anthropic_server"), "anthropic:claude-haiku-4-5"
    server = request.getfixturevalue("openai_server")
    if request.param == "openai":
        return server, "openai:gpt-4o-mini"
    return server, f"openai-compatible:{server.base_url}#scripted"


def cache_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.glob(CACHE_FILE + "*"))  # the file, its -wal and -shm


def test_the_key_goes_only_into_the_auth_header(provider, make_llm, tmp_path, caplog):
    server, model = provider
    key = server.planted_key
    # The key-like message is what a careless server might echo back in an error.
    server.script(reply_json({"answer": "a"}), http_error(503), malformed_json(), truncated(),
                  reply_json({"answer": "b"}), drop_connection(), reply_text("free text"),
                  http_error(401, message=f"Incorrect API key provided: {key}"))
    caplog.set_level(logging.DEBUG)  # the SDKs' and httpx's debug logs included
    requests = [ChatRequest(messages=[{"role": "user", "content": f"q{n}"}], schema=SCHEMA) for n in range(2)]
    requests += [ChatRequest(messages=[{"role": "user", "content": "free"}]),
                 ChatRequest(messages=[{"role": "user", "content": "unauthorised"}])]
    llm = make_llm(model, cache_dir=tmp_path / "cache", concurrency=1)
    outcomes = [run_chats(llm, [request])[0] for request in requests]
    assert [getattr(outcome, "text", None) for outcome in outcomes[:3]] == ['{"answer": "a"}', '{"answer": "b"}',
                                                                             "free text"]
    assert isinstance(outcomes[3], RequestFailed) and "HTTP 401" in outcomes[3].reason

    sent_with_key = 0
    for request in server.requests:
        assert key.encode() not in request.raw and key not in request.path
        for name, value in request.headers.items():
            if key in value:
                assert name in AUTH_HEADERS
                sent_with_key += 1
    assert sent_with_key == len(server.requests)  # the key did authenticate every request

    assert key.encode() not in cache_bytes(tmp_path / "cache")
    assert any(record.name.startswith(("openai", "anthropic")) for record in caplog.records)  # logs were seen
    assert key not in caplog.text
    assert key not in str(outcomes[3]) and key not in repr(outcomes[3])
    assert "<API key>" in str(outcomes[3])
    assert key not in repr(llm.accounting.report())


def test_the_key_is_not_in_configuration_errors(monkeypatch, tmp_path):
    from builders.llm import LLM, ConfigError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-PLANTED-in-env")
    with pytest.raises(ConfigError) as caught:
        LLM("openai:unpriced-model", cache_dir=tmp_path, max_cost=1.0)
    assert "sk-PLANTED" not in str(caught.value)
