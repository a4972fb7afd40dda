"""Structured output per provider: what is sent, how replies are parsed, and how bad replies fail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from builders.llm import ChatRequest, RequestFailed
from tests.support.llm_fixtures import chat_once, run_chats
from tests.support.scripted_llm import malformed_json, refusal, reply_json, reply_text, truncated

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "answer": {"type": "string", "enum": ["yes", "no"]},
        "why": {"type": "string", "minLength": 3, "maxLength": 200},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["answer", "why"],
    "additionalProperties": False,
}
GOOD = {"answer": "yes", "why": "because it is"}


def ask(**fields) -> ChatRequest:
    return ChatRequest(messages=[{"role": "system", "content": "Answer in JSON."},
                                 {"role": "user", "content": "Is the sky blue?"}],
                       schema=SCHEMA, **{"temperature": 0.5, "max_tokens": 64, **fields})


@pytest.fixture(params=["openai", "openai-compatible", "anthropic"])
def provider(request):
    """(scripted server, model string) for each provider the layer talks HTTP to."""
    if request.param == "anthropic":
        return request.getfixturevalue("anthropic_server"), "anthropic:claude-haiku-4-5"
    server = request.getfixturevalue("openai_server")
    if request.param == "openai":
        return server, "openai:gpt-4o-mini"
    return server, f"openai-compatible:{server.base_url}#scripted"


# ---- what each provider is sent ----


def test_openai_gets_a_strict_json_schema_and_a_seed(openai_server, make_llm):
    openai_server.script(reply_json({**GOOD, "confidence": None}))  # strict mode's "absent"
    reply = chat_once(make_llm("openai:gpt-4o-mini", seed=7), ask())

    (body,) = openai_server.bodies("/chat/completions")
    format_ = body["response_format"]
    assert format_["type"] == "json_schema" and format_["json_schema"]["strict"] is True
    sent = format_["json_schema"]["schema"]
    assert sent["additionalProperties"] is False
    assert sent["required"] == ["answer", "why", "confidence"]
    assert sent["properties"]["confidence"] == {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                                                          {"type": "null"}]}
    assert "minLength" not in sent["properties"]["why"] and "$schema" not in sent
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.5 and body["max_tokens"] == 64
    assert isinstance(body["seed"], int) and body["seed"] == reply.provenance["seed"]
    assert reply.data == GOOD  # the null of the optional property is gone, the full schema holds


def test_openai_compatible_gets_the_full_schema(openai_server, make_llm):
    openai_server.script(reply_json(GOOD))
    chat_once(make_llm(f"openai-compatible:{openai_server.base_url}#served-name"), ask())
    (body,) = openai_server.bodies("/chat/completions")
    assert body["model"] == "served-name"
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}}


def test_anthropic_gets_a_forced_tool_and_the_system_prompt(anthropic_server, make_llm):
    anthropic_server.script(reply_json(GOOD))
    reply = chat_once(make_llm("anthropic:claude-haiku-4-5"), ask())

    (body,) = anthropic_server.bodies("/v1/messages")
    (tool,) = body["tools"]
    assert body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    # lengths and bounds are checked locally; the tool schema only describes them to the model
    assert tool["input_schema"]["properties"]["why"] == {
        "type": "string", "description": 'Also required (JSON Schema): {"maxLength": 200, "minLength": 3}'}
    assert tool["input_schema"]["properties"]["confidence"]["description"].endswith('{"maximum": 1, "minimum": 0}')
    assert "$schema" not in tool["input_schema"] and "description" not in tool["input_schema"]
    assert tool["input_schema"]["required"] == ["answer", "why"]
    assert body["system"] == "Answer in JSON."
    assert body["messages"] == [{"role": "user", "content": "Is the sky blue?"}]
    assert "seed" not in body and "temperature" not in body
    assert reply.data == GOOD
    assert reply.provenance["seed"] is None and reply.provenance["temperature"] is None


def test_anthropic_tool_schema_describes_a_pattern_and_keeps_existing_descriptions():
    from builders.llm.providers.anthropic_api import tool_input_schema

    schema = {"type": "object", "properties": {
        "thought": {"type": "string", "pattern": "^I feel [a-z ]{2,9}$", "description": "A private thought."},
        "pattern": {"type": "string"},  # a property named like a keyword is not a constraint
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 9}, "minItems": 0, "maxItems": 2}}}
    sent = tool_input_schema(schema)
    assert sent["properties"]["thought"] == {
        "type": "string",
        "description": 'A private thought. Also required (JSON Schema): {"pattern": "^I feel [a-z ]{2,9}$"}'}
    assert sent["properties"]["tags"]["description"] == 'Also required (JSON Schema): {"maxItems": 2, "minItems": 0}'
    assert sent["properties"]["tags"]["items"]["description"] == 'Also required (JSON Schema): {"maxLength": 9}'
    assert "description" not in sent["properties"] and schema["properties"]["thought"]["description"] == \
        "A private thought."  # the caller's schema is not changed


def test_anthropic_reply_wrapped_in_one_key_is_unwrapped(anthropic_server, make_llm):
    anthropic_server.script(reply_json({"reply": GOOD}))
    assert chat_once(make_llm("anthropic:claude-haiku-4-5"), ask()).data == GOOD


def test_anthropic_text_reply_without_tool_use_is_parsed(anthropic_server, make_llm):
    anthropic_server.script(reply_text("```json\n" + '{"answer": "no", "why": "night time"}' + "\n```"))
    assert chat_once(make_llm("anthropic:claude-haiku-4-5"), ask()).data == {"answer": "no", "why": "night time"}


def test_reply_provenance(provider, make_llm):
    server, model = provider
    server.script(reply_json(GOOD))
    reply = chat_once(make_llm(model), ask(sample=3, prompt_hash="tmpl-abc"))
    assert reply.cached is False and reply.text and reply.data == GOOD
    provenance = reply.provenance
    assert provenance["model"] == model and provenance["provider"] == model.split(":")[0]
    assert len(provenance["request_hash"]) == 64
    assert (provenance["sample"], provenance["max_tokens"], provenance["prompt_hash"]) == (3, 64, "tmpl-abc")
    assert provenance["attempts"] == 1


# ---- bad replies ----


def test_schema_invalid_replies_are_retried_with_another_seed_then_fail(provider, make_llm):
    server, model = provider
    server.script(*[reply_json({"answer": "maybe", "why": "unsure"})] * 3)
    llm = make_llm(model, max_invalid_retries=2)
    with pytest.raises(RequestFailed) as caught:
        chat_once(llm, ask())
    assert "no valid reply after 3 attempts" in caught.value.reason
    assert "fails the schema at answer" in caught.value.reason and "'maybe'" in caught.value.reason
    assert caught.value.attempts == 3 and len(caught.value.request_hash) == 64
    assert len(server.requests) == 3
    if not model.startswith("anthropic"):
        seeds = [body["seed"] for body in server.bodies()]
        assert len(set(seeds)) == 3
    usage = llm.accounting.totals()
    assert (usage.requests, usage.failures, usage.reasks, usage.retries) == (3, 1, 2, 0)
    # no invalid reply is cached, only the verdict (so a rebuild replays it without paying again)
    assert llm.cache.get(caught.value.request_hash) == {"failed": caught.value.reason, "attempts": 3}


def test_a_greedy_request_whose_refused_reply_comes_back_unchanged_is_not_asked_a_third_time(provider, make_llm):
    """At temperature 0 another seed decodes the same way: the repeat is paid once, not twice more."""
    server, model = provider
    server.script(*[truncated()] * 3)
    llm = make_llm(model, max_invalid_retries=2)
    with pytest.raises(RequestFailed) as caught:
        chat_once(llm, ask(temperature=0.0))
    assert len(server.requests) == 2 and caught.value.attempts == 2
    assert "no valid reply after 2 attempts" in caught.value.reason
    assert "the same reply came back at temperature 0, so it was not asked again" in caught.value.reason
    usage = llm.accounting.totals()
    assert (usage.requests, usage.failures, usage.reasks) == (2, 1, 1)
    assert llm.cache.get(caught.value.request_hash) == {"failed": caught.value.reason, "attempts": 2}


def test_a_greedy_request_whose_replies_differ_keeps_its_re_asks(openai_server, make_llm):
    openai_server.script(truncated(), malformed_json(), reply_json(GOOD))
    reply = chat_once(make_llm(f"openai-compatible:{openai_server.base_url}#m"), ask(temperature=0.0))
    assert reply.data == GOOD and reply.provenance["attempts"] == 3


def test_an_invalid_reply_then_a_valid_one_succeeds(openai_server, make_llm):
    openai_server.script(reply_json({"answer": "yes"}), reply_json(GOOD))
    reply = chat_once(make_llm(f"openai-compatible:{openai_server.base_url}#m"), ask())
    first, second = (body["seed"] for body in openai_server.bodies())
    assert reply.data == GOOD and reply.provenance["attempts"] == 2
    assert reply.provenance["seed"] == second != first


def test_retry_seeds_are_reproducible(openai_server, make_llm, tmp_path):
    for cache in ("one", "two"):
        openai_server.script(malformed_json(), reply_json(GOOD))
        chat_once(make_llm(f"openai-compatible:{openai_server.base_url}#m", cache_dir=tmp_path / cache), ask())
    seeds = [body["seed"] for body in openai_server.bodies()]
    assert seeds[:2] == seeds[2:] and seeds[0] != seeds[1]


@pytest.mark.parametrize("bad, reason", [
    (truncated(), "reply truncated at max_tokens=64"),
    (refusal("I won't answer that."), "the model refused: \"I won't answer that.\""),
    (malformed_json(), "reply is not valid JSON"),
    (reply_text(""), "reply is not valid JSON"),
    (reply_json(["yes", "because"]), "fails the schema at (root)"),
])
def test_bad_replies_fail_with_the_reason(provider, make_llm, bad, reason):
    server, model = provider
    server.script(bad, bad)
    with pytest.raises(RequestFailed) as caught:
        chat_once(make_llm(model, max_invalid_retries=1), ask())
    assert reason in caught.value.reason
    assert len(server.requests) == 2


def test_truncated_tool_call_on_anthropic_is_a_failure(anthropic_server, make_llm):
    cut = replace(reply_json(GOOD), finish="length")  # a complete-looking tool_use, but stop_reason max_tokens
    anthropic_server.script(cut, cut)
    with pytest.raises(RequestFailed, match="truncated"):
        chat_once(make_llm("anthropic:claude-haiku-4-5", max_invalid_retries=1), ask())


def test_free_text_requests(provider, make_llm):
    server, model = provider
    server.script(reply_text("  "), reply_text("Hello there."))
    reply = chat_once(make_llm(model), ChatRequest(messages=[{"role": "user", "content": "hi"}]))
    assert reply.text == "Hello there." and reply.data is None
    assert "response_format" not in server.requests[-1].json and "tools" not in server.requests[-1].json


def test_one_failure_does_not_disturb_concurrent_requests(openai_server, make_llm):
    def answer(request):
        content = request.json["messages"][-1]["content"]
        return malformed_json() if content == "bad" else reply_json({"answer": "yes", "why": content})

    openai_server.responder = answer
    requests = [ChatRequest(messages=[{"role": "user", "content": text}], schema=SCHEMA, max_tokens=64)
                for text in ("one", "bad", "three")]
    outcomes = run_chats(make_llm(f"openai-compatible:{openai_server.base_url}#m", max_invalid_retries=1), requests)
    assert outcomes[0].data["why"] == "one" and outcomes[2].data["why"] == "three"
    assert isinstance(outcomes[1], RequestFailed)


def test_llamacpp_patterns_lose_escaped_spaces_it_cannot_read():
    import re

    from builders.llm.structured import llamacpp_schema

    def sent(pattern):
        return llamacpp_schema({"type": "string", "pattern": pattern})["pattern"]

    assert sent("^" + re.escape("King Lear") + " intends to$") == "^King Lear intends to$"
    assert sent(r"^a\\ b$") == r"^a\\ b$"  # an escaped backslash before a space stays
    assert sent(r"^x\ y\\\ z$") == r"^x y\\ z$"
    # the free part of an unanchored pattern never takes a quote, a backslash or a raw newline/tab
    free = sent("^I feel ")
    assert re.fullmatch(free, "I feel fine, thank you") and free.startswith("^I feel ")
    assert not any(re.fullmatch(free, f"I feel{c}fine") for c in '"\\\n\r\t')
