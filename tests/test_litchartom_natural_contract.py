"""The natural contract (capable models' profiles): schemas ask for structure only and take Unicode
prose, the original's lengths are stated in prompts and descriptions, what the released format
cannot hold is normalised and recorded (never re-asked), the wording rules tuned on the embedded
model are off, a blind-check miss goes to the verifier, and every builder re-ask is flagged."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace

import pytest

from builders.litchartom.autocheck import LETTERS, assemble, checker_order, draft_gold
from builders.litchartom.contract import Contract, load_targets
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import (
    draft_messages,
    draft_problem,
    draft_schema,
    write_draft,
)
from builders.litchartom.triple_step import (
    generate_triples,
    natural_schema,
    normalise_object,
)
from builders.litchartom.vocab import DIMENSIONS
from builders.litchartom.wording import SourceVocabulary, Wording
from builders.llm import ConfigError, parse_model
from builders.llm.profiles import profile_for
from builders.llm.structured import validate
from builders.scenes import (
    SceneContract,
    chunk_work,
    default_chunk_chars,
    extract_chunk,
    plot_schema,
)
from builders.scenes.chunks import chars_for_tokens
from tests.support.profiles import SCRIPTED_NATURAL
from tests.test_litchartom_autocheck import _block, _golds, _steps
from tests.test_litchartom_fakes import (
    SCRIPTED_LITCHARTOM,
    ScriptedLLM,
    is_gold,
    make_play,
)
from tests.test_litchartom_triples import _cast_step

NATURAL = Contract.of(SCRIPTED_NATURAL)
TARGETS = load_targets()
BELIEF = DIMENSIONS["belief"]


def _lengths(schema) -> list[str]:
    """Every length keyword in a schema, as "keyword=value"."""
    found = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("maxLength", "minLength", "pattern") and not isinstance(value, dict):
                found.append(f"{key}={value}")
            found += _lengths(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _lengths(value)
    return found


# -- question drafts --------------------------------------------------------------------------------


def test_the_draft_schema_asks_for_the_frames_and_states_the_originals_lengths():
    schema = draft_schema("Zoë Müller", DIMENSIONS["intention"], NATURAL)
    properties = schema["properties"]
    assert properties["question"]["pattern"] == "^What does Zoë Müller intend"
    assert properties["answer"]["pattern"] == "^Zoë Müller intends to "
    assert sorted(_lengths(schema)) == ["minLength=1", "minLength=1", "pattern=^What does Zoë Müller intend",
                                        "pattern=^Zoë Müller intends to "]  # no bound on prose, no ASCII pattern
    assert f"about {TARGETS.option} words" in properties["answer"]["description"]
    assert f"about {TARGETS.reasoning} words" in properties["reasoning"]["description"]
    reply = {"scenario": "At the café on the quay — after the ball, around 11 p.m.",
             "question": "What does Zoë Müller intend to do about Björn’s letter?",
             "answer": "Zoë Müller intends to answer Björn’s letter… and burn it, “before dawn”",
             "reasoning": "She says so twice; the 1920s edition even prints it in italics."}
    validate(reply, schema)
    with pytest.raises(ValueError):
        validate(reply, draft_schema("Zoë Müller", DIMENSIONS["intention"], Contract.of(SCRIPTED_LITCHARTOM)))
    with pytest.raises(ValueError):
        validate({**reply, "answer": "Björn intends to burn it"}, schema)  # another character's frame


def test_the_prompt_states_the_lengths_and_the_strict_prompt_does_not():
    steps, _ = _steps()
    natural = draft_messages(steps[0], BELIEF, NATURAL)[0]["content"]
    strict = draft_messages(steps[0], BELIEF, Contract.of(SCRIPTED_LITCHARTOM))[0]["content"]
    assert f"about {TARGETS.option} words in all" in natural and not re.search(r"about \d+ words", strict)
    assert "use the words of the conversation" in strict


def _reply(**changes):
    base = {"scenario": "Lear waits in the hall.", "question": "What does Lear believe about Goneril",
            "answer": "Lear believes Goneril loves him dearly", "reasoning": "He says so.\nTwice."}
    return {**base, **changes}


def test_line_breaks_and_a_missing_question_mark_are_normalised_and_recorded_not_re_asked():
    steps, leak = _steps()
    llm = ScriptedLLM(lambda request: _reply(), profile=SCRIPTED_NATURAL)
    draft = asyncio.run(write_draft(llm, steps[0], BELIEF, NATURAL, sample=0))
    assert draft.question.endswith("Goneril?") and draft.reasoning == "He says so. Twice."
    assert draft.normalised == ("reasoning: line breaks joined", "question: '?' added")
    assert draft_problem(draft, steps[0], leak, Wording(enabled=False), NATURAL) is None
    assert llm.calls[0].repeat_penalty is None and llm.calls[0].reask is False  # a llama.cpp knob: strict only


def test_runaway_answers_are_wrong_and_re_asked_with_the_reask_flag():
    steps, leak = _steps()

    def respond(request):
        long = "Lear believes " + " ".join(["that Goneril loves him"] * 12)
        return _reply(answer=long if request.sample == 0 else "Lear believes Goneril loves him")

    llm = ScriptedLLM(respond, profile=SCRIPTED_NATURAL)
    question = asyncio.run(draft_gold(llm, steps[0], BELIEF, leak, Wording(enabled=False), attempts=3))
    assert question.draft is not None and question.draft.sample == 1
    assert [(c.sample, c.reask) for c in llm.calls] == [(0, False), (1, True)]
    assert "the answer after its frame has 48 words (allowed 1-40)" in question.reasons()


def test_the_wording_rules_of_the_embedded_model_are_off_for_a_capable_one():
    steps, leak = _steps()
    work_words = SourceVocabulary(steps[0].work.text)
    draft = asyncio.run(write_draft(ScriptedLLM(lambda r: _reply(answer="Lear believes Björn’s café sells crêpes"),
                                                profile=SCRIPTED_NATURAL), steps[0], BELIEF, NATURAL, sample=0))
    assert draft_problem(draft, steps[0], leak, Wording(work_words, enabled=True), NATURAL).startswith(
        "words the source never uses")
    assert draft_problem(draft, steps[0], leak, Wording(work_words, enabled=NATURAL.wording_checks), NATURAL) is None


# -- triples --------------------------------------------------------------------------------------


def test_one_request_asks_for_the_whole_set_and_objects_are_normalised_with_a_record():
    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]])
    replies = {"belief": [{"relation": "BelievesAboutKent", "object": "(Kent is loyal)"}],
               "desire": [{"relation": "DesiresTo", "object": "keep the crown a while longer."},
                          {"relation": "Desires", "object": "rest\nand quiet"}],
               "emotion": [{"relation": "Feels", "object": "Feels anger — and grief"}],
               "intention": [{"relation": "IntendsTo", "object": "ride out at dawn"}]}
    llm = ScriptedLLM(lambda request: replies, profile=SCRIPTED_NATURAL)
    outcome = asyncio.run(generate_triples(llm, _cast_step(work), [], FutureLeakCheck(work.text),
                                           Wording(enabled=False), contract=NATURAL))
    assert len(llm.calls) == 1 and llm.calls[0].repeat_penalty is None
    assert [t.object for t in outcome.triples] == ["Kent is loyal", "keep the crown a while longer", "rest and quiet",
                                                   "anger — and grief", "ride out at dawn"]
    assert dict(outcome.normalised) == {"parentheses removed": 1, "final full stop dropped": 1,
                                        "line breaks joined": 1, "relation words at the start dropped": 1}
    schema = llm.calls[0].schema
    assert list(schema["properties"]) == ["belief", "desire", "emotion", "intention"]
    assert schema["properties"]["emotion"]["items"]["properties"]["relation"]["enum"] == [
        "Feels", "FeelsAbout", "FeelsTowards", "FeelsTowardsKent"]
    assert f"about {TARGETS.triple_object} words" in json.dumps(natural_schema(_cast_step(work), NATURAL))
    low, high = TARGETS.triples_per_dimension
    assert {(p["minItems"], p["maxItems"]) for p in schema["properties"].values()} == {(low, high)}


def test_a_set_too_thin_is_asked_again_as_a_re_ask():
    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]])
    thin = {"belief": [{"relation": "Believes", "object": "the storm will pass"}],
            "desire": [{"relation": "Desires", "object": " ".join(["very"] * 13)}],  # beyond the 12 words allowed
            "emotion": [{"relation": "Feels", "object": "1"}], "intention": [{"relation": "Intends", "object": "x y"}]}
    full = {**thin, "desire": [{"relation": "Desires", "object": "peace in his old age"}],
            "emotion": [{"relation": "Feels", "object": "grief for his lost kingdom"}],
            "intention": [{"relation": "Intends", "object": "to rest at Gloucester's house"}]}
    llm = ScriptedLLM(lambda request: full if request.sample else thin, profile=SCRIPTED_NATURAL)
    outcome = asyncio.run(generate_triples(llm, _cast_step(work), [], FutureLeakCheck(work.text), contract=NATURAL))
    assert [(c.sample, c.reask) for c in llm.calls] == [(0, False), (1, True)] and len(outcome.triples) == 4
    assert any("has 13 words (allowed 3-12)" in p for p in outcome.problems)
    assert any("the Intends object has 2 words (allowed 3-12)" in p for p in outcome.problems)
    assert normalise_object("Believes that, at last, Kent is true.") == (
        "at last, Kent is true", ["relation words at the start dropped", "final full stop dropped"])


def test_about_qualifies_the_relation_and_a_capable_models_objects_keep_to_three_to_twelve_words():
    work = make_play([[("LEAR", "Kent, speak of the storm."), ("KENT", "My liege.")]])
    reply = {"belief": [{"relation": "BelievesAbout", "about": "the storm", "object": "it will break his pride"},
                        {"relation": "BelievesAboutKent", "about": "loyalty", "object": "Kent is loyal to him"}],
             "desire": [{"relation": "DesiresTo", "about": "to hear", "object": "hear Kent speak his mind"},
                        {"relation": "DesiresTo", "about": "know", "object": "the truth about his daughters"}],
             "emotion": [{"relation": "Feels", "about": "rage", "object": "anger at the loss"},
                         {"relation": "FeelsAbout", "about": "the old king's great lost land", "object":
                          "sorrow for the land he gave away"}],
             "intention": [{"relation": "IntendsTo", "about": "", "object": "ride out at dawn"},
                           {"relation": "Intends", "about": "", "object": "rest"}]}
    llm = ScriptedLLM(lambda request: reply, profile=SCRIPTED_NATURAL)
    outcome = asyncio.run(generate_triples(llm, _cast_step(work), [], FutureLeakCheck(work.text),
                                           Wording(enabled=False), contract=NATURAL))
    assert [(t.relation, t.qualifier, t.object) for t in outcome.triples] == [
        ("BelievesAboutStorm", "Storm", "it will break his pride"),
        ("BelievesAboutKent", "Kent", "Kent is loyal to him"),  # already qualified by a name: `about` ignored
        ("DesiresToHear", "Hear", "Kent speak his mind"),  # `about` repeated at the object's start dropped
        ("Feels", "", "anger at the loss"),  # Feels takes no `about`
        ("FeelsAbout", "", "sorrow for the land he gave away"),
        ("IntendsTo", "", "ride out at dawn")]
    assert any("DesiresToKnow" in p and "a desire only to know" in p for p in outcome.problems)
    assert any("the Intends object has 1 words (allowed 3-12)" in p for p in outcome.problems)
    assert dict(outcome.normalised) == {"'about' of 5 words left off": 1}
    schema = llm.calls[0].schema["properties"]
    assert "DesiresToKnow" not in schema["desire"]["items"]["properties"]["relation"]["enum"]
    assert schema["desire"]["items"]["required"] == ["relation", "about", "object"]
    assert "(3 to 12)" in schema["belief"]["items"]["properties"]["object"]["description"]
    prompt = llm.calls[0].messages[0]["content"]
    assert "about 6 in all" in prompt and "(3 to 12)" in prompt and "never only to know something" in prompt


# -- the blind check and the verifier ----------------------------------------------------------------


def _judge(verdict: str):
    def respond(request):
        prompt = request.messages[0]["content"]
        if request.step == "litchartom.verify":
            return {"verdict": verdict, "reason": "Only the intended option fits what he says."}
        options = [line for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
        return {"answer": next(o[0] for o in options if not is_gold(prompt, o[3:])), "confidence": "medium"}
    return ScriptedLLM(respond, profile=SCRIPTED_NATURAL)


def test_a_blind_miss_confirmed_by_the_verifier_keeps_the_item():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    judge = _judge("valid")
    chosen = _block(pool, leak).blocks[0].distractors(pool[0])
    question = asyncio.run(assemble(questions[0], steps[0], chosen, None, judge))
    assert question.accepted and [c.step for c in judge.calls] == ["litchartom.blind_check", "litchartom.verify"]
    accepted = question.attempts[-1]
    assert accepted["outcome"] == "accepted after verification" and accepted["blind"]["confidence"] == "medium"
    gold = LETTERS[checker_order(f"{steps[0].key}|belief", 0).index(0)]
    verify_prompt = judge.calls[1].messages[0]["content"]
    assert f"The intended answer is {gold}." in verify_prompt and "CONVERSATION:" in verify_prompt
    assert question.counts["blind misses confirmed by the verifier"] == 1
    assert judge.calls[0].schema["properties"]["confidence"]["enum"] == ["low", "medium", "high"]


def test_a_refused_item_is_rejected_without_a_re_ask():
    """Its options are its block's, shown by the block's other questions too: no other set exists."""
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    judge = _judge("invalid")
    chosen = _block(pool, leak).blocks[0].distractors(pool[0])
    question = asyncio.run(assemble(questions[0], steps[0], chosen, None, judge))
    assert not question.accepted and "the verifier refused the item" in question.reasons()
    assert [(c.step, c.sample, c.reask) for c in judge.calls] == [("litchartom.blind_check", 0, False),
                                                                  ("litchartom.verify", 0, False)]


# -- the scene layer ------------------------------------------------------------------------------


SCENE = [("LEAR", "Tell me, my daughters, which of you shall we say doth love us most?"),
         ("GONERIL", "Sir, I love you more than words can wield the matter."),
         ("LEAR", "Of all these bounds, even from this line to this, we make thee lady."),
         ("CORDELIA", "What shall Cordelia speak? Love, and be silent."),
         ("LEAR", "What can you say to draw a third more opulent than your sisters? Speak."),
         ("CORDELIA", "Nothing, my lord."),
         ("LEAR", "Nothing will come of nothing: speak again."),
         ("KENT", "Good my liege, be Kent unmannerly."),
         ("LEAR", "Out of my sight!"),
         ("KENT", "See better, Lear.")]


def _scene_contract(profile=SCRIPTED_NATURAL) -> SceneContract:
    return SceneContract.of(profile, summary_words=TARGETS.plot_summary, scenario_words=TARGETS.scenario)


def test_a_natural_extraction_states_its_lengths_and_quotes_its_anchors():
    with pytest.raises(ConfigError, match="summary_words"):
        SceneContract.of(SCRIPTED_NATURAL)
    contract = _scene_contract()
    schema = plot_schema(["Lear", "Kent"], contract, with_quotes=False, anchors=None)
    item = schema["properties"]["plots"]["items"]["properties"]
    assert schema["properties"]["plots"]["maxItems"] == contract.max_plots > 1
    assert "copied word for word" in item["first_line"]["description"] and "enum" not in item["first_line"]
    assert f"about {TARGETS.plot_summary} words" in item["summary"]["description"]
    assert "pattern" not in json.dumps(schema)  # structure only: any Unicode prose
    assert contract.max_tokens == SCRIPTED_NATURAL.limit("scenes.max_tokens")


def test_several_plots_per_chunk_names_outside_a_plot_and_line_breaks_are_recorded():
    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    plots = [{"first_line": "Tell me, my daughters, which of you", "last_line": "Nothing, my lord.",
              "summary": "Lear asks his daughters\nto profess their love.", "scenario": "The court — assembled.",
              "characters": ["Lear", "Cordelia", "Kent"]},
             {"first_line": "Nothing will come of nothing", "last_line": "See better, Lear.",
              "summary": "Kent defends Cordelia.", "scenario": "The court, later.", "characters": ["Kent"]}]
    llm = ScriptedLLM(lambda request: {"plots": plots}, profile=SCRIPTED_NATURAL)
    result = asyncio.run(extract_chunk(llm, work, chunk, contract=_scene_contract(), min_turns=3))
    first, second = result.plots
    assert "Kent" not in [k.name for k in first.key_characters]  # Kent neither speaks nor is named there
    assert first.provenance["names_not_in_plot"] == ["Kent"]
    assert first.summary == "Lear asks his daughters to profess their love."
    assert first.provenance["normalised"] == ["summary: line breaks joined"]
    assert second.character_ids()[:1] == ["kent"] and "normalised" not in second.provenance
    assert "about 74 words" in llm.calls[0].messages[1]["content"]


def test_chunk_sizes_come_from_the_profile():
    capable, embedded = (profile_for(parse_model(m)) for m in ("openai:gpt-4o", "local:smollm2"))
    assert default_chunk_chars(capable) == chars_for_tokens(8192)  # CoSER's chunks
    assert default_chunk_chars(embedded) == chars_for_tokens(2048 - 450 - 320)  # what its slot leaves room for
    cramped = replace(capable, context_tokens=600)
    with pytest.raises(ConfigError, match="raise context_tokens or lower scenes.max_tokens"):
        default_chunk_chars(cramped)


def test_a_speakers_label_in_capitals_is_where_the_name_is_first_seen():
    text = "SCENE 1.\n\nOSWALD\nI am here, madam.\n\nSCENE 2.\n\nGONERIL\nOswald, go."
    check = FutureLeakCheck(text)
    assert check.leaks("What does Oswald believe?", until=text.index("SCENE 2")) == []
    assert check.leaks("Goneril calls", until=text.index("SCENE 2")) == ["Goneril"]
