"""Provider adapters: each turns a ChatRequest into one API call and classifies its errors."""

from __future__ import annotations

from typing import Protocol

from ..types import ChatRequest, RawReply


class Provider(Protocol):
    name: str  # "openai" | "anthropic" | "openai-compatible" | "local"
    model: str
    supports_seed: bool

    async def start(self) -> None: ...

    async def complete(self, request: ChatRequest, seed: int | None) -> RawReply: ...

    async def close(self) -> None: ...
