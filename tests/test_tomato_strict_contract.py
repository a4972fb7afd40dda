"""The strict contract (the embedded model's profile) sends byte-identical requests.

Every ToMATO step on the `local-smollm2` profile must ask exactly what it asked before model
profiles and natural-text contracts existed: the same messages, schemas, sampling parameters and
sample indices, so the response caches of existing builds keep hitting and the README quick start
keeps its measured behaviour. Each step's requests are hashed as the response cache keys them
(`builders.llm.cache.request_key`, the model string in place of the weights' fingerprint); the
constants were recorded from the code before the natural contract was added.

A change here means every cached embedded-model build pays again: change a constant only on purpose.
Changed on purpose, with the answer key dealt from a private salt and the spread of small builds:
"a whole build" (conversations dealt round-robin over combos, a cap on questions per conversation,
distractors chosen by the words they share with the question) and "blind answer" (the provisional
option order). Where every distractor shares as many words with the question as the gold, the same
distractors are drawn as before ("uniqueness" is unchanged). The false-belief judge is asked only
when fit to judge, which the embedded model is not: its request is recorded here from a
strict-profile judge declared fit, and must not have changed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re

import pytest

from builders.llm.cache import request_key
from builders.tomato import item_judges
from builders.tomato.catalog import iter_combos
from builders.tomato.conversation import run_conversation
from builders.tomato.false_belief import judge_false_belief
from builders.tomato.llm_check import answer_blind
from builders.tomato.questions import build_candidates
from builders.tomato.records import RunInfo, make_record
from builders.tomato.scenarios import seed_environment, write_environment
from builders.tomato.seeds import load_seeds
from tests.support.profiles import profile_for_label
from tests.test_tomato_build import build as build_in_process

STRICT_MODEL = "local:smollm2"

# sha256 over the sorted request keys of each step (recorded before the natural contract existed)
EXPECTED = {
    "turns: emotion": "d8449b0c2a9115b53dea3dce9a5a5c8923d879320299d32b3446187938ee465d",
    "turns: intention, 5 exchanges": "eed34b1441281b8e6089e888c8b5066c7d34009df5137804d16709640a5ead73",
    "turns: a re-asked turn": "e5d3f7af18d87285dc82da38724fdb1480718b5ef02c5cbaac873be4bf4ac176",
    "scenario: three samples": "c93ca0ec89697c68b17b95d4ae17babdb5ba8ffbb289e97a183c807081b27f40",
    "false belief": "062801081c2ab78c40ba67a8067faa92669e6695c13c089af4b1cc11315b3692",
    "consistency": "1d7ee065990bcb976f8069aa7470c7c37b2c19f49e533baf6dc7596161a33295",
    "uniqueness": "8d02f0b8e2bbc53e9140917cfa7291d4b0f707c2bc3a9b36414d6a62b7bd2624",
    # re-recorded on purpose: see the module's docstring
    "a whole build: --n 12 --item-judges on --llm-validate":
        "f63dddc36f49e4dcabbb728ae61ab0488e1629438988a5e26fa7734f892cf7c4",
    "blind answer": "a68de5d4a60c3500d4d56a318b1081c4dc581b38b33c87af9219e41c4c0b6ec1",
}


class RecordingLLM:
    """A model on the strict profile that answers from the request and records every request
    (`fit_to_judge`: the same profile, declared fit to judge, as a --judge-profile file would)."""

    def __init__(self, respond, *, fit_to_judge=False):
        self.respond = respond
        self.label = STRICT_MODEL
        self.profile = dataclasses.replace(profile_for_label(STRICT_MODEL), judge=fit_to_judge)
        self.requests = []

    async def chat(self, request):
        self.requests.append(request)
        data = self.respond(request)
        digest = hashlib.sha256(json.dumps([request.messages, request.sample]).encode()).hexdigest()[:16]
        return _Reply(data, json.dumps(data), provenance={"request_hash": digest, "model": self.label})


class _Reply:
    def __init__(self, data, text, provenance):
        self.data, self.text, self.provenance, self.cached = data, text, provenance, False


def key_of(request) -> str:
    """The response-cache key of a request on the embedded model (client.LLM._key, minus the weights)."""
    extra = {} if request.repeat_penalty is None else {"repeat_penalty": request.repeat_penalty}
    return request_key(model=STRICT_MODEL, messages=request.messages, schema=request.schema,
                       temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
                       seed=request.seed if request.seed is not None else 0, sample=request.sample, **extra)


def digest(requests) -> str:
    return hashlib.sha256("\n".join(sorted(key_of(r) for r in requests)).encode()).hexdigest()


def turn_reply(request, duplicate_first_try_of=None):
    """A distinct, plain-ASCII thought and utterance for every turn, from the request alone."""
    pattern = request.schema["properties"]["thought"]["pattern"]
    prefix = pattern[1:pattern.index("[")]
    me = re.match(r"You are (\w+)", request.messages[0]["content"]).group(1)
    n = sum(1 for m in request.messages if m["role"] == "assistant")
    if duplicate_first_try_of is not None and n == duplicate_first_try_of and request.sample == 0:
        return {"thought": f"{prefix}the same as before.", "utterance": "Hi!"}  # refused: a greeting again
    moods = ["calm", "curious", "tense", "hopeful", "uneasy", "relieved", "proud", "tired"]
    return {"thought": f"{prefix}{moods[n % 8]} about the talk number {n}.",
            "utterance": f"This is {me} speaking for the {n} time, sample {request.sample}."}


def combo_and_environment(index=0):
    combos = iter_combos(0, load_seeds())
    for _ in range(index):
        next(combos)
    combo = next(combos)
    return combo, seed_environment(combo.scenario_seed)


def conversation(state="emotion", exchanges=7, index=0, respond=turn_reply):
    llm = RecordingLLM(respond)
    combo, environment = combo_and_environment(index)
    talk = asyncio.run(run_conversation(llm, combo, environment, state, exchanges=exchanges))
    return talk, llm.requests


def candidate():
    talk, _ = conversation(index=2)
    candidates, _ = build_candidates(talk, seed=0)
    return next(c for c in candidates if c.order == 2)


def any_step_reply(request):
    """Every step answered, the scenario writer with a usable environment, judges accepting."""
    if request.step == "tomato.scenario":
        return {"scenario": "Two neighbours meet on the stairs of their building on a rainy Sunday morning.",
                "goal_a": "Find out who has been parking in your space every night.",
                "goal_b": "Ask to borrow a ladder without saying what it is for."}
    if request.step == "tomato.false_belief":
        return {"compatible": len(request.messages[0]["content"]) % 3 != 0, "reason": "They disagree."}
    if request.step == "tomato.consistency":
        return {"plausible": "yes", "reason": "It fits."}
    if request.step == "tomato.uniqueness":
        return {"also_valid": [], "reason": "None is."}
    if request.step == "tomato.llm_validate":
        return {"answer": "B"}
    return turn_reply(request)


def requests_of_step(step: str) -> list:
    if step.startswith("a whole build"):
        llm = RecordingLLM(any_step_reply)
        collected, _ = build_in_process(["--n", "12", "--item-judges", "on", "--llm-validate"], llm)
        assert len(collected.kept) == 12
        return llm.requests
    if step == "turns: emotion":
        return conversation()[1]
    if step == "turns: intention, 5 exchanges":
        return conversation("intention", exchanges=5, index=1)[1]
    if step == "turns: a re-asked turn":
        return conversation("belief", respond=lambda r: turn_reply(r, duplicate_first_try_of=3))[1]
    if step == "scenario: three samples":
        leaky = {"scenario": "Two friends meet; one wants to borrow money for a ticket without saying why.",
                 "goal_a": "Borrow money for a ticket without saying why.", "goal_b": "Borrow money for a ticket."}
        llm = RecordingLLM(lambda r: leaky)  # refused every time: samples 0, 1 and 2 are asked
        asyncio.run(write_environment(llm, load_seeds().scenarios[0]))
        return llm.requests
    item = candidate()
    if step == "false belief":
        llm = RecordingLLM(lambda r: {"compatible": False, "reason": "They disagree."}, fit_to_judge=True)
        asyncio.run(judge_false_belief([llm], item.conversation, item.u_id))
        return llm.requests
    if step in ("consistency", "uniqueness"):
        llm = RecordingLLM(lambda r: {"plausible": "yes", "reason": "It fits."} if r.step == "tomato.consistency"
                           else {"also_valid": [], "reason": "None is."})
        asyncio.run(item_judges.judge_item([llm], item))
        return [r for r in llm.requests if r.step == f"tomato.{step}"]
    if step == "blind answer":
        record = make_record(item, RunInfo(seed=0, scenario_model="", prompt_hashes={}))
        llm = RecordingLLM(lambda r: {"answer": "B"})
        asyncio.run(answer_blind(llm, record))
        return llm.requests
    raise KeyError(step)


@pytest.mark.parametrize("step", sorted(EXPECTED))
def test_strict_requests_are_byte_identical_to_the_recorded_ones(step):
    requests = requests_of_step(step)
    assert requests, f"{step}: no request was made"
    assert digest(requests) == EXPECTED[step], (
        f"{step}: the strict contract's requests changed; every cached embedded-model build would pay again")


def test_the_digest_sees_a_one_byte_change():
    requests = requests_of_step("false belief")
    (request,) = requests
    changed = type(request)(**{**request.__dict__, "max_tokens": request.max_tokens + 1})
    assert digest([changed]) != digest(requests)
