"""Gold drafts and the auto-check: bounded redrafting on program checks, distractors from the work's
other golds in closed blocks of four (spares of earlier plots filling a block), the blind answer,
rejection with reasons; and the program checks on drafts (frame, leakage, answer in the question)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from builders.litchartom.autocheck import (
    ANSWER_SCHEMA,
    assemble,
    checker_order,
    draft_gold,
)
from builders.litchartom.blocks import Compatibility, per_dimension
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


def _block(golds, leak, spares=()):
    return per_dimension(list(golds), list(spares), Compatibility(leak, RATIO))


def test_distractors_are_the_other_characters_golds_reframed_and_the_checker_must_recover_the_gold():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    blocks = _block(pool, leak)
    assert len(blocks.blocks) == 1 and blocks.blocks[0].questions == tuple(pool) and blocks.left == {}
    judge = ScriptedLLM(litchartom_responder())
    chosen = blocks.blocks[0].distractors(pool[0])
    question = asyncio.run(assemble(questions[0], steps[0], chosen, None, judge))
    assert question.accepted and question.counts["blind checks passed"] == 1
    others = {q.draft.answer.removeprefix(f"{s.character} believes ") for s, q in zip(steps[1:], questions[1:])}
    assert {d.text.removeprefix("Lear believes ") for d in question.distractors} == others
    assert all(d.text.startswith("Lear believes ") and d.kind == "other character" for d in question.distractors)
    assert judge.calls[0].schema == ANSWER_SCHEMA and judge.calls[0].temperature == 0.0  # the strict contract's
    prompt = judge.calls[0].messages[0]["content"]
    assert "The conversation shows it plainly" not in prompt  # never the reasoning
    options = [line for line in prompt.splitlines() if line[:3] in ("A. ", "B. ", "C. ", "D. ")]
    gold_letter = "ABCD"[checker_order(f"{steps[0].key}|belief", 0).index(0)]
    assert [o[0] for o in options if is_gold(prompt, o[3:])] == [gold_letter]
    assert {checker_order(f"k{i}", 0).index(0) for i in range(40)} == {0, 1, 2, 3}  # not always first


def test_every_question_of_a_block_shows_the_same_four_bodies():
    steps, leak = _steps()
    _, pool = _golds(steps, leak)
    block = _block(pool, leak).blocks[0]
    for gold in pool:
        shown = (d.text.removeprefix(f"{gold.step.character} believes ") for d in block.distractors(gold))
        bodies = {gold.body, *shown}
        assert bodies == {g.body for g in pool}


def test_a_checker_miss_rejects_the_question_and_no_other_set_is_tried():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    never = ScriptedLLM(litchartom_responder(checker_right=lambda request: False))
    chosen = _block(pool, leak).blocks[0].distractors(pool[0])
    question = asyncio.run(assemble(questions[0], steps[0], chosen, None, never))
    assert not question.accepted and len(never.calls) == 1 and "blind answer" in question.reasons()


def test_spares_of_earlier_plots_fill_a_block_and_a_later_gold_never_does():
    steps, leak = _steps()
    later = replace(steps[0].plot, index=1, summary="Kent waits in the storm.")  # same span: no new names
    at_later = [replace(step, plot=later) for step in steps]
    _, earlier = _golds(steps[:1], leak)  # Lear's gold of plot 0, never shown: a spare
    _, now = _golds(at_later[:3], leak)  # three golds at plot 1: one short of a block
    blocks = _block(now, leak, spares=earlier)
    assert len(blocks.blocks) == 1 and blocks.blocks[0].questions == tuple(now)
    kinds = {g.step.character: [d.kind for d in blocks.blocks[0].distractors(g)] for g in now}
    assert kinds["Lear"].count("earlier") == 1 and kinds["Kent"].count("other plot") == 1  # wrong time
    assert _block(now, leak).blocks == []  # without the spare: three golds make no block
    _, at_plot_0 = _golds(steps[:3], leak)  # a gold of a later plot is never a spare of an earlier one
    assert _block(at_plot_0, leak, spares=_golds(at_later[3:], leak)[1]).blocks == []


def test_without_a_checker_the_blocks_distractors_are_accepted_unchecked():
    steps, leak = _steps()
    questions, pool = _golds(steps, leak)
    chosen = _block(pool, leak).blocks[0].distractors(pool[0])
    question = asyncio.run(assemble(questions[0], steps[0], chosen, None, None))
    assert question.accepted and question.attempts[-1]["outcome"] == "accepted unchecked"
    assert "blind checks" not in question.counts


def test_too_few_golds_for_a_block_reject_the_question_with_a_reason():
    steps, leak = _steps()
    questions, pool = _golds(steps[:3], leak)
    blocks = _block(pool, leak)
    assert blocks.blocks == [] and len(blocks.left) == 3
    question = asyncio.run(assemble(questions[0], steps[0], None, blocks.left[id(pool[0])],
                                    ScriptedLLM(litchartom_responder())))
    assert not question.accepted and "no block of 4 compatible golds" in question.reasons()
    assert question.counts["questions without a block of four"] == 1


def test_a_question_whose_block_names_its_character_stays_out_and_its_gold_is_still_shown():
    steps, leak = _steps()
    _, pool = _golds(steps, leak)
    naming = replace(pool[1], draft=replace(pool[1].draft, answer=f"{pool[1].draft.answer} and Lear"))
    blocks = _block([pool[0], naming, *pool[2:]], leak)
    block = blocks.blocks[0]
    assert pool[0] not in block.questions and pool[0] in block.bodies  # "Lear believes ... Lear" is refused
    assert "names its character" in blocks.left[id(pool[0])]


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
