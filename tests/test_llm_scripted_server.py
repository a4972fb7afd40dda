"""The scripted servers themselves: the parts tests and the benchmark rely on beyond the LLM layer's own tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema

from builders.llm import ChatRequest
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import answer_the_schema, example_for, reply_text

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA = {"type": "object", "properties": {"mood": {"enum": ["calm", "angry"]}, "n": {"type": "integer"},
                                           "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
          "required": ["mood", "n", "tags"]}


def test_models_endpoint_lists_the_model(openai_server):
    response = httpx.get(f"{openai_server.base_url}/models")
    assert response.status_code == 200 and response.json()["data"][0]["id"] == openai_server.model


def test_unscripted_requests_fail_fast(openai_server, make_llm):
    (outcome,) = run_chats(make_llm(f"openai-compatible:{openai_server.base_url}#m"),
                           [ChatRequest(messages=[{"role": "user", "content": "hi"}])])
    assert "HTTP 418" in str(outcome) and "no action left" in str(outcome)
    assert len(openai_server.requests) == 1  # not retried


def test_example_for_makes_valid_instances():
    instance = example_for(SCHEMA)
    jsonschema.validate(instance, SCHEMA)
    assert instance == {"mood": "calm", "n": 1, "tags": ["yes", "yes"]}


def test_answer_the_schema_answers_both_protocols(openai_server, anthropic_server, make_llm):
    openai_server.responder = anthropic_server.responder = answer_the_schema
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"], "tags": {"type": "array"}}}  # no minItems:
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}], schema=schema)  # Anthropic gets none
    for model in (f"openai-compatible:{openai_server.base_url}#m", "anthropic:claude-haiku-4-5"):
        (reply,) = run_chats(make_llm(model), [request])
        assert reply.data == {"mood": "calm", "n": 1, "tags": []}


def test_latency_mode_and_in_flight_count(openai_server, make_llm):
    openai_server.latency = 0.2
    openai_server.responder = lambda request: reply_text("ok")
    requests = [ChatRequest(messages=[{"role": "user", "content": str(n)}]) for n in range(6)]
    run_chats(make_llm(f"openai-compatible:{openai_server.base_url}#m", concurrency=3), requests)
    assert openai_server.max_in_flight == 3
    assert all(r.answered - r.received >= 0.2 for r in openai_server.requests)


def test_command_line_server_serves_until_stdin_closes():
    server = subprocess.Popen([sys.executable, "-m", "tests.support.scripted_llm", "--latency", "0"],
                              cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": SCHEMA}}}
        response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body)
        assert json.loads(response.json()["choices"][0]["message"]["content"]) == example_for(SCHEMA)
    finally:
        server.stdin.close()
        assert server.wait(timeout=30) == 0
    assert "SERVED 1" in server.stdout.read()
