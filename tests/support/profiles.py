"""Model profiles for the in-process fake models of the builder tests.

A fake LLM has a label such as "fake:model", which is no model string. It still needs a profile,
as every client has one: the real profile when its label is a real model string (a fake labelled
"local:smollm2" must be treated as the embedded model), else `SCRIPTED_STRICT` (the strict
contract the builders used before profiles existed, and fit to judge, as any scripted judge was).
"""

from __future__ import annotations

import dataclasses

from builders.llm import ConfigError, parse_model
from builders.llm.profiles import ModelProfile, profile_for

SCRIPTED_STRICT = dataclasses.replace(profile_for(parse_model("local:smollm2")), name="scripted-strict", judge=True,
                                      judge_note="a scripted test model")
SCRIPTED_NATURAL = dataclasses.replace(profile_for(parse_model("openai:gpt-4o")), name="scripted-natural",
                                       judge_note="a scripted test model")


def profile_for_label(label: str, default: ModelProfile = SCRIPTED_STRICT) -> ModelProfile:
    try:
        return profile_for(parse_model(label))
    except ConfigError:
        return default
