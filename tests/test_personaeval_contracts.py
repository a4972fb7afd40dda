"""Profile requests under each text contract (builders/llm/profiles.yaml), on a Drama build over Macbeth.

Strict (the embedded model): the requests stay byte-identical to those sent before the natural
contract existed, so existing response caches keep hitting. The hashes below were recorded then:
every profile request (messages, reply schema, sampling parameters, sample index) hashed as the
response cache keys it. Lady Macbeth's first reply is too short, so a re-ask (sample 1) is among them.

Natural (a capable model): structure only, lengths in the prompt and in each property's
description, the capable limits, re-asks flagged, and normalisations recorded in provenance.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import types

import pytest

from builders.llm.cache import request_key
from builders.personaeval import build, profiles
from builders.pipeline import BuildContext, BuildReport, collect
from builders.resources import load_schema
from tests.support.profiles import SCRIPTED_NATURAL, profile_for_label

pytest.importorskip("builders.sources.plays")

SHORT_FIRST_REPLY = "Lady Macbeth"  # her sample 0 is refused as too short, so sample 1 is asked
BROKEN_LINES = "Macbeth"  # his parts come with line breaks, curly quotes and dashes

# request key (as builders.llm.cache.request_key computes it, seed 0) per (character, sample)
STRICT_REQUESTS = {
    "Banquo#0": "13ee6fc9c9706fc27c4aef9cf2c8afd6ee4e11126fd57feef2e790016979f3a5",
    "Duncan#0": "be1118ffac972110d4a45707f0186a6ef36b43b2b7b1a20f23e156de899b9d88",
    "Lady Macbeth#0": "c1ebef5ff937ed1ebf9920f85266400586aa0a2e79a39214268495cc1e4cd24f",
    "Lady Macbeth#1": "341ee677fa7a0366c49d0ec71c817054a9d69575c687800e155567f52d565941",
    "Lady Macduff#0": "79712431679e5ec86f12a6e0459652c3d3769fad3a0015a5297ff08009109fae",
    "Lennox#0": "f1734394cad014f3c2d81b237b96e394bb6d782bad07dcc0c866dcffca63ae35",
    "Macbeth#0": "f40c129371344e3295728ee0b41fd9671cec6cef57b129d4a1091b7365e5bef7",
    "Macduff#0": "2f79f65ffc208e807a04406f28fe33918e5192135b1301f5247d7d310955ad6d",
    "Malcolm#0": "5c4aeb49cb84f89c9edeeeffd9fe0779e58e96f33fffcc1dc9ca7605c29d3917",
    "Ross#0": "866d1d35593bacbba9c22d68218c2c90d2d8ad82210b091e865375710d71e851",
}


def character_of(request) -> str:
    return re.search(r"^Character: (.+?)(?: \(also called|\.$)", request.messages[-1]["content"], re.M).group(1)


class CapturingLLM:
    """Answers profile requests with distinct ~225-word profiles and records every request."""

    def __init__(self, label: str, profile=None):
        self.label = label
        self.profile = profile or profile_for_label(label)
        self.requests = []

    async def chat(self, request):
        self.requests.append(request)
        name = character_of(request)
        await asyncio.sleep(0)
        words = 4 if (name == SHORT_FIRST_REPLY and request.sample == 0) else 45
        seed = hashlib.sha256(f"{name}:{request.sample}".encode()).hexdigest()
        data = {part: " ".join(f"w{seed[i % 60:i % 60 + 3]}{i}" for i in range(words)) for part in profiles.PARTS}
        if name == BROKEN_LINES and self.profile.natural:
            data["arc"] = "He falls.\n\nHe says “tomorrow” — and means nothing… " + data["arc"]
        return types.SimpleNamespace(data=data, text=json.dumps(data), cached=False,
                                     provenance={"model": self.label, "request_hash": seed, "sample": request.sample})


def macbeth_build(llm) -> list[dict]:
    args = types.SimpleNamespace(n=8, track="drama", plays="macbeth", pdnc_dir=None, novels=None, script=None,
                                 context_turns=0, per_scene=2, min_words=8, min_lines=5, max_characters=10,
                                 profile_attempts=3, temperature=0.7, concurrency=4, seed=0)
    kept = [0]
    ctx = BuildContext(args=args, llm=llm, judge=llm, seed=0, report=BuildReport(), kept=lambda: kept[0])
    collected = asyncio.run(collect(build.BENCHMARK, load_schema("personaeval"), build.generate(ctx), ctx.report,
                                    args.n, lambda count: kept.__setitem__(0, count)))
    return collected.kept


def test_strict_profile_requests_are_byte_identical_to_before_the_natural_contract():
    llm = CapturingLLM("local:smollm2")
    macbeth_build(llm)
    keys = {f"{character_of(r)}#{r.sample}": request_key(
        model="local:smollm2", messages=r.messages, schema=r.schema, temperature=r.temperature, top_p=r.top_p,
        max_tokens=r.max_tokens, seed=0, sample=r.sample) for r in llm.requests}
    assert dict(sorted(keys.items())) == STRICT_REQUESTS


@pytest.fixture(scope="module")
def natural_build():
    llm = CapturingLLM("fake:natural", SCRIPTED_NATURAL)
    return llm, macbeth_build(llm)


def test_natural_requests_ask_for_structure_with_stated_lengths_and_the_capable_limits(natural_build):
    llm, _ = natural_build
    limit = SCRIPTED_NATURAL.limit
    for request in llm.requests:
        schema = request.schema
        assert "pattern" not in json.dumps(schema) and set(schema["required"]) == set(profiles.PARTS)
        assert all(schema["properties"][part]["description"].startswith(f"About {profiles.PART_WORDS} words")
                   for part in profiles.PARTS)
        prompt = request.messages[-1]["content"]
        assert f"about\n{profiles.TARGET_WORDS} words in all, in five parts of about {profiles.PART_WORDS} words each" \
            in prompt
        assert request.max_tokens == limit("personaeval.profile_max_tokens") == 1500
    macbeth = next(r for r in llm.requests if character_of(r) == "Macbeth").messages[-1]["content"]
    shown = re.findall(r'^- "(.*)"$', macbeth, re.M)
    assert len(shown) == limit("personaeval.profile_lines") == 40  # the strict contract shows 8
    assert max(len(line.split()) for line in shown) > 30  # lines cut at 60 words, not the strict 30


def test_natural_reasks_are_flagged_and_normalisations_recorded(natural_build):
    llm, rows = natural_build
    assert [(r.sample, r.reask) for r in llm.requests if character_of(r) == SHORT_FIRST_REPLY] == [(0, False),
                                                                                                  (1, True)]
    assert not any(r.reask for r in llm.requests if r.sample == 0)
    assert rows and all(row["provenance"]["profile"]["contract"] == "natural" for row in rows)
    macbeth = [(row, slot) for row in rows for slot in range(1, 5) if row[f"option{slot}"] == "Macbeth"]
    assert macbeth
    for row, slot in macbeth:
        text = row[f"option{slot}_profile"]
        assert "\n" not in text and "He says “tomorrow” — and means nothing…" in text
        assert "line breaks joined into one paragraph" in row["provenance"]["options"][slot - 1]["profile_normalised"]


def test_contract_limits_come_from_the_model_profile():
    strict = profiles.ProfileContract.of(profile_for_label("local:smollm2"))
    natural = profiles.ProfileContract.of(profile_for_label("anthropic:claude-sonnet-4-5"))
    assert (strict.contract, strict.max_lines, strict.line_words, strict.max_places, strict.max_tokens) == \
        ("strict", 8, 30, 8, 700)
    assert natural.natural and natural.max_lines > strict.max_lines and natural.max_tokens > strict.max_tokens
    assert strict.schema() != natural.schema() and strict.prompt_hash() != natural.prompt_hash()


def test_limits_that_overflow_the_model_context_are_refused_with_the_fix():
    import dataclasses

    from builders.cli import UserError

    local = profile_for_label("local:smollm2")
    greedy = dataclasses.replace(local, limits={**local.limits,
                                                "personaeval": {**local.limits["personaeval"], "profile_lines": 40}})
    with pytest.raises(UserError, match="lower personaeval.profile_lines"):
        profiles.ProfileContract.of(greedy)
