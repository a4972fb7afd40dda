"""Model profiles: which profile a model string gets, user overrides, and refusals before any request."""

from __future__ import annotations

import asyncio
import re
import types
from pathlib import Path

import pytest
import yaml

from builders.llm import LLM, ChatRequest, ConfigError, parse_model
from builders.llm import profiles as profiles_module
from builders.llm.ledger import CURRENT, Ledger
from builders.llm.profiles import check_fits_prompts, judges_wanted, profile_for
from builders.pipeline import ordered_map
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import reply_json, reply_text
from tests.test_reliability_support import build, chat_bodies, fake_server, one_line

__all__ = ["fake_server"]


@pytest.mark.parametrize("model, name, contract, grammar, judge", [
    ("local:smollm2", "local-smollm2", "strict", True, False),
    ("openai:gpt-4o", "openai", "natural", False, True),
    ("anthropic:claude-sonnet-4-5", "anthropic", "natural", False, True),
    ("openai-compatible:http://127.0.0.1:8000/v1#llama-70b", "openai-compatible", "natural", False, True),
])
def test_each_model_string_gets_its_known_profile(model, name, contract, grammar, judge):
    profile = profile_for(parse_model(model))
    assert (profile.name, profile.contract, profile.grammar, profile.judge) == (name, contract, grammar, judge)
    assert profile.natural == (contract == "natural") and profile.judge_note


def test_the_embedded_model_keeps_its_measured_limits():
    profile = profile_for(parse_model("local:smollm2"))
    assert profile.context_tokens == 2048 and "kappa -0.06" in profile.judge_note


def test_a_known_profile_can_be_named_for_another_model():
    profile = profile_for(parse_model("openai-compatible:http://127.0.0.1:8000/v1#tiny"), "local-smollm2")
    assert profile.name == "local-smollm2" and profile.contract == "strict" and profile.grammar


def write(path: Path, body: dict) -> Path:
    path.write_text(yaml.safe_dump(body))
    return path


def test_a_profile_file_overrides_fields_of_the_profile_it_extends(tmp_path):
    spec = parse_model("openai-compatible:http://127.0.0.1:8000/v1#qwen-7b")
    profile = profile_for(spec, write(tmp_path / "qwen.yaml", {"context_tokens": 8192, "judge": False,
                                                                "judge_note": "7B, not measured"}))
    assert (profile.name, profile.origin, profile.context_tokens, profile.judge) == \
        ("openai-compatible+qwen", "file", 8192, False)
    assert profile.contract == "natural"  # inherited
    strict = profile_for(spec, write(tmp_path / "small.yaml", {"extends": "local-smollm2", "name": "tiny"}))
    assert (strict.name, strict.contract) == ("tiny", "strict")
    assert profile.summary()["fingerprint"] != profile_for(spec).summary()["fingerprint"]


@pytest.mark.parametrize("body, fragments", [
    ({"context_window": 8192}, ["unknown key(s) ['context_window']", "context_tokens"]),
    ({"contract": "loose"}, ["contract must be one of strict, natural", "'loose'"]),
    ({"context_tokens": 0}, ["context_tokens must be a whole number of at least 1"]),
    ({"judge": "yes"}, ["judge must be true or false"]),
    ({"extends": "gpt-5"}, ["unknown model profile 'gpt-5'", "local-smollm2"]),
    ({"limits": {"no_such_builder": {"x": 1}}}, ["unknown limits section 'no_such_builder'"]),
])
def test_bad_profile_files_name_the_problem(tmp_path, body, fragments):
    spec = parse_model("openai:gpt-4o")
    with pytest.raises(ConfigError) as caught:
        profile_for(spec, write(tmp_path / "bad.yaml", body))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_unknown_limits_and_wrong_limit_types_are_refused(tmp_path, monkeypatch):
    known = tmp_path / "profiles.yaml"
    write(known, {"profiles": {"capable": {"description": "d", "match": ["openai:*"], "context_tokens": 1000,
                                           "grammar": False, "contract": "natural", "judge": True, "concurrency": 2, "smoke_test": False,
                                           "limits": {"tomato": {"thought_words": 30, "span": [8, 48]}}}}})
    monkeypatch.setattr(profiles_module, "PROFILES_FILE", known)
    spec = parse_model("openai:gpt-4o")
    assert profile_for(spec).limit("tomato.thought_words") == 30
    with pytest.raises(KeyError, match="known limits: tomato.span, tomato.thought_words"):
        profile_for(spec).limit("tomato.option_words")
    for limits, fragment in [({"tomato": {"option_words": 3}}, "unknown limit tomato.option_words"),
                             ({"tomato": {"thought_words": "many"}}, "limit tomato.thought_words must be like 30"),
                             ({"tomato": {"thought_words": -1}}, "limit tomato.thought_words must be like 30"),
                             ({"tomato": {"span": [1, 2, 3]}}, "limit tomato.span must be like [8, 48]")]:
        with pytest.raises(ConfigError, match=re.escape(fragment)):
            profile_for(spec, write(tmp_path / "user.yaml", {"limits": limits}))
    overridden = profile_for(spec, write(tmp_path / "user.yaml", {"limits": {"tomato": {"thought_words": 12}}}))
    assert overridden.limits == {"tomato": {"thought_words": 12, "span": [8, 48]}}  # the rest inherited


@pytest.mark.parametrize("model, body, fragments", [
    ("openai:gpt-4o", {"grammar": True}, ["says grammar: true", "openai models do not decode under a grammar"]),
    ("anthropic:claude-sonnet-4-5", {"extends": "local-smollm2"}, ["anthropic models do not decode under a grammar"]),
    ("local:smollm2", {"context_tokens": 8192}, ["gives local:smollm2 8192 tokens", "holds 2048"]),
    ("local:smollm2", {"grammar": False}, ["always decodes under its reply schema's grammar"]),
])
def test_a_profile_that_contradicts_its_model_is_refused(tmp_path, model, body, fragments):
    with pytest.raises(ConfigError) as caught:
        profile_for(parse_model(model), write(tmp_path / "p.yaml", body))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_context_smaller_than_the_smallest_prompt_is_refused(tmp_path):
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "long.j2").write_text("x" * 4000)
    (folder / "short.j2").write_text("y" * 400)  # about 100 tokens
    (folder / "_partial.j2").write_text("z")  # partials are not prompts of their own
    spec = parse_model("openai-compatible:http://127.0.0.1:8000/v1#m")
    check_fits_prompts(profile_for(spec), folder, model=spec.label)
    with pytest.raises(ConfigError, match=r"context of 50 tokens, smaller than the smallest prompt .*short.j2"):
        check_fits_prompts(profile_for(spec, write(tmp_path / "p.yaml", {"context_tokens": 50})), folder,
                           model=spec.label)


def test_the_client_takes_its_concurrency_and_dialect_from_the_profile(openai_server, make_llm, tmp_path):
    model = f"openai-compatible:{openai_server.base_url}#m"
    assert make_llm(model).concurrency == profile_for(parse_model(model)).concurrency
    assert make_llm(model, concurrency=3).concurrency == 3
    # A compatible server that decodes under a llama.cpp grammar gets the anchored patterns.
    openai_server.script(reply_json({"answer": "I feel fine"}))
    llm = make_llm(model, profile="local-smollm2")
    schema = {"type": "object", "properties": {"answer": {"type": "string", "pattern": "^I feel "}},
              "required": ["answer"]}
    run_chats(llm, [ChatRequest(messages=[{"role": "user", "content": "hi"}], schema=schema)])
    sent = openai_server.bodies()[0]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["answer"]["pattern"].startswith("^I feel ") and sent["properties"]["answer"][
        "pattern"].endswith("$")


def test_judges_are_skipped_only_when_no_judge_profile_is_fit(tmp_path):
    fit = types.SimpleNamespace(label="openai:gpt-4o")
    unfit = types.SimpleNamespace(label="local:smollm2")
    notes: list[str] = []
    assert judges_wanted("auto", [fit], notes, what="x", flag="--x") and not notes
    assert not judges_wanted("auto", [unfit], notes, what="x", flag="--x")
    assert "profile local-smollm2" in notes[0] and "kappa -0.06" in notes[0] and "--x on" in notes[0]
    spec = parse_model("openai-compatible:http://127.0.0.1:8000/v1#m")
    declared_unfit = types.SimpleNamespace(label=spec.label, profile=profile_for(
        spec, write(tmp_path / "p.yaml", {"judge": False, "judge_note": "our 1B model"})))
    notes = []
    assert not judges_wanted("auto", [declared_unfit], notes, what="x", flag="--x") and "our 1B model" in notes[0]


# -- through the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("profile, fragments", [
    ("gpt-17", ["unknown model profile 'gpt-17'", "known profiles", "my-profile.yaml"]),
    ("missing/profile.yaml", ["model profile file missing/profile.yaml not found"]),
])
def test_bad_profiles_are_refused_by_the_builder_before_any_request(fake_server, tmp_path, profile, fragments):
    result = build(fake_server, tmp_path, "--model-profile", profile, n=5)
    assert result.returncode == 2, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in one_line(result.stderr)
    assert chat_bodies(fake_server) == []


def test_an_unknown_key_in_a_profile_file_is_refused_by_the_builder(fake_server, tmp_path):
    path = write(tmp_path / "mine.yaml", {"context_tokens": 8192, "temperature": 0.2})
    result = build(fake_server, tmp_path, "--judge-profile", str(path), n=5)
    assert result.returncode == 2 and "unknown key(s) ['temperature']" in one_line(result.stderr)
    assert chat_bodies(fake_server) == []


def test_a_context_too_small_for_the_builders_prompts_is_refused_by_the_builder(fake_server, tmp_path):
    path = write(tmp_path / "tiny.yaml", {"context_tokens": 10})
    result = build(fake_server, tmp_path, "--model-profile", str(path), n=5)
    assert result.returncode == 2 and "smaller than the smallest prompt it would be sent (tomato/" in \
        one_line(result.stderr)
    assert chat_bodies(fake_server) == []


# -- the call ledger -----------------------------------------------------------------------------------


def test_the_ledger_counts_original_attempts_for_cached_replies_and_builder_reasks(openai_server, make_llm):
    openai_server.script(reply_json({"answer": "maybe"}), reply_json({"answer": "yes"}), reply_text("hi"))
    schema = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"]}
    ask = ChatRequest(messages=[{"role": "user", "content": "q"}], schema=schema, step="judge")
    again = ChatRequest(messages=[{"role": "user", "content": "hello"}], step="talk", sample=1, reask=True)
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#m")

    def counted() -> Ledger:
        async def main():
            ledger = Ledger()
            CURRENT.set(ledger)
            async with llm:
                await llm.chat(ask)
                await llm.chat(again)
            return ledger

        return asyncio.run(main())

    first = counted()
    assert {s: (r.calls, r.requests, r.reasks) for s, r in first.steps.items()} == \
        {"judge": (1, 2, 1), "talk": (1, 1, 1)}
    assert llm.accounting.totals().reasks == 2
    second = counted()  # all from the cache now: nothing sent, the same figures
    assert len(openai_server.requests) == 3
    assert {s: (r.calls, r.requests, r.reasks) for s, r in second.steps.items()} == \
        {s: (r.calls, r.requests, r.reasks) for s, r in first.steps.items()}
    assert first.report(released=2)["total"] == {"calls": 2, "requests": 3, "reasks": 2, "failed": 0,
                                                 "reask_share": 0.6667, "requests_per_record": 1.5}


def test_work_run_ahead_and_never_consumed_is_not_in_the_ledger():
    async def unit(i: int) -> int:
        CURRENT.get().record("unit", attempts=1, reask=False)
        await asyncio.sleep(0)
        return i

    async def main():
        ledger = Ledger()
        CURRENT.set(ledger)
        seen = []
        stream = ordered_map(unit, range(10), concurrency=4)
        async for value in stream:
            seen.append(value)
            if len(seen) == 3:
                await asyncio.sleep(0.01)  # the items run ahead have finished by now
                break
        await stream.aclose()
        return ledger

    assert asyncio.run(main()).steps["unit"].calls == 3


def test_work_run_ahead_and_never_consumed_is_reported_apart():
    async def unit(i: int) -> int:
        CURRENT.get().record("unit", attempts=1, reask=False)
        return i

    async def main():
        ledger = Ledger()
        CURRENT.set(ledger)
        stream = ordered_map(unit, range(10), concurrency=4)
        async for value in stream:
            if value == 2:
                await asyncio.sleep(0.01)
                break
        await stream.aclose()
        return ledger

    ledger = asyncio.run(main())
    assert ledger.steps["unit"].calls == 3 and ledger.ahead.steps["unit"].calls == 3  # items 3-5 ran ahead
