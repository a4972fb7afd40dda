"""The licence a release is published under, and who wrote its text.

A release's licence is the builder's `--license` (recorded in the release report's `config`), else the
benchmark's default (`Benchmark.license`). The card states which of the two it was and names the
providers of the models that wrote the text, whose terms may apply to model output whatever licence
the data carries. This module imports nothing heavy: the build CLI validates `--license` with it
before any work.
"""

from __future__ import annotations

import argparse
import re

# Hub licence ids (lowercase SPDX ids where SPDX has one) that suit a dataset. Anything else must at
# least look like an SPDX id; the Hub shows an id it does not know as "other".
KNOWN_LICENSES = (
    "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-4.0",
    "cc0-1.0", "odc-by", "odbl", "pddl", "cdla-permissive-2.0", "cdla-sharing-1.0", "mit", "apache-2.0",
    "bsd-3-clause", "llama3", "llama3.1", "other", "unknown",
)
_SPDX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")  # SPDX short identifiers: letters, digits, . + -

# model-string provider -> who provides the model, as the card names them
PROVIDERS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "openai-compatible": "the operator of the OpenAI-compatible server (and the model's own licence)",
    "local": "Hugging Face (the embedded SmolLM2-135M-Instruct, Apache-2.0)",
}


def license_id(text: str) -> str:
    """argparse type of `--license`: a known Hub licence id, or any SPDX-shaped id, lowercased."""
    value = text.strip()
    if value.lower() in KNOWN_LICENSES:
        return value.lower()
    if not _SPDX_ID.match(value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a licence id; give an SPDX id such as {', '.join(KNOWN_LICENSES[:4])} or mit "
            "(https://spdx.org/licenses/), or `other` and say the terms in the card")
    return value.lower()


def release_license(build_report: dict, default: str) -> tuple[str, bool]:
    """(licence id, True when the release config chose it rather than the benchmark's default)."""
    chosen = (build_report.get("config") or {}).get("license")
    return (chosen, True) if chosen else (default, False)


def model_providers(models) -> list[tuple[str, str]]:
    """(model string, its provider) for each distinct model of the release, in role order. `models` is
    the release report's: {role: model string} from the builders, a list or one string elsewhere."""
    listed = models.values() if isinstance(models, dict) else [models] if isinstance(models, str) else models
    seen: dict[str, str] = {}
    for model in listed:
        if isinstance(model, str) and model not in seen:
            prefix = model.split(":", 1)[0]
            seen[model] = PROVIDERS.get(prefix, f"the provider of `{prefix}` models")
    return list(seen.items())
