"""Model strings: which provider, which model, which key.

    openai:gpt-4o-mini
    anthropic:claude-sonnet-4-5
    openai-compatible:http://127.0.0.1:8000/v1#model-name
    local:smollm2
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

from .errors import ConfigError

PROVIDERS = ("openai", "anthropic", "openai-compatible", "local")
LOCAL_MODELS = ("smollm2",)
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# An openai-compatible server may or may not want a key; it is read from here when set.
COMPATIBLE_KEY_VARIABLE = "OPENAI_COMPATIBLE_API_KEY"

EXAMPLES = ("openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, openai-compatible:http://127.0.0.1:8000/v1#my-model, "
            "local:smollm2")


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    base_url: str | None = None

    @property
    def label(self) -> str:
        """The model string as a user typed it, minus nothing secret (URLs carry no keys here)."""
        if self.provider == "openai-compatible":
            return f"openai-compatible:{self.base_url}#{self.model}"
        return f"{self.provider}:{self.model}"

    def api_key(self) -> str | None:
        """The key from the environment; a missing required key is a ConfigError naming the variable."""
        variable = KEY_VARIABLES.get(self.provider)
        if variable is None:
            return os.environ.get(COMPATIBLE_KEY_VARIABLE) if self.provider == "openai-compatible" else None
        key = os.environ.get(variable, "").strip()
        if not key:
            raise ConfigError(
                f"model {self.label} needs an API key: set the environment variable {variable} "
                f"(export {variable}=...), or choose another --model such as local:smollm2"
            )
        return key


def parse_model(text: str) -> ModelSpec:
    provider, sep, rest = (text or "").partition(":")
    if not sep or not rest:
        raise ConfigError(f"model string {text!r} is not of the form provider:model; examples: {EXAMPLES}")
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r} in model string {text!r}; known providers: "
                          f"{', '.join(PROVIDERS)} (examples: {EXAMPLES})")
    if provider == "openai-compatible":
        return _parse_compatible(text, rest)
    if provider == "local" and rest not in LOCAL_MODELS:
        raise ConfigError(f"unknown local model {rest!r}; the embedded models are: {', '.join(LOCAL_MODELS)}")
    return ModelSpec(provider, rest)


def _parse_compatible(text: str, rest: str) -> ModelSpec:
    base_url, sep, model = rest.rpartition("#")
    url = urlparse(base_url)
    if not sep or not model or url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError(
            f"model string {text!r}: an openai-compatible model is written "
            "openai-compatible:<base URL>#<model name>, e.g. openai-compatible:http://127.0.0.1:8000/v1#my-model"
        )
    if url.username or url.password:
        raise ConfigError(f"put no credentials in the server URL; set {COMPATIBLE_KEY_VARIABLE} instead")
    return ModelSpec("openai-compatible", model, base_url.rstrip("/"))
