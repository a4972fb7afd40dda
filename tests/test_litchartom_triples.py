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
from builders.scenes.plots import Plot
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
