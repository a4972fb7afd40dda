"""Model strings: which provider, which model, which key.

    openai:gpt-4o-mini
    anthropic:claude-sonnet-4-5
    openai-compatible:http://127.0.0.1:8000/v1#model-name
    local:smollm2
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlparse

from .errors import ConfigError

PROVIDERS = ("openai", "anthropic", "openai-compatible", "local")
LOCAL_MODELS = ("smollm2",)
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# An openai-compatible server may or may not want a key; it is read from here when set.
COMPATIBLE_KEY_VARIABLE = "OPENAI_COMPATIBLE_API_KEY"

# Query parameters that carry a credential: refused, since the URL is written into provenance, the
# card, the manifest and the build report.
_CREDENTIAL_PARAMETER = re.compile(r"key|token|secret|passw|pwd|auth|credential|signature|^sig$|session",
                                   re.IGNORECASE)

EXAMPLES = ("openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, openai-compatible:http://127.0.0.1:8000/v1#my-model, "
            "local:smollm2")


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    base_url: str | None = None

    @property
    def label(self) -> str:
        """The model string as a user typed it; parse_model refuses a URL carrying credentials, and the
        label drops any user-info or query string still, since it is written into every artifact."""
        if self.provider == "openai-compatible":
            return f"openai-compatible:{shown_url(self.base_url)}#{self.model}"
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


def shown_url(url: str) -> str:
    """A URL as it may be shown or written: without user-info and query string."""
    parts = urlparse(url)
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc, query="").geturl()


def _shown(text: str) -> str:
    """A model string as an error message may repeat it: credentials in a URL are not echoed."""
    text = re.sub(r"//[^/?#]*@", "//***@", text or "")
    return re.sub(r"\?[^#]*", "?***", text)


def parse_model(text: str) -> ModelSpec:
    provider, sep, rest = (text or "").partition(":")
    if not sep or not rest:
        raise ConfigError(f"model string {_shown(text)!r} is not of the form provider:model; examples: {EXAMPLES}")
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r} in model string {_shown(text)!r}; known providers: "
                          f"{', '.join(PROVIDERS)} (examples: {EXAMPLES})")
    if provider == "openai-compatible":
        return _parse_compatible(text, rest)
    if provider == "local" and rest not in LOCAL_MODELS:
        raise ConfigError(f"unknown local model {rest!r}; the embedded models are: {', '.join(LOCAL_MODELS)}")
    return ModelSpec(provider, rest)


def _parse_compatible(text: str, rest: str) -> ModelSpec:
    base_url, sep, model = rest.rpartition("#")
    url = urlparse(base_url)
    # Credentials first: the format message below repeats the string.
    if "@" in url.netloc:
        raise ConfigError(f"put no credentials in the server URL (user:password@); set {COMPATIBLE_KEY_VARIABLE} "
                          "instead (export OPENAI_COMPATIBLE_API_KEY=...), which goes only into the auth header")
    secret_names = sorted({name for name, _ in parse_qsl(url.query, keep_blank_values=True)
                           if _CREDENTIAL_PARAMETER.search(name)})
    if secret_names:
        raise ConfigError(f"put no credentials in the server URL (query parameter {', '.join(secret_names)}): the URL "
                          f"is written into provenance, the card and the build report. Set {COMPATIBLE_KEY_VARIABLE} "
                          f"instead (export {COMPATIBLE_KEY_VARIABLE}=...), which goes only into the auth header")
    if url.query:  # not a credential by its name, but the model string is written into every artifact
        raise ConfigError("the server URL of an openai-compatible model may not carry a query string (?...): the "
                          "model string is written into provenance, the card and the build report. Remove it; a key "
                          f"goes in {COMPATIBLE_KEY_VARIABLE}")
    if not sep or not model or url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError(
            f"model string {_shown(text)!r}: an openai-compatible model is written "
            "openai-compatible:<base URL>#<model name>, e.g. openai-compatible:http://127.0.0.1:8000/v1#my-model"
        )
    return ModelSpec("openai-compatible", model, base_url.rstrip("/"))
