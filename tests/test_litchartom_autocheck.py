"""The auto-check loop: blind answer, bounded regeneration with new sample indices, rejection
with reasons; and the program checks on drafts (frame, distinctness, negation flips, leakage)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from builders.litchartom.autocheck import checked_question, checker_order
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, draft_problem, draft_schema
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import DIMENSIONS
from builders.llm.structured import llamacpp_schema, validate
from builders.scenes.plots import KeyCharacter, Plot, Utterance
from tests.test_litchartom_fakes import (
    GOLD_MARK,
    ScriptedLLM,
    litchartom_responder,
    make_play,
)

BELIEF = DIMENSIONS["belief"]


def _step():
    work = make_play([[("LEAR", "Where is my daughter Goneril?"), ("KENT", "Here, my liege.")],
                      [("LEAR", "I will ride to Dover."), ("KENT", "The storm is fierce.")]])
    plot = Plot(work_id=work.id, index=0, chunk_index=0, section_ids=("1.1",), span=work.sections[0].span,
                summary="Lear looks for Goneril.", scenario="The hall.",
                key_characters=(KeyCharacter("lear", "Lear", "speaker"), KeyCharacter("kent", "Kent", "speaker")),
                conversation=tuple(Utterance(t.speaker, t.label.title(), t.text, t.span, "source", t.id)
                                   for t in work.turns[:2]), anchors=("Where", "Here"))
    return Timestep(work=work, character_id="lear", plot=plot, earlier=(), held_out=False), FutureLeakCheck(work.text)


def test_a_checker_miss_regenerates_with_a_new_sample_and_then_accepts():
    step, leak = _step()
    llm = ScriptedLLM(litchartom_responder())
    judge = ScriptedLLM(litchartom_responder(checker_right=lambda request: request.sample >= 1))
    result = asyncio.run(checked_question(llm, judge, step, BELIEF, leak, attempts=3))
    assert result.accepted and result.draft.sample == 1
    assert [c.sample for c in llm.calls] == [0, 1] and [c.sample for c in judge.calls] == [0, 1]
    assert result.attempts[0]["outcome"] == "blind check failed" and result.attempts[1]["outcome"] == "accepted"
    assert result.counts == {"question drafts": 2, "blind checks": 2, "blind checks passed": 1}


def test_the_checker_never_sees_the_reasoning_and_sees_the_gold_where_the_seeded_order_puts_it():
    step, leak = _step()
    judge = ScriptedLLM(litchartom_responder())
    asyncio.run(checked_question(ScriptedLLM(litchartom_responder()), judge, step, BELIEF, leak))
    prompt = judge.calls[0].messages[0]["content"]
    assert "The conversation shows it plainly" not in prompt
    options = [line for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
    gold_letter = "ABCD"[checker_order(f"{step.key}|belief", 0).index(0)]
    assert next(o[0] for o in options if GOLD_MARK in o) == gold_letter
    assert {checker_order(f"k{i}", 0).index(0) for i in range(40)} == {0, 1, 2, 3}  # not always first


def test_after_the_last_attempt_the_question_is_rejected_with_every_reason():
    step, leak = _step()
    llm = ScriptedLLM(litchartom_responder())
    judge = ScriptedLLM(litchartom_responder(checker_right=lambda request: False))
    result = asyncio.run(checked_question(llm, judge, step, BELIEF, leak, attempts=3))
    assert not result.accepted and len(llm.calls) == 3
    assert result.reasons().count("blind answer") == 3


def test_failed_requests_count_as_attempts():
    step, leak = _step()
    llm = ScriptedLLM(lambda request: None)
    result = asyncio.run(checked_question(llm, ScriptedLLM(litchartom_responder()), step, BELIEF, leak, attempts=2))
    assert not result.accepted and [a["outcome"] for a in result.attempts] == ["request failed"] * 2


def _draft(**changes) -> Draft:
    base = Draft(dimension=BELIEF, scenario="s", question="What does Lear believe about Goneril?",
                 answer="Lear believes Goneril loves him dearly", distractors=(
                     "Lear believes Kent plots against him now", "Lear believes the storm will pass soon",
                     "Lear believes his crown is lost forever"),
                 distractor_types=("wrong text", "wrong person", "wrong text"), reasoning="r", sample=0, provenance={})
    return replace(base, **changes)


def test_program_checks_on_drafts():
    step, leak = _step()
    assert draft_problem(_draft(), step, leak) is None
    same = _draft(distractors=("Lear believes goneril loves him dearly.", "Lear believes x y z w", "Lear believes a b c d"))
    assert draft_problem(same, step, leak) == "options are not distinct"
    flipped = _draft(answer="Lear believes Goneril is loyal to him",
                     distractors=("Lear believes Goneril is not loyal to him", "Lear believes x y z w",
                                  "Lear believes a b c d"))
    assert "negation" in draft_problem(flipped, step, leak)
    long = _draft(distractors=("Lear believes " + "very " * 20 + "much", "Lear believes x y z w", "Lear believes a b c d"))
    assert "lengths" in draft_problem(long, step, leak)
    future = _draft(answer="Lear believes Dover is a safe place")
    assert "future leakage: Dover" in draft_problem(future, step, leak)
    leaky = _draft(question="What does Lear believe, given that Goneril loves him dearly?")
    assert draft_problem(leaky, step, leak) == "the question contains the answer"
    reframed = _draft(answer="Kent believes Goneril loves him dearly")
    assert draft_problem(reframed, step, leak).startswith("frame")


def test_draft_schema_fixes_the_frame_of_question_and_options():
    schema = draft_schema("Mrs. Bennet", DIMENSIONS["intention"])
    assert llamacpp_schema(schema) == schema  # fully anchored: the grammar enforces these exact patterns
    # llama.cpp rejects "\\ " (re.escape's escaped space) and then accepts ANY string: no escapes at all
    patterns = [node["pattern"] for node in schema["properties"].values() if "pattern" in node]
    assert len(patterns) == 7 and not any("\\" in pattern for pattern in patterns)
    good = {"scenario": "At Longbourn, after the ball.", "question": "What does Mrs. Bennet intend to do next?",
            "answer": "Mrs. Bennet intends to marry Jane to Bingley",
            "wrong_1": "Mrs. Bennet intends to sell the house soon",
            "wrong_2": "Mrs. Bennet intends to go to London alone",
            "wrong_3": "Mrs. Bennet intends to stay silent all evening",
            "reasoning": "She speaks of nothing but Bingley."}
    validate(good, schema)
    for field, value in (("answer", "Mr. Bennet intends to hide from his wife"),  # another character
                         ("question", "Why does Mrs. Bennet shout"),  # another frame
                         ("answer", "Mrs. Bennet intends to wed"),  # too short to compare lengths with
                         ("answer", "Mrs. Bennet intends to " + "go " * 9 + "away"),  # too long
                         ("wrong_1", "Mrs. Bennet intends to see [Jane](https://x.y) at 10"),  # markup, digits
                         ("reasoning", "")):
        try:
            validate({**good, field: value}, schema)
        except ValueError:
            continue
        raise AssertionError(f"{field}={value!r} passed the schema")
