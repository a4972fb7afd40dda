"""Plot extraction: anchors verified in the chunk, casts resolved through the alias registry,
verbatim source conversations, bounded re-asks, and the work-level numbering."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from builders.llm.structured import validate
from builders.scenes import (
    SceneContract,
    chunk_work,
    extract_chunk,
    extract_work,
    plot_schema,
)
from builders.scenes.plots import plots_from_reply
from builders.sources import Character, Section, Work
from tests.test_litchartom_fakes import SCRIPTED_LITCHARTOM, ScriptedLLM, make_play

STRICT = SceneContract.of(SCRIPTED_LITCHARTOM)  # the strict contract, up to three plots a chunk

SCENE = [("LEAR", "Tell me, my daughters, which of you shall we say doth love us most?"),
         ("GONERIL", "Sir, I love you more than words can wield the matter."),
         ("LEAR", "Of all these bounds, even from this line to this, we make thee lady."),
         ("CORDELIA", "What shall Cordelia speak? Love, and be silent."),
         ("LEAR", "What can you say to draw a third more opulent than your sisters? Speak."),
         ("CORDELIA", "Nothing, my lord."),
         ("LEAR", "Nothing will come of nothing: speak again.")]


def _plot_item(first: str, last: str, characters=("Lear",)) -> dict:
    return {"first_line": first, "last_line": last, "summary": "Lear asks his daughters to profess their love.",
            "scenario": "The court is assembled and the map is spread.", "characters": list(characters)}


def test_anchored_plot_gets_the_verbatim_source_turns_and_a_resolved_cast():
    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    item = _plot_item("Tell me, my daughters, which of you", "Nothing will come of nothing", ("LEAR", "Cordelia"))
    plots, problems = plots_from_reply(work, chunk, [item], min_turns=6, provenance={"request_hash": "r"})
    assert problems == []
    (plot,) = plots
    assert [u.text for u in plot.conversation] == [line for _, line in SCENE]
    assert all(u.attribution == "source" for u in plot.conversation)
    assert plot.character_ids()[:2] == ["lear", "cordelia"]  # the model's picks, resolved by alias
    assert "goneril" not in plot.character_ids()  # one turn only: not added as a key speaker
    assert work.text[plot.span[0]:plot.span[1]].startswith("Tell me, my daughters")


def test_plots_with_anchors_not_in_the_chunk_or_too_short_conversations_are_dropped_with_reasons():
    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    invented = _plot_item("Once upon a time in a faraway land", "Nothing will come of nothing")
    short = _plot_item("Tell me, my daughters, which of you", "Sir, I love you more than words")
    reversed_order = _plot_item("Nothing will come of nothing", "Tell me, my daughters, which of you")
    plots, problems = plots_from_reply(work, chunk, [invented, short, reversed_order], min_turns=3, provenance={})
    assert plots == []
    assert [p.split(":")[0] for p in problems] == ["anchor not found", "conversation too short", "anchor not found"]


def test_quotes_are_kept_only_when_found_in_the_text_for_works_without_speakers():
    text = ('"I am not afraid," said Elizabeth. Darcy bowed. "You should be," replied Darcy gravely, '
            '"for the road is long." Elizabeth laughed and walked on towards the house in the rain.')
    characters = {"e": Character(id="e", name="Elizabeth Bennet", aliases=("Elizabeth", "Lizzy")),
                  "d": Character(id="d", name="Mr. Darcy", aliases=("Darcy",))}
    work = Work(id="n", title="N", author="A", kind="novel", license="pd", source="t", text=text,
                characters=characters, turns=(), sections=(Section("ch1", "I", (0, len(text))),))
    chunk = chunk_work(work, max_chars=5000)[0]
    item = {**_plot_item('"I am not afraid," said Elizabeth', "walked on towards the house in the rain"),
            "quotes": [{"speaker": "Elizabeth", "text": "I am not afraid"},
                       {"speaker": "Darcy", "text": "You should be"},
                       {"speaker": "Darcy", "text": "We must marry at once"}]}
    plots, _ = plots_from_reply(work, chunk, [item], min_turns=2, provenance={})
    (plot,) = plots
    assert [(u.speaker_id, u.text, u.attribution) for u in plot.conversation] == [
        ("e", "I am not afraid", "model"), ("d", "You should be", "model")]


def test_schema_offers_only_the_chunk_names_and_bounds_the_strings():
    schema = plot_schema(["Lear", "Kent"], replace(STRICT, max_plots=2), with_quotes=False)
    validate({"plots": [_plot_item("Tell me, my daughters", "Nothing will come", ["Kent"])]}, schema)
    try:
        validate({"plots": [_plot_item("Tell me, my daughters", "Nothing will come", ["Edgar"])]}, schema)
    except ValueError as error:
        assert "characters" in str(error)
    else:
        raise AssertionError("a name outside the enum was accepted")


def test_a_reply_without_usable_plots_is_re_asked_with_a_new_sample_then_given_up():
    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    good = _plot_item("Tell me, my daughters, which of you", "Nothing will come of nothing")
    bad = _plot_item("Words that are nowhere in the play at all", "Nothing will come of nothing")

    llm = ScriptedLLM(lambda request: {"plots": [bad if request.sample == 0 else good]})
    result = asyncio.run(extract_chunk(llm, work, chunk, min_turns=6, attempts=2))
    assert [c.sample for c in llm.calls] == [0, 1] and len(result.plots) == 1 and result.attempts == 2
    assert [c.reask for c in llm.calls] == [False, True]  # the second ask is counted as a re-ask
    assert result.rejects[0]["reason"].startswith("anchor not found")

    stubborn = ScriptedLLM(lambda request: {"plots": [bad]})
    result = asyncio.run(extract_chunk(stubborn, work, chunk, min_turns=6, attempts=3))
    assert result.plots == [] and len(stubborn.calls) == 3 and len(result.rejects) == 3


def test_extract_work_numbers_plots_in_text_order_whatever_the_concurrency():
    scenes = [[(label, f"{line} (scene {s})") for label, line in SCENE] for s in range(4)]
    work = make_play(scenes, acts=[1, 2, 3, 4])

    def respond(request):
        prompt = request.messages[1]["content"]
        scene = prompt.split("(scene ")[1][0]
        return {"plots": [_plot_item(f"Tell me, my daughters, which of you shall we say doth love us most? (scene {scene})",
                                     f"Nothing will come of nothing: speak again. (scene {scene})")]}

    results = [asyncio.run(extract_work(ScriptedLLM(respond), work, max_chars=2000, concurrency=c, min_turns=6))
               for c in (1, 3)]
    for scenes_result in results:
        assert [p.index for p in scenes_result.plots] == [0, 1, 2, 3]
        assert [p.chunk_index for p in scenes_result.plots] == [0, 1, 2, 3]
        assert scenes_result.counts == {"scene chunks": 4, "scene extraction calls": 4, "plots anchored": 4}
    assert [p.span for p in results[0].plots] == [p.span for p in results[1].plots]


def test_small_chunks_offer_their_line_openings_as_anchor_choices():
    from builders.scenes.plots import anchor_choices

    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    choices = anchor_choices(chunk, STRICT.anchor_choices)
    assert choices[0] == "Tell me, my daughters, which of you shall we say"
    assert len(choices) == len(SCENE) and anchor_choices(chunk, len(SCENE) - 1) is None
    schema = plot_schema(["Lear"], replace(STRICT, max_plots=2), with_quotes=False, anchors=choices)
    item = schema["properties"]["plots"]["items"]["properties"]
    assert item["first_line"]["enum"] == choices and item["last_line"]["enum"] == choices[::-1]
    plots, problems = plots_from_reply(work, chunk, [_plot_item(choices[0], choices[-1])], min_turns=6, provenance={})
    assert problems == [] and len(plots[0].conversation) == len(SCENE)


def test_single_plot_mode_takes_the_whole_chunk_with_source_anchors():
    work = make_play([SCENE])
    chunk = chunk_work(work, max_chars=5000)[0]
    reply = {"summary": "Lear divides the kingdom.", "scenario": "The court is assembled.", "characters": ["Lear"]}
    llm = ScriptedLLM(lambda request: {"plots": [reply]})
    result = asyncio.run(extract_chunk(llm, work, chunk, contract=replace(STRICT, max_plots=1), min_turns=6))
    item_schema = llm.calls[0].schema["properties"]["plots"]["items"]
    assert "first_line" not in item_schema["properties"] and "first_line" not in llm.calls[0].messages[1]["content"]
    (plot,) = result.plots
    assert len(plot.conversation) == len(SCENE) and plot.anchors[0].startswith("Tell me, my daughters")


def test_summary_and_scenario_are_plain_prose_in_the_grammar():
    from builders.llm.structured import llamacpp_schema, validate

    schema = plot_schema(["Lear", "Kent"], replace(STRICT, max_plots=1), with_quotes=False)
    item = {"summary": "Lear divides his kingdom and banishes Kent.", "scenario": "The court, at the start of the play.",
            "characters": ["Lear"]}
    validate({"plots": [item]}, schema)
    for field, value in (("summary", "[*](https://www2cabellusa1875_com/assets/-C46F9) *(Scenes*)"),
                         ("scenario", "<i class=x>The hall</i> of the castle")):
        try:
            validate({"plots": [{**item, field: value}]}, schema)
        except ValueError:
            continue
        raise AssertionError(f"{field}={value!r} passed the schema")
    assert "pattern" in llamacpp_schema(schema)["properties"]["plots"]["items"]["properties"]["summary"]
