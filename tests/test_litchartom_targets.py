"""A timestep's character speaks in its plot (issue 20: 3 of 20 records asked about a character the
plot only talks about). The scene layer's cast holds the characters the extractor named, some of
whom never speak there; they are no target at that plot, and do not count towards --min-plots."""

from __future__ import annotations

from builders.litchartom.timesteps import select_timesteps, takes_part
from builders.scenes.plots import KeyCharacter, Plot, Utterance
from tests.test_litchartom_fakes import make_play


def _plots(work, casts: list[tuple[str, ...]]) -> list[Plot]:
    """One plot per scene of `work`, its conversation the scene's turns, its cast `casts[i]` (model-named)."""
    plots = []
    for index, (section, cast) in enumerate(zip(work.sections, casts)):
        turns = [t for t in work.turns if t.section == section.id]
        plots.append(Plot(work_id=work.id, index=index, chunk_index=index, section_ids=(section.id,),
                          span=section.span, summary="s", scenario="c",
                          key_characters=tuple(KeyCharacter(c, work.characters[c].name, "model") for c in cast),
                          conversation=tuple(Utterance(t.speaker, t.label.title(), t.text, t.span, "source", t.id)
                                             for t in turns),
                          anchors=("a", "b")))
    return plots


def _work():
    # Cordelia speaks in the first scene only; Lear and Kent talk about her in the other two.
    return make_play([[("LEAR", "Speak, Cordelia."), ("CORDELIA", "Nothing, my lord."), ("KENT", "Good my liege.")],
                      [("LEAR", "Cordelia is gone."), ("KENT", "She loved you best.")],
                      [("LEAR", "Where is Cordelia now?"), ("KENT", "In France, my liege.")]])


def test_a_character_the_plot_only_names_takes_no_part_in_it():
    work = _work()
    plots = _plots(work, [("lear", "cordelia", "kent")] + [("lear", "kent", "cordelia")] * 2)
    assert takes_part(plots[0]) == ["lear", "cordelia", "kent"]
    assert takes_part(plots[1]) == ["lear", "kent"]  # named by the extractor, silent: no timestep here


def test_only_plots_a_character_speaks_in_are_its_timesteps_and_count_towards_min_plots():
    work = _work()
    plots = _plots(work, [("lear", "cordelia", "kent")] + [("lear", "kent", "cordelia")] * 2)
    timelines = select_timesteps(work, plots, min_plots=1, max_per_character=None)
    assert {c: [s.plot.index for s in steps] for c, steps in timelines.items()} == {
        "cordelia": [0], "kent": [0, 1, 2], "lear": [0, 1, 2]}
    # named in three plots but speaking in one: not a target when two are needed
    assert "cordelia" not in select_timesteps(work, plots, min_plots=2, max_per_character=None)
    for steps in timelines.values():
        for step in steps:
            assert step.character_id in {u.speaker_id for u in step.plot.conversation}
            assert all(step.character_id in {u.speaker_id for u in p.conversation} for p in step.earlier)


def test_a_build_asks_only_about_characters_with_lines_in_the_plot():
    """The scripted strict build over King Lear (tests/test_litchartom_strict_contract.py) names Lear,
    Kent, Gloucester and Edmund as the cast of every chunk; before the fix 12 of its 40 triple
    requests were about a character with no line in the conversation they showed."""
    from tests.test_litchartom_strict_contract import _strict_requests

    asked = [request.messages[-1]["content"] for request in _strict_requests() if request.step == "litchartom.triples"]
    assert asked
    for prompt in asked:
        character = prompt.split("Character: ", 1)[1].split(".\n", 1)[0]
        conversation = prompt.split("CONVERSATION:\n", 1)[1]
        assert any(line.startswith(f"{character}: ") for line in conversation.splitlines()), character
