"""Profile requests under each text contract (builders/llm/profiles.yaml), on a Drama build over Macbeth.

Strict (the embedded model): the requests are pinned byte for byte, so that nothing changes the
response-cache keys of existing caches by accident. Every profile request (messages, reply schema,
sampling parameters, sample index) is hashed as the response cache keys it. Lady Macbeth's first
reply is too short, so a re-ask (sample 1) is among them. Changed deliberately for issue 20: the
reply schema's patterns no longer admit control characters (the grammar wrote raw line breaks into
the JSON: most profiles failed as invalid JSON), and the balanced gold selection shows other turns
in items, so the profiles see other lines (and one more character, Siward, is profiled).

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
    "Banquo#0": "ed8a20dded017a4e45742aa1bcc15c681448b5ce56ff23a0389e8e885d8c9306",
    "Duncan#0": "798884c9db5c1dc8802e63d6dd1c9b4a8d96d7daec2d6dfbcfe220529b0a0211",
    "Lady Macbeth#0": "f24e2ef5d1c9f05334601cb572a02796e10817f8d65e50936c7e9196f0c797a9",
    "Lady Macbeth#1": "62b229ad02b9bf52dd2e776844c402336b8bc22a2bedab7d9f86bfd3223b97f8",
    "Lady Macduff#0": "10dc241dbf3e6b52b2d3526b6537544024adb9983582eb229addbc3375c1c970",
    "Lennox#0": "914b47dd915b3b5d0dc9f1c2b5e612d1407da49b365fbd5835391a29d0af56bc",
    "Macbeth#0": "6f332b62960fa45108a4f9b6d755c3d5e9ce025c1d845a7eb749af20d928fd37",
    "Macduff#0": "f3f54c5011c6cfcadcd433a20e688b04ee9642b504c20a6e646bc0187dbf5667",
    "Malcolm#0": "2114e4a67a37ef1630cbbbe8670ff9cb570cbbb1854dd30fd3d508c48bbd7e1e",
    "Ross#0": "6e9d6cac927b05f1617f43f6fbe3972ac57c231be9810c2946c6f940d0ff6313",
    "Siward#0": "fb480527f863f72cbe48c8c23c2ae359ff446ae4ecd88a61d0d2912aa326a342",
}


def character_of(request) -> str:
    return re.search(r"^Character: (.+?)(?: \(also called|\.$)", request.messages[-1]["content"], re.MULTILINE).group(1)


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


def test_strict_profile_requests_are_pinned_byte_for_byte():
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
    shown = re.findall(r'^- "(.*)"$', macbeth, re.MULTILINE)
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


# Characters a grammar could write into a profile part: all of ASCII and the Unicode a model writes.
WRITABLE = [chr(code) for code in range(0x80)] + list("’“”—–…éü£\u00a0\u2028\u2029")


def test_no_reply_the_strict_grammar_allows_is_invalid_json():
    """llama.cpp writes a pattern's characters into the JSON string raw, unescaped. The strict
    schema once let through raw line breaks (invalid JSON: 16 of 25 profiles of The Sign of the
    Four and Hamlet failed as "Invalid control character"); now every character its patterns
    allow is one a JSON string holds as it is."""
    from builders.llm.structured import llamacpp_schema

    schema = profiles.reply_schema("strict")
    assert llamacpp_schema(schema) == schema  # fully anchored: the grammar gets the patterns as written
    for part in profiles.PARTS:
        pattern = re.compile(schema["properties"][part]["pattern"])
        allowed = [c for c in WRITABLE if pattern.fullmatch("A" + c * 199)]
        for character in allowed:
            raw = f'{{"{part}": "A{character * 199}"}}'
            assert json.loads(raw)[part] == "A" + character * 199, repr(character)
        assert set(" .,;:'’-—éü?!0123456789") <= set(allowed) and "\n" not in allowed
        assert not pattern.fullmatch("A" * 199) and pattern.fullmatch("A" * 200)
        assert pattern.fullmatch("A" * 480) and not pattern.fullmatch("A" * 481)


def test_a_strict_reply_at_its_shortest_is_a_whole_profile():
    """Five parts at their shortest still make a profile of at least MIN_WORDS words."""
    schema = profiles.reply_schema("strict")
    shortest = int(re.search(r"\{(\d+),", schema["properties"]["arc"]["pattern"]).group(1)) + 1
    word = "quiet "  # an English word of about average length, and its space
    reply = {part: (word * shortest)[:shortest] for part in profiles.PARTS}
    verdict = profiles.accept(reply, profiles.WorkEvidence(work=None, evaluation_turns=set()), last_attempt=False)
    assert verdict.reason is None, verdict.reason
