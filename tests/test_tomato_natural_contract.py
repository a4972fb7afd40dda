"""The natural-text contract of a capable model's profile: schemas that ask for structure only,
lengths from the original's statistics, prose fitted into the published form instead of re-asked,
re-asks flagged, limits read from the profile, and the release's figures next to the original's.

The strict contract (the embedded model) is pinned byte for byte by tests/test_tomato_strict_contract.py.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from builders.figures import words
from builders.llm import parse_model
from builders.llm.profiles import profile_for
from builders.tomato import item_judges
from builders.tomato.conversation import run_conversation, turn_schema
from builders.tomato.false_belief import judge_false_belief
from builders.tomato.figures import figures
from builders.tomato.invariants import LINE, checks
from builders.tomato.line_format import (
    LINE_BREAKS,
    PARENTHESES,
    STRAIGHT_QUOTES,
    fit_thought,
    fit_utterance,
)
from builders.tomato.original import ORIGINAL, target_words
from builders.tomato.questions import build_candidates
from builders.tomato.scenarios import environment_schema, write_environment
from builders.tomato.seeds import load_seeds
from tests.support.profiles import SCRIPTED_NATURAL, SCRIPTED_STRICT
from tests.test_tomato_llm_steps import FakeLLM, combo_and_environment, run
from tests.test_tomato_questions import records_of

NATURAL_MODEL = "openai:gpt-4o"  # a real model string: the fake gets its real (natural) profile
PREFIX = "I think that she feels "


# -- the profile holds the limits ------------------------------------------------------------------


def test_every_tomato_limit_is_declared_for_capable_models_and_set_for_the_embedded_one():
    capable = profile_for(parse_model(NATURAL_MODEL)).limits["tomato"]
    embedded = profile_for(parse_model("local:smollm2")).limits["tomato"]
    assert set(capable) == set(embedded) and capable
    # the embedded model's bounds are the tight ones its grammar decodes fast; a capable model's
    # only stop runaway text, several times what is asked
    assert embedded["thought_chars"] == [8, 120] and embedded["utterance_chars"] == [2, 160]
    assert capable["thought_chars"][1] >= 4 * 6 * target_words("thought")  # ~6 characters a word
    assert capable["utterance_chars"][1] >= 4 * 6 * target_words("utterance")


def test_writing_targets_follow_from_the_originals_figures():
    conversation_words = ORIGINAL["conversation_words"]["mean"]
    # 16 lines led by two-word names; the greetings take 3 and 6 words with their names
    per_line = (conversation_words - 3 - 6 - 14 * 2) / 14
    assert target_words("utterance") == int(per_line) == 36
    assert target_words("thought") == round(ORIGINAL["option_words"]["mean"]) == 25
    with pytest.raises(KeyError, match="known: thought, utterance"):
        target_words("speech")


# -- fitting prose into the published form -----------------------------------------------------------


@pytest.mark.parametrize("written, fitted, rules", [
    ('She said "fine" and left.', "She said “fine” and left.", (STRAIGHT_QUOTES,)),
    ('"Honestly?" I asked.', "“Honestly?” I asked.", (STRAIGHT_QUOTES,)),
    ("I was (honestly) tired.", "I was — honestly — tired.", (PARENTHESES,)),
    ("Tired (very).", "Tired — very.", (PARENTHESES,)),
    ("Fine (really) — or not.", "Fine — really — or not.", (PARENTHESES,)),
    ("Line one.\nLine two.", "Line one. Line two.", (LINE_BREAKS,)),
    ("Zoë’s café — 3:30, £40… “fine”", "Zoë’s café — 3:30, £40… “fine”", ()),
])
def test_an_utterance_is_fitted_and_every_change_is_named(written, fitted, rules):
    result = fit_utterance(written)
    assert (result.text, result.rules) == (fitted, rules)
    assert LINE.match(f'Liam Stone: "{result.text}"')


def test_a_thought_keeps_its_quotes_and_loses_only_parentheses_and_line_breaks():
    result = fit_thought('I feel "torn"\n(again) about it.')
    assert result.text == 'I feel "torn" — again — about it.'
    assert result.rules == (LINE_BREAKS, PARENTHESES)


# -- the turn schema ----------------------------------------------------------------------------------


def test_the_natural_turn_schema_asks_for_structure_and_takes_unicode_prose():
    schema = turn_schema(PREFIX, SCRIPTED_NATURAL)
    thought, utterance = schema["properties"]["thought"], schema["properties"]["utterance"]
    assert thought["pattern"] == f"^{PREFIX}"  # the one literal a reply must follow
    assert f"about {target_words('thought')} words" in thought["description"] and PREFIX in thought["description"]
    assert f"about {target_words('utterance')} words" in utterance["description"]
    _, high = SCRIPTED_NATURAL.limit("tomato.thought_chars")
    assert thought["maxLength"] == len(PREFIX) + high and "pattern" not in utterance
    good = {"thought": PREFIX + "uneasy — Zoë’s “plan” (again) costs £40 by 3:30…",
            "utterance": 'Honestly? I said "no" (twice), and I’d say it again in Zürich.'}
    jsonschema.validate(good, schema)
    strict = turn_schema(PREFIX, SCRIPTED_STRICT)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(good, strict)
    for bad in ({**good, "thought": "I feel uneasy about the plan."}, {**good, "utterance": ""},
                {**good, "utterance": "word " * 400}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


# -- a conversation under the natural contract --------------------------------------------------------


MOODS = ["uneasy that Zoë’s café closes at 3:30", "hopeful about the £40 refund", "torn over Renée’s offer",
         "relieved the 1920s flat is still free", "annoyed that nobody’s called back", "curious about Zürich",
         "proud of the garden", "tired of the lease talk"]


def unicode_turn(request):
    """What a strong model writes: Unicode, and now and then what the published form cannot hold."""
    prefix = request.schema["properties"]["thought"]["pattern"][1:]
    me = re.match(r"You are (\w+)", request.messages[0]["content"]).group(1)
    n = sum(1 for m in request.messages if m["role"] == "assistant")
    return {"thought": f"{prefix}{MOODS[n % 8]} (turn {n}) — and I’d rather not say why.",
            "utterance": f'Well, {me} here — I said "fine"\nbut I’m not sure (really) about turn {n}…'}


def test_prose_the_published_form_cannot_hold_is_fitted_recorded_and_never_re_asked():
    combo, environment = combo_and_environment()
    llm = FakeLLM(unicode_turn, label=NATURAL_MODEL)
    conversation = run(run_conversation(llm, combo, environment, "emotion"))
    assert len(llm.requests) == 14 and not any(r.reask for r in llm.requests)
    assert conversation.contract == "natural"
    profile = llm.profile
    assert {r.max_tokens for r in llm.requests} == {profile.limit("tomato.turn_max_tokens")}
    for line in conversation.transcript().split("\n"):
        assert LINE.match(line), line
    first = conversation.turns[0]
    assert first.utterance.startswith("Well, ") and "“fine”" in first.utterance and "— really —" in first.utterance
    assert first.normalisations == (
        {"field": "thought", "rules": [PARENTHESES], "written": unicode_turn(llm.requests[0])["thought"]},
        {"field": "utterance", "rules": [LINE_BREAKS, STRAIGHT_QUOTES, PARENTHESES],
         "written": unicode_turn(llm.requests[0])["utterance"]})
    # the model reads its own prose back as written (fitted), not as \u escapes
    own = " ".join(m["content"] for m in llm.requests[-1].messages if m["role"] == "assistant")
    assert "I’d rather" in own and "“fine”" in own and "\\u" not in own
    system = llm.requests[0].messages[0]["content"]
    assert f"about {target_words('thought')} words" in system and f"about {target_words('utterance')} words" in system

    records, drops = records_of(conversation)
    assert records and not drops
    for record in records:
        assert [check.__name__ for check in checks if check(record)] == []
        provenance = record["provenance"]
        assert provenance["roleplay_contract"] == "natural"
        assert len(provenance["normalisations"]) == 28  # both fields of all 14 lines
        assert {n["u_id"] for n in provenance["normalisations"]} == set(range(14))
        assert "he’d rather not" in record["a_str"] or "they’d rather not" in record["a_str"]  # Unicode survives
    assert any("Zoë’s café" in record["a_str"] for record in records)


def test_a_wrong_natural_turn_is_re_asked_and_flagged():
    def respond(request):
        reply = unicode_turn(request)
        if request.sample == 0 and len(request.messages) > 6:
            reply["utterance"] = "Hi!"  # said before: a wrong reply, not a form problem
        return reply

    combo, environment = combo_and_environment()
    llm = FakeLLM(respond, label=NATURAL_MODEL)
    conversation = run(run_conversation(llm, combo, environment, "belief"))
    assert any(t.retries for t in conversation.turns)
    assert all(r.reask == (r.sample > 0) for r in llm.requests) and any(r.reask for r in llm.requests)


# -- scenarios and judges ------------------------------------------------------------------------------


def test_the_scenario_writer_states_lengths_to_a_capable_model_and_flags_its_re_asks():
    natural = environment_schema(SCRIPTED_NATURAL)["properties"]
    strict = environment_schema(SCRIPTED_STRICT)["properties"]
    assert f"about {target_words('scenario')} words" in natural["scenario"]["description"]
    assert f"about {target_words('goal')} words" in natural["goal_a"]["description"]
    assert all("description" not in field for field in strict.values())
    assert strict["scenario"]["maxLength"] == 400 and natural["scenario"]["maxLength"] == 2500

    leaky = {"scenario": "Two friends meet; one wants to borrow money for a ticket without saying why.",
             "goal_a": "Borrow money for a ticket without saying why.", "goal_b": "Find out about the money."}
    llm = FakeLLM(lambda request: leaky, label=NATURAL_MODEL)
    environment = run(write_environment(llm, load_seeds().scenarios[0]))
    assert environment.source == "seed" and [r.reask for r in llm.requests] == [False, True, True]
    prompt = llm.requests[0].messages[0]["content"]
    assert f"about {target_words('scenario')} words" in prompt
    assert {r.max_tokens for r in llm.requests} == {SCRIPTED_NATURAL.limit("tomato.scenario_max_tokens")}


def test_each_judge_gets_the_contract_of_its_own_profile():
    combo, environment = combo_and_environment(2)
    conversation = run(run_conversation(FakeLLM(unicode_turn, label=NATURAL_MODEL), combo, environment, "emotion"))
    candidate = next(c for c in build_candidates(conversation, seed=0)[0] if c.order == 2)
    long_reason = "It fits — " + "the thought leads to the line, " * 10  # ~300 characters: over the strict cap

    def respond(request):
        if request.step == "tomato.consistency":
            return {"plausible": "yes", "reason": long_reason}
        if request.step == "tomato.uniqueness":
            return {"also_valid": [], "reason": long_reason}
        return {"compatible": False, "reason": long_reason}

    capable, embedded = FakeLLM(respond, label=NATURAL_MODEL), FakeLLM(respond, label="local:smollm2")
    audit = run(item_judges.judge_item([capable, embedded], candidate))
    verdicts = {v["model"]: v for v in audit["verdicts"]}
    assert verdicts[NATURAL_MODEL]["accepted"] and verdicts["local:smollm2"]["error"]  # 300 > 120 characters
    schema = capable.requests[0].schema["properties"]["reason"]
    assert schema["description"] == "One short sentence." and schema["maxLength"] == 600
    assert "description" not in embedded.requests[0].schema["properties"]["reason"]
    assert capable.requests[0].max_tokens == 300 and embedded.requests[0].max_tokens == 160

    label, audit = run(judge_false_belief([capable], conversation, candidate.u_id))
    assert label is True and capable.requests[-1].schema["properties"]["reason"]["maxLength"] == 600


# -- figures -------------------------------------------------------------------------------------------


def test_figures_measure_the_release_next_to_the_original():
    combo, environment = combo_and_environment()
    conversation = run(run_conversation(FakeLLM(unicode_turn, label=NATURAL_MODEL), combo, environment, "emotion"))
    records, _ = records_of(conversation, fb={1: True})
    found = {figure.name: figure for figure in figures(records)}
    option = found["option words (mean)"]
    assert option.kind == "length" and option.original == 24.7
    assert option.value == round(sum(words(r[k]) for r in records for k in ("a0", "a1", "a2", "a3"))
                                 / (4 * len(records)), 2)
    assert found["conversation words (mean)"].value == words(records[0]["conversation"])
    assert found["question words (mean)"].original == 45 and found["question words (mean)"].kind == "length"
    assert found["false-belief share (of questions with a label)"].value == round(1 / len(records), 4)
    counts = {name: found[name].value for name in ("conversations (distinct)", "combos (distinct)",
                                                    "environments (distinct)", "agents (distinct)",
                                                    "mental states (distinct)")}
    assert counts == {"conversations (distinct)": 1, "combos (distinct)": 1, "environments (distinct)": 1,
                      "agents (distinct)": 2, "mental states (distinct)": 1}
    assert found["combos (distinct)"].original == 157 and found["agents (distinct)"].original == 38
    assert all(found[name].kind == "count" for name in counts)
    unjudged, _ = records_of(conversation, fb={u_id: None for u_id in range(1, 14, 2)})
    assert {f.name: f for f in figures(unjudged)}["false-belief share (of questions with a label)"].value is None
    assert found["Big Five patterns (distinct)"].value == 2 and found["Big Five patterns (distinct)"].original == 15
    assert sum(found[f"a_idx = {i} (share)"].value for i in range(4)) == pytest.approx(1)
    assert found['question form "When X says ..." (share)'].value == round(
        sum(r["q"].startswith("When ") for r in records) / len(records), 4)
    gap = found["gold minus distractor words (mean)"]
    assert gap.original == -0.1 and abs(gap.value) < 2
    assert all(json.dumps(f.as_dict()) for f in found.values())
    assert figures([])[0].value is None
