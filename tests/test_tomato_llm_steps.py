"""LLM-dependent ToMATO steps against a tiny fake LLM (same reply shape as builders.llm's ChatReply)."""

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field

import jsonschema
import pytest

from builders.llm import RequestFailed
from builders.tomato.catalog import iter_combos
from builders.tomato.conversation import (ConversationFailed, run_conversation, turn_schema, visible_to_partner)
from builders.tomato.false_belief import judge_false_belief
from builders.tomato.llm_check import answer_blind
from builders.tomato.scenarios import seed_environment, write_environment
from builders.tomato.seeds import load_seeds
from tests.support.profiles import SCRIPTED_STRICT, profile_for_label


@dataclass
class FakeReply:
    data: object
    text: str
    cached: bool = False
    provenance: dict = field(default_factory=dict)


class FakeLLM:
    """Answers each request with `respond(request)`; like the real layer, a reply that fails the
    request's schema becomes RequestFailed."""

    @property
    def profile(self):
        return profile_for_label(self.label)

    def __init__(self, respond, label="fake:model"):
        self.respond = respond
        self.label = label
        self.requests = []

    async def chat(self, request):
        self.requests.append(request)
        data = self.respond(request)
        if request.schema is not None:
            try:
                jsonschema.Draft202012Validator(request.schema).validate(data)
            except jsonschema.ValidationError as error:
                raise RequestFailed(f"invalid reply: {error.message}") from None
        digest = hashlib.sha256(json.dumps([request.messages, request.sample]).encode()).hexdigest()[:16]
        return FakeReply(data, json.dumps(data), provenance={"request_hash": digest, "model": self.label})


def prefix_of(request) -> str:
    pattern = request.schema["properties"]["thought"]["pattern"]
    return pattern[1:pattern.index("[")]


def scripted_turn(request, *, thought_words=None):
    """A distinct thought and utterance for every turn, derived from the speaker's history length."""
    system = request.messages[0]["content"]
    me = re.match(r"You are (\w+)", system).group(1)
    n = sum(1 for m in request.messages if m["role"] == "assistant")
    words = thought_words or ["calm", "curious", "tense", "hopeful", "uneasy", "relieved", "proud", "tired"]
    return {"thought": f"{prefix_of(request)}{words[n % len(words)]} about the talk number {n}.",
            "utterance": f"This is {me} speaking for the {n} time, sample {request.sample}."}


def combo_and_environment(index=0):
    combos = iter_combos(0, load_seeds())
    for _ in range(index):
        next(combos)
    combo = next(combos)
    return combo, seed_environment(combo.scenario_seed)


def run(coroutine):
    return asyncio.run(coroutine)


# -- turn schema and visibility ----------------------------------------------------------------


def test_turn_schema_pins_the_prefix_and_forbids_quotes_and_parentheses():
    schema = turn_schema("I think that she feels ", SCRIPTED_STRICT)
    ok = {"thought": "I think that she feels worried about the money.", "utterance": "Sure, let us talk."}
    jsonschema.validate(ok, schema)
    for bad in ({**ok, "thought": "I feel worried about the money today."},
                {**ok, "thought": "I think that she feels (worried) about it."},
                {**ok, "utterance": 'She said "no" to me.'},
                {**ok, "utterance": ""},
                {**ok, "thought": "I think that she feels " + "very " * 60}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    with pytest.raises(ValueError, match="letters and spaces"):
        turn_schema("I (feel) ", SCRIPTED_STRICT)


def test_visible_to_partner_drops_parenthesised_thoughts():
    assert visible_to_partner('(I feel sad) "Hello there."') == '"Hello there."'
    assert visible_to_partner('(a) "x" (b) "y"') == '"x" "y"'


# -- conversation runner ------------------------------------------------------------------------


def test_conversation_alternates_and_keeps_thoughts_private():
    combo, environment = combo_and_environment()
    llm = FakeLLM(scripted_turn)
    conversation = run(run_conversation(llm, combo, environment, "emotion"))
    a, b = combo.agent_a, combo.agent_b
    assert [t.speaker for t in conversation.turns] == ["A", "B"] * 7 and conversation.sample == 0
    assert all(t.thought.startswith("I feel ") for t in conversation.turns[0::2])
    assert all(t.thought.startswith(f"I think that {a.pronouns.subject} ") for t in conversation.turns[1::2])
    assert len(llm.requests) == 14
    for request in llm.requests:
        system = request.messages[0]["content"]
        me_a = system.startswith(f"You are {a.full_name}")
        # asymmetry 1: only the agent's own goal is in its prompt
        assert environment.goals[0 if me_a else 1] in system and environment.goals[1 if me_a else 0] not in system
        assert a.personality_sentence in system if me_a else b.personality_sentence in system
        # asymmetry 2: the partner's thoughts never reach this agent; its own are in its history
        heard = " ".join(m["content"] for m in request.messages if m["role"] == "user")
        assert "(" not in heard and "I feel" not in heard and "I think that" not in heard
        own = [json.loads(m["content"]) for m in request.messages if m["role"] == "assistant"]
        assert all(set(o) == {"thought", "utterance"} for o in own)
        assert request.step == "tomato.turn" and request.prompt_hash
    lines = conversation.transcript().split("\n")
    assert len(lines) == 16 and lines[0] == f'{a.full_name}: "Hi!"' and lines[1] == f'{b.full_name}: "Hi, how are you?"'
    assert lines[2] == f'{a.full_name}: "{conversation.turns[0].utterance}"'
    # B's history starts with A's greeting and its own greeting with an empty thought
    first_b = llm.requests[1].messages
    assert first_b[1] == {"role": "user", "content": '"Hi!"'}
    assert json.loads(first_b[2]["content"]) == {"thought": "", "utterance": "Hi, how are you?"}


def test_exchanges_are_configurable():
    combo, environment = combo_and_environment()
    conversation = run(run_conversation(FakeLLM(scripted_turn), combo, environment, "desire", exchanges=3))
    assert len(conversation.turns) == 6


def test_a_bad_turn_is_re_asked_with_a_new_sample_index():
    def respond(request):
        reply = scripted_turn(request)
        if request.sample == 0 and len(request.messages) > 6:
            reply["utterance"] = "Hi!"  # a duplicate of the greeting
        return reply

    combo, environment = combo_and_environment()
    llm = FakeLLM(respond)
    conversation = run(run_conversation(llm, combo, environment, "belief"))
    assert conversation.sample == 0 and conversation.failed_attempts == ()
    retried = [t for t in conversation.turns if t.retries]
    assert retried and all(t.retries == 1 and t.utterance != "Hi!" for t in retried)
    assert {r.sample for r in llm.requests} == {0, 1}
    # a builder's own re-ask is flagged, so the release's call ledger counts it; first tries are not
    assert all(r.reask == (r.sample == 1) for r in llm.requests)


def test_a_turn_failing_every_try_regenerates_the_conversation_with_fresh_samples():
    def respond(request):
        reply = scripted_turn(request)
        if request.sample < 2 and len(request.messages) > 6:
            reply["utterance"] = "Hi!"
        return reply

    combo, environment = combo_and_environment()
    llm = FakeLLM(respond)
    conversation = run(run_conversation(llm, combo, environment, "belief", turn_attempts=2))
    assert conversation.sample == 1  # attempt 1 uses samples 2 and 3
    assert len(conversation.failed_attempts) == 1 and "duplicate utterance" in conversation.failed_attempts[0]
    assert max(r.sample for r in llm.requests) == 2
    # every turn of the re-generated conversation is asked because an earlier reply was refused
    assert all(r.reask == (r.sample > 0) for r in llm.requests)


def test_a_conversation_that_keeps_failing_is_dropped_with_every_reason():
    def respond(request):
        if len(request.messages) > 4:
            raise RequestFailed("server on fire")
        return scripted_turn(request)

    combo, environment = combo_and_environment()
    with pytest.raises(ConversationFailed) as failure:
        run(run_conversation(FakeLLM(respond), combo, environment, "knowledge", max_attempts=2, turn_attempts=2))
    assert str(failure.value).count("server on fire") == 4 and "sample 1" in str(failure.value)


# -- scenarios ---------------------------------------------------------------------------------


def test_written_environment_is_used_when_it_passes_the_checks():
    seed = load_seeds().scenarios[0]
    written = {"scenario": "Two friends sit in a quiet cafe on a rainy morning, catching up after a trip.",
               "goal_a": "Learn who scratched your bicycle while it was parked outside.",
               "goal_b": "Borrow some money for a concert ticket without explaining why."}
    env = run(write_environment(FakeLLM(lambda r: written), seed))
    assert env.source == "llm" and env.goals == (written["goal_a"], written["goal_b"]) and env.attempts == 1
    assert env.id == run(write_environment(FakeLLM(lambda r: written), seed)).id


def test_leaking_or_identical_goals_are_re_asked_then_the_seed_is_used():
    seed = load_seeds().scenarios[0]
    leaky = {"scenario": "Two friends meet; one wants to borrow money for a concert ticket without saying why.",
             "goal_a": "Borrow money for a concert ticket without saying why.",
             "goal_b": "Find out about the money for the ticket of the concert."}
    same = {"scenario": "Two friends meet in a cafe on a rainy morning.",
            "goal_a": "Get a discount on the old bicycle.", "goal_b": "Get a discount on the old bicycle."}
    paraphrased = {**leaky, "goal_a": "Ask to borrow money for a ticket to the concert."}
    answers = iter([leaky, same, paraphrased])
    llm = FakeLLM(lambda r: next(answers))
    env = run(write_environment(llm, seed, max_attempts=3))
    assert env.source == "seed" and env.scenario == seed.scenario and env.goals == seed.goals
    assert [r.sample for r in llm.requests] == [0, 1, 2] and [r.reask for r in llm.requests] == [False, True, True]
    assert env.problems == ("goal_a is written out in the scenario", "the two goals are identical",
                            "goal_a is readable from the scenario")


def test_failed_scenario_requests_fall_back_to_the_seed():
    def respond(request):
        raise RequestFailed("nope")

    env = run(write_environment(FakeLLM(respond), load_seeds().scenarios[1], max_attempts=2))
    assert env.source == "seed" and env.problems == ("request failed: nope", "request failed: nope")


# -- false beliefs and blind answering ---------------------------------------------------------


def conversation_for_judging():
    combo, environment = combo_and_environment(2)
    return run(run_conversation(FakeLLM(scripted_turn), combo, environment, "emotion"))


def judge(compatible, label="fake:judge"):
    return FakeLLM(lambda r: {"compatible": compatible, "reason": "because"}, label=label)


def test_false_belief_compares_a_thought_before_with_b_thought_at_u_id():
    conversation = conversation_for_judging()
    incompatible = judge(False)
    label, audit = run(judge_false_belief([incompatible], conversation, 3))
    assert label is True
    assert audit["compared"] == {"a_u_id": 2, "a_thought": conversation.turns[2].thought,
                                 "b_u_id": 3, "b_thought": conversation.turns[3].thought}
    prompt = incompatible.requests[0].messages[0]["content"]
    assert conversation.turns[2].thought in prompt and conversation.turns[3].thought in prompt
    assert conversation.turns[3].utterance not in prompt  # the judge sees thoughts only
    assert audit["verdicts"][0]["model"] == "fake:judge" and audit["verdicts"][0]["compatible"] is False
    with pytest.raises(ValueError, match="first-order"):
        run(judge_false_belief([incompatible], conversation, 2))


def test_false_belief_needs_every_judge_to_say_incompatible():
    conversation = conversation_for_judging()
    assert run(judge_false_belief([judge(True)], conversation, 1))[0] is False
    assert run(judge_false_belief([judge(False), judge(True, "fake:other")], conversation, 1))[0] is False
    assert run(judge_false_belief([judge(False), judge(False, "fake:other")], conversation, 1))[0] is True

    def broken(request):
        raise RequestFailed("judge down")

    label, audit = run(judge_false_belief([FakeLLM(broken)], conversation, 1))
    assert label is None and audit["verdicts"][0]["error"] == "judge down"  # no verdict: not judged, and why
    assert audit["judged"] is False and "judge down" in audit["reason"]
    # a judge that answered "compatible" decides, whatever another's request did
    assert run(judge_false_belief([judge(True), FakeLLM(broken)], conversation, 1))[0] is False


def test_false_belief_is_not_judged_by_a_judge_unfit_to_judge():
    conversation = conversation_for_judging()
    unfit = FakeLLM(lambda request: {"compatible": False, "reason": "They disagree."}, label="local:smollm2")
    label, audit = run(judge_false_belief([unfit], conversation, 3))
    assert label is None and unfit.requests == []  # not asked: its verdict would decide nothing
    assert audit["judged"] is False and audit["verdicts"] == []
    assert "local:smollm2 (profile local-smollm2) is not fit to judge" in audit["reason"]
    assert audit["compared"]["a_u_id"] == 2 and audit["compared"]["b_u_id"] == 3  # kept for a later, fit judge
    fit = judge(False)
    label, _ = run(judge_false_belief([unfit, fit], conversation, 3))  # one unfit judge is enough to abstain
    assert label is None and fit.requests == []


def test_blind_answering_records_and_flags_but_never_drops():
    record = {"conversation": "A: \"x\"", "q": "What?", "a0": "w", "a1": "x", "a2": "y", "a3": "z", "a_idx": 2}
    right = run(answer_blind(FakeLLM(lambda r: {"answer": "C"}), record))
    wrong = run(answer_blind(FakeLLM(lambda r: {"answer": "A"}), record))
    assert right == {"model": "fake:model", "answer": "C", "correct": True, "flagged": False}
    assert wrong["correct"] is False and wrong["flagged"] is True
