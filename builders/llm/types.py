"""The request and reply shapes every builder uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": ...}]
    schema: dict | None = None  # JSON schema of the reply; None means free text
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int = 512
    sample: int = 0  # the k-th independent sample of the same prompt (part of the cache key)
    seed: int | None = None  # overrides the client's seed when given
    step: str = "default"  # accounting bucket, e.g. "tomato.turn"; not part of the cache key
    prompt_hash: str = ""  # provenance only; the messages themselves are in the cache key
    # llama.cpp's repetition penalty for this request (1.0 = off); None keeps the server's setting.
    # Only the embedded model's llama.cpp server is sent it; it is part of the cache key only when
    # set, so requests that leave it alone keep their cached replies.
    repeat_penalty: float | None = None
    # True when a builder asks again because its own check refused an earlier reply (a new sample
    # of the same step): counted as a re-ask in the accounting and the release's call ledger. Not
    # part of the cache key.
    reask: bool = False


@dataclass(frozen=True)
class RawReply:
    """What a provider returns, before validation."""

    text: str
    finish_reason: str  # "stop" | "length" | "refusal" | provider-specific
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""  # the model id the provider reports
    data: Any = None  # already-parsed JSON, when the provider hands it over (Anthropic tool use)
    note: str = ""  # why a reply was refused unread (finish_reason "oversized")
    route: str = "online"  # "batch": it came through the provider's batch API


@dataclass(frozen=True)
class ChatReply:
    text: str
    data: Any  # parsed and validated JSON when the request had a schema, else None
    cached: bool
    provenance: dict = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
