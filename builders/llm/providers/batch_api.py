"""The providers' batch APIs behind one small interface the batcher (builders/llm/batch.py) uses.

OpenAI's Batch API (a JSONL file of chat-completion bodies, uploaded, then a batch over it) and
Anthropic's Message Batches API (the requests in the create call) differ in shape, not in what the
batcher needs: submit lines, find a submission whose answer was lost, read a batch's state, and
read its results line by line as replies, lines to ask again, or lines failed for good.

A line's request is the one the online route sends (`OpenAIProvider.chat_body`,
`AnthropicProvider.message_params`), and a line's reply is read by the online route's own reader,
so a reply that comes through a batch is stored exactly as the same reply online would be.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson

from ..errors import FatalProviderError, TransientError
from ..secrets import redact
from ..types import ChatRequest, RawReply
from .openai_api import classify_status

# Seconds of clock difference tolerated when a lost submission is looked for among recent batches.
CLOCK_SLACK = 300.0
FIND_AMONG = 100  # newest batches looked at when a submission's answer was lost
TOOLKIT_TAG = "roleplay-tom-toolkit"


@dataclass(frozen=True)
class BatchState:
    state: str  # the provider's own word: in_progress, completed, ended, expired, cancelled, failed...
    ended: bool  # no line of it will change any more: its results can be read
    refused: str | None = None  # the provider refused the batch as a whole (validation): why
    done: int = 0  # lines with a result so far (succeeded or not)
    total: int = 0


@dataclass(frozen=True)
class LineResult:
    line_id: str
    outcome: str  # "reply" | "again" (expired, cancelled, a server error: submit it again) | "failed"
    payload: dict | None = None  # "reply": the reply body as the provider sent it
    reason: str = ""
    size: int = 0  # bytes of the result line, checked against the request's reply cap


class BatchAPI:
    """What each provider implements; `limits` are the provider's documented maxima per batch."""

    name = ""
    max_lines = 0
    max_bytes = 0

    def line(self, line_id: str, request: ChatRequest, seed: int | None) -> dict: ...

    async def submit(self, lines: list[dict], round_id: str) -> tuple[str, float]:
        """The new batch's id and its creation time (provider clock)."""

    async def find(self, round_id: str, since: float, lines: int, known: set[str]) -> str | None: ...

    async def state(self, batch_id: str) -> BatchState: ...

    def results(self, batch_id: str) -> AsyncIterator[LineResult]: ...

    def reply(self, payload: dict) -> RawReply: ...


def _errors_of(sdk):
    """Map an SDK's exceptions to the layer's: status errors by code, the rest transient."""

    @contextlib.asynccontextmanager
    async def mapped(api_key: str | None, doing: str):
        try:
            yield
        except sdk.APIStatusError as error:
            raise classify_status(error.status_code, error.response.headers, f"{doing}: {error}",
                                  secrets=(api_key,)) from None
        except (sdk.APITimeoutError, sdk.APIConnectionError) as error:
            raise TransientError(redact(f"{doing}: {type(error).__name__}: {error}", (api_key,))) from None
        except (sdk.APIError, ValueError) as error:
            raise TransientError(redact(f"{doing}: the server's answer was not understood: {error}"[:300],
                                        (api_key,))) from None

    return mapped


class OpenAIBatchAPI(BatchAPI):
    name = "OpenAI Batch API"
    max_lines = 50_000  # requests per batch
    max_bytes = 200 * 1024 * 1024  # input file size
    ENDED = {"completed", "expired", "cancelled", "failed"}

    def __init__(self, provider):
        import openai

        self._provider = provider
        self._client = provider._client
        self._key = provider._api_key
        self._errors = _errors_of(openai)

    def line(self, line_id: str, request: ChatRequest, seed: int | None) -> dict:
        return {"custom_id": line_id, "method": "POST", "url": "/v1/chat/completions",
                "body": self._provider.chat_body(request, seed)}

    async def submit(self, lines: list[dict], round_id: str) -> tuple[str, float]:
        data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
        async with self._errors(self._key, "uploading the batch file"):
            uploaded = await self._client.files.create(file=(f"{round_id}.jsonl", data), purpose="batch")
        async with self._errors(self._key, "creating the batch"):
            batch = await self._client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h",
                metadata={"round_id": round_id, "made_by": TOOLKIT_TAG})
        return batch.id, float(batch.created_at)

    async def find(self, round_id: str, since: float, lines: int, known: set[str]) -> str | None:
        """The batch carries the round's id as metadata: found among the newest batches."""
        async with self._errors(self._key, "listing recent batches"):
            page = await self._client.batches.list(limit=FIND_AMONG)
        for batch in page.data:
            if (batch.metadata or {}).get("round_id") == round_id:
                return batch.id
        return None

    async def state(self, batch_id: str) -> BatchState:
        async with self._errors(self._key, f"reading batch {batch_id}"):
            batch = await self._client.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = (counts.completed + counts.failed) if counts else 0
        refused = None
        if batch.status == "failed":
            errors = [e.message or e.code or "" for e in ((batch.errors.data if batch.errors else None) or [])]
            refused = "; ".join(filter(None, errors)) or "the batch failed validation"
        return BatchState(batch.status, batch.status in self.ENDED, refused, done, counts.total if counts else 0)

    async def results(self, batch_id: str) -> AsyncIterator[LineResult]:
        async with self._errors(self._key, f"reading batch {batch_id}"):
            batch = await self._client.batches.retrieve(batch_id)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                async for result in self._file_results(file_id):
                    yield result

    async def _file_results(self, file_id: str) -> AsyncIterator[LineResult]:
        async with self._errors(self._key, f"downloading batch results {file_id}"):
            async with self._client.files.with_streaming_response.content(file_id) as response:
                async for text in response.iter_lines():
                    if text.strip():
                        yield _openai_line(text)

    def reply(self, payload: dict) -> RawReply:
        from .openai_api import raw_reply

        return raw_reply(payload)


def _openai_line(text: str) -> LineResult:
    item = orjson.loads(text)
    line_id, size = item.get("custom_id", ""), len(text.encode())
    response, error = item.get("response") or {}, item.get("error") or {}
    status = response.get("status_code")
    if status == 200 and isinstance(response.get("body"), dict):
        return LineResult(line_id, "reply", response["body"], size=size)
    if error:  # batch_expired, batch_cancelled: the line never ran
        return LineResult(line_id, "again", reason=f"{error.get('code')}: {error.get('message', '')}"[:300])
    message = ((response.get("body") or {}).get("error") or {}).get("message", "")
    reason = f"HTTP {status}: {message}"[:300]
    return LineResult(line_id, "again" if status in (408, 409, 429) or (status or 500) >= 500 else "failed",
                      reason=reason)


class AnthropicBatchAPI(BatchAPI):
    name = "Anthropic Message Batches API"
    max_lines = 100_000
    max_bytes = 256 * 1024 * 1024
    RETRYABLE = {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}

    def __init__(self, provider):
        import anthropic

        self._provider = provider
        self._client = provider._client
        self._key = provider._api_key
        self._errors = _errors_of(anthropic)

    def line(self, line_id: str, request: ChatRequest, seed: int | None) -> dict:
        return {"custom_id": line_id, "params": self._provider.message_params(request)}

    async def submit(self, lines: list[dict], round_id: str) -> tuple[str, float]:
        async with self._errors(self._key, "creating the message batch"):
            batch = await self._client.messages.batches.create(requests=lines)
        return batch.id, batch.created_at.timestamp()

    async def find(self, round_id: str, since: float, lines: int, known: set[str]) -> str | None:
        """Message batches carry no metadata: the lost one is the oldest batch, created since the round
        was written down and not known to the ledger, with as many requests as the round had. A wrong
        pick costs nothing: its results hold none of the round's line ids, which are then submitted again."""
        async with self._errors(self._key, "listing recent message batches"):
            page = await self._client.messages.batches.list(limit=FIND_AMONG)
        candidates = []
        for batch in page.data:
            created = batch.created_at.timestamp()
            counts = batch.request_counts
            total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
            if batch.id not in known and total == lines and created >= since - CLOCK_SLACK:
                candidates.append((created, batch.id))
        return min(candidates)[1] if candidates else None

    async def state(self, batch_id: str) -> BatchState:
        async with self._errors(self._key, f"reading message batch {batch_id}"):
            batch = await self._client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchState(batch.processing_status, batch.processing_status == "ended", None, done,
                          done + counts.processing)

    async def results(self, batch_id: str) -> AsyncIterator[LineResult]:
        async with self._errors(self._key, f"reading the results of message batch {batch_id}"):
            decoder = await self._client.messages.batches.results(batch_id)
            async for item in decoder:
                yield self._line(item)

    def _line(self, item) -> LineResult:
        result = item.result
        if result.type == "succeeded":
            payload = result.message.model_dump(mode="json", exclude_unset=True)
            return LineResult(item.custom_id, "reply", payload, size=len(orjson.dumps(payload)))
        if result.type == "errored":
            error = result.error.error
            kind = getattr(error, "type", "api_error")
            reason = f"{kind}: {getattr(error, 'message', '')}"[:300]
            return LineResult(item.custom_id, "again" if kind in self.RETRYABLE else "failed", reason=reason)
        return LineResult(item.custom_id, "again", reason=f"the line was {result.type}")

    def reply(self, payload: dict) -> RawReply:
        import anthropic

        from .anthropic_api import raw_reply

        return raw_reply(anthropic.types.Message.model_validate(payload))


def batch_api_for(provider) -> BatchAPI:
    """The batch API of an online provider; a provider without one is refused by the client first."""
    if provider.name == "anthropic":
        return AnthropicBatchAPI(provider)
    if provider.name == "openai":
        return OpenAIBatchAPI(provider)
    raise FatalProviderError(f"{provider.name} has no batch API")
