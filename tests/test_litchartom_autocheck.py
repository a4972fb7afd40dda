"""Gold drafts and the auto-check loop: bounded redrafting on program checks, distractors from the
work's other golds, the blind answer, another distractor set after a miss, rejection with reasons;
and the program checks on drafts (frame, leakage, answer in the question)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from builders.litchartom.autocheck import assemble, checker_order, draft_gold
from builders.litchartom.contract import Contract
from builders.litchartom.distractors import Gold
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.questions import Draft, draft_problem, draft_schema
from builders.litchartom.timesteps import Timestep
from builders.litchartom.vocab import DIMENSIONS
from builders.llm.structured import llamacpp_schema, validate
from builders.scenes.plots import KeyCharacter, Plot, Utterance
from tests.test_litchartom_fakes import (
    RESPONDER_WORDS,
    SCRIPTED_LITCHARTOM,
    ScriptedLLM,
    is_gold,
    litchartom_responder,
    make_play,
)

BELIEF = DIMENSIONS["belief"]
NAMES = ("LEAR", "KENT", "GONERIL", "EDGAR")
STRICT = Contract.of(SCRIPTED_LITCHARTOM)
RATIO = STRICT.option_length_ratio


def _steps():
    """Four characters in one plot (the last line speaks every word the responder writes), plus
    a later scene that names Dover for the first time."""
    work = make_play([[*((n, f"Where is my daughter, {n.title()}?") for n in NAMES), ("LEAR", RESPONDER_WORDS)],
                      [("LEAR", "I will ride to Dover."), ("KENT", "The storm is fierce.")]])
    first = work.turns[:5]
    plot = Plot(work_id=work.id, index=0, chunk_index=0, section_ids=("1.1",), span=work.sections[0].span,
                summary="Lear looks for Goneril.", scenario="The hall.",
                key_characters=tuple(KeyCharacter(n.lower(), n.title(), "speaker") for n in NAMES),
                conversation=tuple(Utterance(t.speaker, t.label.title(), t.text, t.span, "source", t.id)
                                   for t in first), anchors=("Where", "Lear"))
    steps = [Timestep(work=work, character_id=n.lower(), plot=plot, earlier=(), held_out=False) for n in NAMES]
    return steps, FutureLeakCheck(work.text)


def _golds(steps, leak, llm=None):
    llm = llm or ScriptedLLM(litchartom_responder())
    questions = [asyncio.run(draft_gold(llm, step, BELIEF, leak)) for step in steps]
    return questions, [Gold(step, q.draft) for step, q in zip(steps, questions)]


def test_a_gold_is_drafted_once_when_it_passes_the_program_checks():
    steps, leak = _steps()
    llm = ScriptedLLM(litchartom_responder())
    question = asyncio.run(draft_gold(llm, steps[0], BELIEF, leak, attempts=3))
    assert question.draft is not None and not question.accepted  # no distractors yet
    assert len(llm.calls) == 1 and question.counts == {"question drafts": 1}
    assert llm.calls[0].repeat_penalty == 1.0  # the server's penalty pushed the model off the source's words
    assert "wrong_1" not in llm.calls[0].schema["properties"]


def test_drafts_failing_program_checks_are_redrafted_then_rejected_with_reasons():
    steps, leak = _steps()

    def dover(request):  # every draft names Dover, which the source mentions only in the next scene
        reply = litchartom_responder()(request)
        return {**reply, "answer": reply["answer"] + " at Dover"}

    llm = ScriptedLLM(dover)
    question = asyncio.run(draft_gold(llm, steps[0], BELIEF, leak, attempts=2))
    assert question.draft is None and [c.sample for c in llm.calls] == [0, 1]
    assert question.reasons().count("future leakage: Dover") == 2
    assert question.counts == {"question drafts": 2, "drafts failing program checks": 2}
    failing = ScriptedLLM(lambda request: None)
    question = asyncio.run(draft_gold(failing, steps[0], BELIEF, leak, attempts=2))
    assert question.draft is None and [a["outcome"] for a in question.attempts] == ["request failed"] * 2


def test_distractors_are_the_other_characters_golds_reframed_and_the_checker_must_recover_the_gold():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    judge = ScriptedLLM(litchartom_responder())
    question = asyncio.run(assemble(questions[0], steps[0], pool, leak, judge, max_ratio=RATIO))
    assert question.accepted and question.counts["blind checks passed"] == 1
    others = {q.draft.answer.removeprefix(f"{s.character} believes ") for s, q in zip(steps[1:], questions[1:])}
    assert {d.text.removeprefix("Lear believes ") for d in question.distractors} <= others
    assert all(d.text.startswith("Lear believes ") and d.kind == "other character" for d in question.distractors)
    prompt = judge.calls[0].messages[0]["content"]
    assert "The conversation shows it plainly" not in prompt  # never the reasoning
    options = [line for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
    gold_letter = "ABCD"[checker_order(f"{steps[0].key}|belief", 0).index(0)]
    assert [o[0] for o in options if is_gold(prompt, o[3:])] == [gold_letter]
    assert {checker_order(f"k{i}", 0).index(0) for i in range(40)} == {0, 1, 2, 3}  # not always first


def test_a_checker_miss_tries_another_distractor_set_and_after_the_last_the_question_is_rejected():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    never = ScriptedLLM(litchartom_responder(checker_right=lambda request: False))
    question = asyncio.run(assemble(questions[0], steps[0], pool, leak, never, max_ratio=RATIO, attempts=3))
    assert not question.accepted
    # 3 other golds make one set; once the checker picked one of them, no second set exists
    assert len(never.calls) == 1 and "blind answer" in question.reasons()
    assert "only 2 usable distractors" in question.reasons() and "picked by the checker earlier (1)" in question.reasons()
    # at a later plot the same four characters, plus Kent's gold of plot 0: a second set exists
    second = ScriptedLLM(litchartom_responder(checker_right=lambda request: request.sample >= 1))
    later = replace(steps[0].plot, index=1, summary="Kent waits in the storm.")  # same span: no new names
    at_later = [replace(step, plot=later) for step in steps]
    questions, pool = _golds(at_later, leak)
    question = asyncio.run(assemble(questions[0], at_later[0], pool + _golds([steps[1]], leak)[1], leak, second,
                                    max_ratio=RATIO, attempts=4))
    assert question.accepted and [c.sample for c in second.calls] == [0, 1]
    assert [d.kind for d in question.distractors].count("other plot") == 1  # the picked one was replaced


def test_golds_of_later_plots_are_never_distractors():
    steps, leak = _steps()
    later = replace(steps[0].plot, index=1, summary="Kent waits in the storm.")
    _, later_pool = _golds([replace(step, plot=later) for step in steps[1:]], leak)
    questions, pool = _golds(steps[:1], leak)
    question = asyncio.run(assemble(questions[0], steps[0], pool + later_pool, leak, None, max_ratio=RATIO))
    assert not question.accepted and "only 0 usable distractors" in question.reasons()


def test_without_a_checker_the_first_distractor_set_is_accepted_unchecked():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    question = asyncio.run(assemble(questions[0], steps[0], pool, leak, None, max_ratio=RATIO))
    assert question.accepted and question.attempts[-1]["outcome"] == "accepted unchecked"
    assert "blind checks" not in question.counts


def test_too_small_a_pool_rejects_the_question_with_a_reason():
    steps, leak = _steps()
    questions, pool = _golds(steps[:3], leak)
    question = asyncio.run(assemble(questions[0], steps[0], pool, leak, ScriptedLLM(litchartom_responder()), max_ratio=RATIO))
    assert not question.accepted and "only 2 usable distractors" in question.reasons()


def _draft(**changes) -> Draft:
    base = Draft(dimension=BELIEF, scenario="s", question="What does Lear believe about Goneril?",
                 answer="Lear believes Goneril loves him dearly", reasoning="r", sample=0, provenance={})
    return replace(base, **changes)


def test_program_checks_on_drafts():
    steps, leak = _steps()
    step = steps[0]
    assert draft_problem(_draft(), step, leak) is None
    future = _draft(answer="Lear believes Dover is a safe place")
    assert "future leakage: Dover" in draft_problem(future, step, leak)
    leaky = _draft(question="What does Lear believe, given that Goneril loves him dearly?")
    assert draft_problem(leaky, step, leak) == "the question contains the answer"
    reframed = _draft(answer="Kent believes Goneril loves him dearly")
    assert draft_problem(reframed, step, leak).startswith("frame")
    assert draft_problem(_draft(answer="Lear believes "), step, leak) is not None


def test_draft_schema_fixes_the_frame_of_question_and_answer():
    schema = draft_schema("Mrs. Bennet", DIMENSIONS["intention"], STRICT)
    assert llamacpp_schema(schema) == schema  # fully anchored: the grammar enforces these exact patterns
    # llama.cpp rejects "\\ " (re.escape's escaped space) and then accepts ANY string: no escapes at all
    patterns = [node["pattern"] for node in schema["properties"].values() if "pattern" in node]
    assert len(patterns) == 4 and not any("\\" in pattern for pattern in patterns)
    good = {"scenario": "At Longbourn, after the ball.", "question": "What does Mrs. Bennet intend to do next?",
            "answer": "Mrs. Bennet intends to marry Jane to Bingley",
            "reasoning": "She speaks of nothing but Bingley."}
    validate(good, schema)
    for field, value in (("answer", "Mr. Bennet intends to hide from his wife"),  # another character
                         ("question", "Why does Mrs. Bennet shout"),  # another frame
                         ("answer", "Mrs. Bennet intends to wed"),  # too short to compare lengths with
                         ("answer", "Mrs. Bennet intends to " + "go " * 13 + "away"),  # too long
                         ("answer", "Mrs. Bennet intends to see [Jane](https://x.y) at 10"),  # markup, digits
                         ("reasoning", "")):
        try:
            validate({**good, field: value}, schema)
        except ValueError:
            continue
        raise AssertionError(f"{field}={value!r} passed the schema")
