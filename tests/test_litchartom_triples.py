"""Triple parsing, the closed relation vocabulary, validation of model pairs and the update ops."""

from __future__ import annotations

import pytest

from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.timesteps import Timestep
from builders.litchartom.triple_step import validate_pairs
from builders.litchartom.triples import (
    TripleError,
    format_triple,
    link_to_previous,
    make_triple,
    parse_triple,
)
from builders.litchartom.vocab import BASE_RELATIONS, split_relation
from builders.scenes.plots import KeyCharacter, Plot
from tests.test_litchartom_fakes import make_play


def test_parse_splits_on_the_first_two_separators_only():
    assert parse_triple("(King Lear, IntendsTo, divide the kingdom, fairly, among three)") == (
        "King Lear", "IntendsTo", "divide the kingdom, fairly, among three")
    for bad in ("King Lear, IntendsTo, x", "(King Lear, Intends To, x)", "(King Lear IntendsTo)"):
        with pytest.raises(TripleError):
            parse_triple(bad)


def test_relations_split_by_the_longest_base_prefix():
    assert split_relation("BelievesAboutCordelia") == ("BelievesAbout", "Cordelia")
    assert split_relation("DesiresToKnowTheTruth") == ("DesiresToKnow", "TheTruth")
    assert split_relation("DesiresToHear") == ("DesiresTo", "Hear")
    assert split_relation("Feels") == ("Feels", "")
    assert split_relation("LovesCordelia") is None
    assert len(BASE_RELATIONS) == 12


@pytest.mark.parametrize("relation, problem", [
    ("LovesCordelia", "out of vocabulary"),
    ("Hopes", "out of vocabulary"),
    ("FeelsTowardsthe", "qualifier"),
    ("BelievesAboutTheOldKingHimself", "qualifier"),  # four qualifier words
])
def test_out_of_vocabulary_relations_and_bad_qualifiers_are_rejected(relation, problem):
    with pytest.raises(TripleError, match=problem):
        make_triple("Lear", relation, "his daughters", 0, character="Lear")


def test_subject_must_be_the_character_or_an_alias_and_is_normalised():
    triple = make_triple("LEAR", "FeelsTowardsCordelia", "  rising anger.  ", 4, character="Lear",
                         subject_names=("LEAR", "King Lear"))
    assert (triple.subject, triple.base_relation, triple.qualifier, triple.dimension, triple.object,
            triple.plot_index) == ("Lear", "FeelsTowards", "Cordelia", "emotion", "rising anger", 4)
    assert format_triple(triple) == "(Lear, FeelsTowardsCordelia, rising anger)"
    with pytest.raises(TripleError, match="not the target"):
        make_triple("Kent", "Feels", "loyal", 0, character="Lear")
    with pytest.raises(TripleError, match="1-15 words"):
        make_triple("Lear", "Feels", " ".join(["very"] * 16), 0, character="Lear")


def test_update_ops_kept_revised_new_and_retired():
    old = [make_triple("Lear", r, o, 1, character="Lear") for r, o in
           [("FeelsTowardsCordelia", "love"), ("IntendsTo", "divide the kingdom"), ("BelievesThat", "Goneril loves him")]]
    new = [make_triple("Lear", r, o, 3, character="Lear") for r, o in
           [("FeelsTowardsCordelia", "Love"), ("IntendsTo", "stay with Regan"), ("Desires", "rest")]]
    linked, retired = link_to_previous(new, old)
    assert [t.op for t in linked] == ["kept", "revised", "new"]
    assert [(t.relation, t.op, t.plot_index) for t in retired] == [("BelievesThat", "retired", 3)]


def _step(work, plot_index: int) -> Timestep:
    plots = [Plot(work_id=work.id, index=i, chunk_index=i, section_ids=(s.id,), span=s.span, summary="s",
                  scenario="c", key_characters=(), conversation=(), anchors=("a", "b"))
             for i, s in enumerate(work.sections)]
    return Timestep(work=work, character_id="lear", plot=plots[plot_index], earlier=(), held_out=False)


def test_validation_drops_invalid_pairs_and_names_first_seen_in_later_plots():
    work = make_play([[("LEAR", "Where is my daughter Goneril?"), ("KENT", "Here, my liege.")],
                      [("LEAR", "I will ride to Dover with Gloucester."), ("KENT", "The storm is fierce.")]])
    leak_check = FutureLeakCheck(work.text)
    pairs = [{"relation": "DesiresTo", "object": "see Goneril"},
             {"relation": "IntendsTo", "object": "ride to Dover"},  # Dover first appears in plot 1
             {"relation": "Hates", "object": "Kent"},
             {"relation": "DesiresTo", "object": "See goneril"}]  # duplicate up to case
    triples, problems = validate_pairs(pairs, _step(work, 0), leak_check)
    assert [t.object for t in triples] == ["see Goneril"]
    assert any("future leakage: Dover" in p for p in problems)
    assert any("out of vocabulary" in p for p in problems)
    later, problems = validate_pairs(pairs[:2], _step(work, 1), leak_check)
    assert [t.object for t in later] == ["see Goneril", "ride to Dover"] and problems == []


# -- the per-dimension triple requests -------------------------------------------------------------

def _cast_step(work) -> Timestep:
    from builders.scenes.plots import KeyCharacter, Utterance

    section = work.sections[0]
    turns = [t for t in work.turns if t.section == section.id]
    plot = Plot(work_id=work.id, index=0, chunk_index=0, section_ids=(section.id,), span=section.span, summary="s",
                scenario="c", key_characters=(KeyCharacter("lear", "Lear", "speaker"),
                                              KeyCharacter("kent", "Kent", "model"),
                                              KeyCharacter(None, "A Stranger", "model")),
                conversation=tuple(Utterance(t.speaker, t.label.title(), t.text, t.span, "source", t.id) for t in turns),
                anchors=("a", "b"))
    return Timestep(work=work, character_id="lear", plot=plot, earlier=(), held_out=False)


def test_relation_choices_are_the_dimension_bases_plus_resolved_co_characters():
    from builders.litchartom.triple_step import relation_choices
    from builders.litchartom.vocab import DIMENSIONS

    step = _cast_step(make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]]))
    emotion = relation_choices(step, DIMENSIONS["emotion"])
    assert emotion == ["Feels", "FeelsAbout", "FeelsTowards", "FeelsTowardsKent"]  # not the target, not unresolved
    assert relation_choices(step, DIMENSIONS["intention"]) == ["Intends", "IntendsTo"]
    for dimension in DIMENSIONS.values():  # every choice is in the closed vocabulary, of its own dimension
        for relation in relation_choices(step, dimension):
            assert BASE_RELATIONS[split_relation(relation)[0]] == dimension.name


@pytest.mark.parametrize("obj, ok", [
    ("anger at his daughter", True), ("that Kent, his servant, is loyal", True), ("Cordelia's silence wounds him", True),
    ("", False), ("anger", False), ("two words", False), ("&#391; Cordelia weeps", False), ("see 1608 quarto", False),
    (" ".join(["very"] * 13), False), ("[KING](https://x.y) lear", False),
])
def test_the_object_pattern_admits_three_to_twelve_plain_words(obj, ok):
    from builders.litchartom.contract import Contract
    from builders.litchartom.triple_step import relation_choices, triple_schema
    from builders.litchartom.vocab import DIMENSIONS
    from builders.llm.structured import llamacpp_schema, validate
    from tests.test_litchartom_fakes import SCRIPTED_LITCHARTOM

    step = _cast_step(make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]]))
    schema = triple_schema(relation_choices(step, DIMENSIONS["emotion"]), Contract.of(SCRIPTED_LITCHARTOM))
    assert llamacpp_schema(schema) == schema  # already anchored: the grammar enforces exactly this pattern
    assert list(schema["properties"]) == ["object", "relation"]  # written object first: no relation name to echo
    try:
        validate({"relation": "Feels", "object": obj}, schema)
        assert ok
    except ValueError:
        assert not ok


def test_one_request_per_ask_and_only_a_failing_ask_is_re_asked():
    import asyncio

    from builders.litchartom.triple_step import generate_triples
    from tests.test_litchartom_fakes import ScriptedLLM

    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]])

    def respond(request):
        first = request.schema["properties"]["relation"]["enum"][0]
        if first == "Feels" and request.sample == 0:
            return {"relation": "Feels", "object": "1"}  # fails make_triple (no letters): re-asked
        return {"relation": first, "object": "something plain and clear here"}

    llm = ScriptedLLM(respond)
    outcome = asyncio.run(generate_triples(llm, _cast_step(work), [], FutureLeakCheck(work.text), attempts=2))
    assert [t.relation for t in outcome.triples] == ["BelievesThat", "BelievesAboutKent", "DesiresTo", "Feels",
                                                     "FeelsTowardsKent", "IntendsTo"]
    assert [(r.schema["properties"]["relation"]["enum"][0], r.sample) for r in llm.calls] == [
        ("BelievesThat", 0), ("BelievesAboutKent", 0), ("DesiresTo", 0), ("Feels", 0), ("Feels", 1),
        ("FeelsTowardsKent", 0), ("IntendsTo", 0)]
    assert outcome.attempts == 7 and any("emotion (sample 0)" in p for p in outcome.problems)


def test_a_timestep_with_fewer_than_three_valid_dimensions_fails_with_reasons():
    import asyncio

    from builders.litchartom.triple_step import generate_triples
    from tests.test_litchartom_fakes import ScriptedLLM

    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")], [("LEAR", "To Dover!"), ("KENT", "Aye.")]])

    def respond(request):
        first = request.schema["properties"]["relation"]["enum"][0]
        leaky = first.startswith(("Believes", "Desires"))  # Dover first appears in the next plot: a leak
        return {"relation": first, "object": "ride to Dover tonight" if leaky else "grief for his kingdom"}

    outcome = asyncio.run(generate_triples(ScriptedLLM(respond), _cast_step(work), [], FutureLeakCheck(work.text)))
    assert outcome.triples == []
    assert outcome.problems[-1] == "triple set too thin: 3 valid, 2 dimensions"
    assert sum("future leakage: Dover" in p for p in outcome.problems) == 6  # three asks x two attempts


# -- richer triples: varied relations, objects of 3-12 words, desires that are not "to know" ---------


def _lone_step(work) -> Timestep:
    """The cast step without any other resolved key character."""
    from dataclasses import replace

    step = _cast_step(work)
    return replace(step, plot=replace(step.plot, key_characters=step.plot.key_characters[:1]))


def test_the_strict_asks_vary_the_relation_by_the_plots_other_characters():
    from builders.litchartom.triple_step import strict_asks

    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege."), ("GONERIL", "Father."),
                       ("GONERIL", "Sir, I love you."), ("KENT", "Hear me.")]])
    step = _cast_step(work)
    step = Timestep(work=work, character_id="lear", held_out=False, earlier=(), plot=Plot(
        **{**step.plot.__dict__, "key_characters": (*step.plot.key_characters, KeyCharacter("goneril", "Goneril",
                                                                                            "speaker"))}))
    asks = strict_asks(step)
    assert [(a.label, a.relations[0]) for a in asks] == [
        ("belief", "BelievesThat"), ("belief about Kent", "BelievesAboutKent"), ("desire", "DesiresTo"),
        ("emotion", "Feels"), ("emotion about Goneril", "FeelsTowardsGoneril"), ("intention", "IntendsTo")]
    assert asks[1].ask == "What does Lear believe about Kent?" and asks[1].relations == ["BelievesAboutKent"]
    assert all("DesiresToKnow" not in a.relations for a in asks)
    lone = strict_asks(_lone_step(work))  # no other key character: the four general asks only
    assert [a.relations[0] for a in lone] == ["BelievesThat", "DesiresTo", "Feels", "IntendsTo"]


@pytest.mark.parametrize("relation, obj, problem", [
    ("Believes", "Believes that King Lear", "has 2 words (allowed 3-12)"),  # 3 words asked, 2 once the echo goes
    ("Desires", "to, Desires To Know", "repeats the relation name 'Desires'"),
    ("Feels", "Feelsabout, King Lear, his daughters", "repeats the relation name 'Feelsabout'"),
    ("Feels", "feelsabouttheme of the story", "repeats the relation name 'feelsabouttheme'"),
    ("Desires", "to know the truth of it", "a desire only to know"),
    ("DesiresTo", "find out what Kent means", "a desire only to know"),
    ("BelievesAboutKent", "Lear believes about Kent", "only restates the question"),
    ("Intends", "Lear's plans for himself", "only restates the question"),
    ("Feels", "Kent, the Kent", "only names characters"),
])
def test_objects_short_once_normalised_echoing_a_relation_or_the_ask_or_only_to_know_are_refused(relation, obj,
                                                                                                 problem):
    from builders.litchartom.triple_step import validate_pairs

    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]])
    triples, problems = validate_pairs([{"relation": relation, "object": obj}], _cast_step(work),
                                       FutureLeakCheck(work.text), object_words=(3, 12))
    assert triples == [] and len(problems) == 1 and problem in problems[0]


def test_a_desire_to_keep_something_and_prose_about_feelings_are_kept():
    from builders.litchartom.triple_step import validate_pairs

    work = make_play([[("LEAR", "Kent, speak."), ("KENT", "My liege.")]])
    pairs = [{"relation": "DesiresTo", "object": "keep the crown and his knights"},
             {"relation": "Believes", "object": "Kent feels about him as a son would"},
             {"relation": "DesiresToKnow", "object": "whether Kent is still loyal"}]
    triples, problems = validate_pairs(pairs, _cast_step(work), FutureLeakCheck(work.text), object_words=(3, 12))
    assert [t.relation for t in triples] == ["DesiresTo", "Believes"]
    assert len(problems) == 1 and "a desire only to know" in problems[0]
