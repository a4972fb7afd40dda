"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp, the embedded model) via the openai SDK."""

from __future__ import annotations

import json

import openai
import orjson

from ..errors import FatalProviderError, RateLimited, TransientError
from ..secrets import redact
from ..structured import llamacpp_schema, openai_strict_schema
from ..types import ChatRequest, RawReply
from .http import ReplyTooLarge, capped_http_client, too_large

KEPT_ERROR_CHARS = 300  # of a provider's error text, after redaction
# Body fields passed to the SDK by name; the rest (response_format, repeat_penalty) go as extra_body.
SDK_PARAMETERS = ("model", "messages", "max_tokens", "temperature", "top_p", "seed")


class OpenAIProvider:
    supports_seed = True
    supports_sampling_parameters = True

    def __init__(self, *, name: str, model: str, api_key: str | None, base_url: str | None,
                 timeout: float, schema_dialect: str):
        self.name = name
        self.model = model
        # The SDK's own retries are off: retries live in one place (the client) so that 429s reach
        # the concurrency limiter and every attempt is counted.
        self._client = openai.AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url,
                                          timeout=timeout, max_retries=0,
                                          http_client=capped_http_client(openai.DefaultAsyncHttpxClient))
        self._api_key = api_key
        # OpenAI's strict mode needs a closed schema; llama.cpp needs anchored patterns; other
        # servers take the full schema as it is.
        self._schema_dialect = schema_dialect

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.close()

    def _response_format(self, schema: dict) -> dict:
        if self._schema_dialect == "openai-strict":
            return {"type": "json_schema",
                    "json_schema": {"name": "reply", "schema": openai_strict_schema(schema), "strict": True}}
        if self._schema_dialect == "llama.cpp":
            schema = llamacpp_schema(schema)
        return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}

    def chat_body(self, request: ChatRequest, seed: int | None) -> dict:
        """The chat-completions body of one request: what goes on the wire online and, as a batch
        line's body, through the Batch API (one function, so both routes ask the same)."""
        body: dict = {"model": self.model, "messages": request.messages, "max_tokens": request.max_tokens,
                      "temperature": request.temperature}
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if seed is not None:
            body["seed"] = seed
        if request.schema is not None:
            body["response_format"] = self._response_format(request.schema)
        if request.repeat_penalty is not None and self._schema_dialect == "llama.cpp":
            body["repeat_penalty"] = request.repeat_penalty
        return body

    async def complete(self, request: ChatRequest, seed: int | None) -> RawReply:
        body = self.chat_body(request, seed)
        kwargs = {name: body.pop(name) for name in SDK_PARAMETERS if name in body}
        if body:
            # As extra_body, which goes out as it is: given as response_format, the SDK walks the
            # whole schema to "transform" it (a no-op for plain JSON) at ~0.4 ms of CPU a request.
            kwargs["extra_body"] = body
        try:
            # The raw body, read as plain JSON: building the SDK's pydantic objects for every reply
            # cost ~0.3 ms of CPU a request, a tenth of the client's work at 64 requests in flight.
            response = await self._client.chat.completions.with_raw_response.create(**kwargs)
            body = _loads(response.http_response.content)
        except ReplyTooLarge as error:
            return oversized_reply(error)
        except openai.APIStatusError as error:
            raise classify_status(error.status_code, error.response.headers, str(error),
                                  secrets=(self._api_key,)) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as error:
            if big := too_large(error):
                return oversized_reply(big)
            raise TransientError(redact(f"{type(error).__name__}: {error}", (self._api_key,))) from None
        except (openai.APIError, ValueError) as error:  # a 200 whose body is not a completion (a proxy page)
            text = redact(f"{type(error).__name__}: {error}", (self._api_key,))
            raise TransientError(f"the server's answer is not a chat completion: {text[:200]}") from None
        return raw_reply(body)


def _loads(content: bytes):
    """orjson refuses a lone surrogate escape ("\\ud800") that the standard parser reads; the reply is
    paid for, so it is read (the client then replaces the surrogate) instead of failing for ever."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def oversized_reply(error: ReplyTooLarge) -> RawReply:
    """An over-cap reply: nothing of it kept; the client books its worst-case cost and re-asks."""
    return RawReply(text="", finish_reason="oversized", note=str(error))


def raw_reply(body: dict) -> RawReply:
    """The reply from a chat completion's JSON body; anything missing reads as empty."""
    if not isinstance(body, dict):
        raise TransientError(f"the server's answer is not a chat completion: {redact(str(body))[:200]}")
    if not body.get("choices"):
        return RawReply(text="", finish_reason="empty")
    choice = body["choices"][0]
    message = choice.get("message") or {}
    refusal = message.get("refusal")
    usage = body.get("usage") or {}
    return RawReply(
        text=refusal if refusal else (message.get("content") or ""),
        finish_reason="refusal" if refusal else (choice.get("finish_reason") or "stop"),
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        model=body.get("model") or "",
    )


def classify_status(status: int, headers, message: str, *, secrets=()) -> Exception:
    """Map an HTTP status to retry (transient / rate-limited) or give up (fatal).

    The server's text is redacted before it is cut short: a key cut in half no longer matches."""
    retry_after = parse_retry_after(headers)
    message = redact(message, secrets)[:KEPT_ERROR_CHARS]
    if status == 429:
        return RateLimited(f"HTTP 429 rate limited: {message}", retry_after)
    if status in (408, 409) or status >= 500:
        return TransientError(f"HTTP {status}: {message}", retry_after)
    return FatalProviderError(f"HTTP {status}: {message}")


def parse_retry_after(headers) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None  # an HTTP-date; fall back to exponential backoff
    return None
