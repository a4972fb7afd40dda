"""Anthropic via the official SDK; structured output through a forced tool call.

The tool's input_schema cannot carry some JSON-schema keywords (lengths, patterns, bounds), which
are always checked locally on the reply. So that the model can still follow them, each schema node
that loses such keywords names them in its `description`, as JSON ("Also required (JSON Schema):
{"pattern": "^I feel "}"): a model reads that, and a scripted test model can parse it back.
"""

from __future__ import annotations

import copy
import json

import anthropic

from ..errors import TransientError
from ..secrets import redact
from ..structured import _ANTHROPIC_UNSUPPORTED, anthropic_tool_schema
from ..types import ChatRequest, RawReply
from .http import ReplyTooLarge, capped_http_client, too_large
from .openai_api import classify_status, oversized_reply

TOOL_NAME = "reply"
CONSTRAINTS_NOTE = "Also required (JSON Schema): "
# The stripped keywords that constrain a value; $schema and $id do not, so they are not described.
DESCRIBED_KEYWORDS = tuple(k for k in _ANTHROPIC_UNSUPPORTED if not k.startswith("$"))


class AnthropicProvider:
    name = "anthropic"
    supports_seed = False  # recorded in provenance; determinism then rests on the response cache
    # The Messages API of anthropic SDK 2.x takes no temperature/top_p (the SDK rejects them), so
    # they are not sent; provenance records None for them instead of a value that had no effect.
    supports_sampling_parameters = False

    def __init__(self, *, model: str, api_key: str, base_url: str | None, timeout: float):
        self.model = model
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, timeout=timeout,
                                                max_retries=0,
                                                http_client=capped_http_client(anthropic.DefaultAsyncHttpxClient))
        self._api_key = api_key

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.close()

    def message_params(self, request: ChatRequest) -> dict:
        """The Messages API parameters of one request: sent online and, as a batch line's params,
        through the Message Batches API (one function, so both routes ask the same)."""
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        messages = [m for m in request.messages if m["role"] != "system"]
        params: dict = {"model": self.model, "messages": messages, "max_tokens": request.max_tokens}
        if system:
            params["system"] = system
        if request.schema is not None:
            params["tools"] = [{"name": TOOL_NAME, "description": "Give the answer in this structure.",
                                "input_schema": tool_input_schema(request.schema)}]
            params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return params

    async def complete(self, request: ChatRequest, seed: int | None) -> RawReply:
        kwargs = self.message_params(request)
        try:
            response = await self._client.messages.create(**kwargs)
        except ReplyTooLarge as error:
            return oversized_reply(error)
        except anthropic.APIStatusError as error:
            raise classify_status(error.status_code, error.response.headers, str(error),
                                  secrets=(self._api_key,)) from None
        except (anthropic.APITimeoutError, anthropic.APIConnectionError) as error:
            if big := too_large(error):
                return oversized_reply(big)
            raise TransientError(redact(f"{type(error).__name__}: {error}", (self._api_key,))) from None
        except (anthropic.APIError, ValueError) as error:  # a 200 whose body is not a message (a proxy page)
            if big := too_large(error):
                return oversized_reply(big)
            text = redact(f"{type(error).__name__}: {error}", (self._api_key,))
            raise TransientError(f"the server's answer is not a Messages API reply: {text[:200]}") from None
        return raw_reply(response)


def tool_input_schema(schema: dict) -> dict:
    """The tool input_schema: the stripped schema, each node describing the keywords it lost."""
    return anthropic_tool_schema(describe_constraints(schema))


def describe_constraints(schema: dict) -> dict:
    """A copy of `schema` where every node with keywords Anthropic does not take appends them, as
    sorted JSON, to its description (after CONSTRAINTS_NOTE)."""
    def visit(node):
        # A new tree, node by node: a schema may use one sub-schema object in two places (a shared
        # `line` for both `first_line` and `last_line`), which must not be described twice.
        if isinstance(node, dict):
            out = {key: visit(value) for key, value in node.items()}
            # a dict-valued keyword is a property of that name (under "properties"), not a constraint
            lost = {k: node[k] for k in DESCRIBED_KEYWORDS if k in node and not isinstance(node[k], dict)}
            if lost:
                note = CONSTRAINTS_NOTE + json.dumps(lost, sort_keys=True, ensure_ascii=False)
                out["description"] = f"{node['description']} {note}" if node.get("description") else note
            return out
        if isinstance(node, list):
            return [visit(value) for value in node]
        return copy.deepcopy(node)

    return visit(schema)


def raw_reply(response) -> RawReply:
    text_parts, data = [], None
    for block in response.content or []:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            data = block.input
        elif block.type == "text":
            text_parts.append(block.text)
    finish = {"max_tokens": "length", "refusal": "refusal"}.get(response.stop_reason, "stop")
    usage = response.usage
    return RawReply(
        text=json.dumps(data, ensure_ascii=False) if data is not None else "".join(text_parts),
        finish_reason=finish,
        input_tokens=getattr(usage, "input_tokens", 0) or 0,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
        model=response.model or "",
        data=data,
    )
