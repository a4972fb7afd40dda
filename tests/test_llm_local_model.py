"""The real embedded model (SmolLM2-135M through llama.cpp) behind the layer, end to end."""

from __future__ import annotations

import asyncio
import gc
import socket
from urllib.parse import urlsplit

import pytest

from builders.llm import LLM, ChatRequest, ResponseCache

SCHEMA = {
    "type": "object",
    "properties": {"mood": {"type": "string", "enum": ["happy", "sad"]},
                   "reason": {"type": "string", "maxLength": 80}},
    "required": ["mood", "reason"],
    "additionalProperties": False,
}
QUESTION = ChatRequest(
    messages=[{"role": "system", "content": "You answer in JSON."},
              {"role": "user", "content": "A child gets a puppy for her birthday. Is she happy or sad, and why?"}],
    schema=SCHEMA, temperature=0.7, max_tokens=96, step="test.local", prompt_hash="test")


@pytest.mark.model
def test_embedded_model_structured_reply_then_cache_hit(smollm2_model_dir, tmp_path):
    llm = LLM("local:smollm2", cache=ResponseCache(tmp_path / "responses.sqlite"), cache_dir=smollm2_model_dir,
              concurrency=2, seed=0, timeout=120)

    async def session():
        async with llm:
            assert llm.provider._server is None  # started lazily: a fully cached build never loads it
            first = await llm.chat(QUESTION)
            address = llm.provider._server.listening_address
            requests_after_first = llm.accounting.totals().requests
            second = await llm.chat(QUESTION)
        return address, first, requests_after_first, second

    address, first, requests_after_first, second = asyncio.run(session())
    assert first.cached is False and first.data["mood"] in ("happy", "sad") and len(first.data["reason"]) <= 80
    assert first.provenance["model"] == "local:smollm2" and first.provenance["provider"] == "local"
    assert first.provenance["model_reported"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert first.output_tokens > 0

    totals = llm.accounting.totals()
    assert second.cached is True and second.data == first.data
    assert totals.requests == requests_after_first and totals.cache_hits == 1
    assert totals.cost_usd == 0.0

    gc.collect()  # the server stops when its last reference goes
    url = urlsplit(address)
    with pytest.raises(OSError), socket.create_connection((url.hostname, url.port), timeout=2):
        pass
