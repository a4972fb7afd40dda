"""The wording rule: generated triples and options must be written in words the source uses."""

from __future__ import annotations

from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.triple_step import validate_pairs
from builders.litchartom.wording import SourceVocabulary, Wording
from tests.test_litchartom_fakes import make_play
from tests.test_litchartom_triples import _step

TEXT = "Lear loves his daughters. He feels anger at Goneril's words and fears the storm. Kent's loyalty is plain."


def test_plain_words_of_the_source_pass_and_gibberish_does_not():
    vocabulary = SourceVocabulary(TEXT)
    assert vocabulary.problem("anger at his daughters") is None  # "daughters" and "Goneril's" are stemmed
    assert vocabulary.problem("fears Goneril and the storm") is None
    assert vocabulary.unknown("Desirat d'adoption des amis") == ["desirat", "d'adoption", "des", "amis"]
    assert vocabulary.problem("Desirat d'adoption des amis pour le ciel").startswith("words the source never uses")
    # one unknown word is tolerated (a plain word the source happens not to use, a misspelt name), and
    # up to one word in four; more are not
    assert vocabulary.problem("anger at his betrayal") is None
    assert vocabulary.problem("Lear's downfall") is None
    assert vocabulary.problem("anger at kedonarielgerman betrayal") is not None


def test_triple_validation_applies_the_wording_rule_after_the_others():
    work = make_play([[("LEAR", "I feel anger at my daughters."), ("KENT", "Be patient, my liege.")]])
    pairs = [{"relation": "Feels", "object": "anger at his daughters"},
             {"relation": "Desires", "object": "adoption des amis pour le ciel"}]
    triples, problems = validate_pairs(pairs, _step(work, 0), FutureLeakCheck(work.text),
                                       Wording(SourceVocabulary(work.text)))
    assert [t.object for t in triples] == ["anger at his daughters"]
    assert problems == ["triple rejected: words the source never uses: adoption, des, amis, pour, le"]


def test_looping_and_unfinished_text_is_refused():
    from builders.litchartom.wording import repetition_problem, unfinished_problem

    assert repetition_problem("he is mortal, he is mortal, he believes") == "repeats itself: 'he is mortal' twice"
    assert repetition_problem("Believes that, and Believes that") == "repeats itself: 'believes that' twice"
    assert repetition_problem("the king gave the crown to the heir of the realm") is None  # 'of the', 'the' recur
    summary = ("King Lear divides the kingdom between his daughters in the hall. King Lear banishes Kent, who "
               "warns him in the presence of the whole court.")
    assert repetition_problem(summary) is None  # longer prose repeats names and 'in the' naturally
    assert repetition_problem(summary + " King of France, King of France.") is not None
    assert unfinished_problem("his life is worth the death of") == "unfinished: ends on 'of'"
    assert unfinished_problem("to keep the crown") is None


def test_triple_objects_that_loop_or_echo_the_relation_are_dropped():
    work = make_play([[("LEAR", "I feel anger at my daughters, and I believe that Kent is true."),
                       ("KENT", "Be patient, my liege.")]])
    pairs = [{"relation": "Believes", "object": "Believes that Kent is true"},
             {"relation": "BelievesThat", "object": "Believes that, Believes that, believes"},
             {"relation": "Feels", "object": "anger at my daughters, anger at my daughters"},
             {"relation": "FeelsTowards", "object": "anger at his daughters"}]
    triples, problems = validate_pairs(pairs, _step(work, 0), FutureLeakCheck(work.text),
                                       Wording(SourceVocabulary(work.text)))
    assert [t.object for t in triples] == ["Kent is true", "anger at his daughters"]  # the echo is dropped
    assert problems == ["triple rejected: object of BelievesThat must have 1-15 words, got 0",
                        "triple rejected: repeats itself: 'anger at my' twice"]
