"""The no-future-leakage rule on names: only names the source first uses after the plot leak."""

from __future__ import annotations

from builders.litchartom.leakage import FutureLeakCheck

TEXT = ("Lear speaks to Goneril. that is all. The king rages.\n"  # plot 0 ends here (offset 52)
        "That night Lear rides to Dover with Gloucester. The Duty of a daughter.")


def test_names_first_used_later_leak_and_common_words_do_not():
    check = FutureLeakCheck(TEXT)
    end_of_plot_0 = TEXT.index("\n")
    assert check.leaks("Lear fears Goneril", until=end_of_plot_0) == []
    assert check.leaks("Lear rides to Dover with Gloucester", until=end_of_plot_0) == ["Dover", "Gloucester"]
    assert check.leaks("That is his duty", until=end_of_plot_0) == []  # "that" is written in lower case too
    assert check.leaks("Lear rides to Dover", until=len(TEXT)) == []  # by the last plot it is known
    assert check.leaks("Cordelia weeps", until=end_of_plot_0) == []  # never in the source: not a leak


def test_a_qualifier_naming_a_later_character_leaks_in_triple_validation():
    from builders.litchartom.triple_step import validate_pairs
    from tests.test_litchartom_fakes import make_play
    from tests.test_litchartom_triples import _step

    work = make_play([[("LEAR", "Where is Goneril?"), ("KENT", "Here.")],
                      [("LEAR", "Send for Edgar."), ("KENT", "He comes.")]])
    triples, problems = validate_pairs([{"relation": "FeelsTowardsEdgar", "object": "suspicion"},
                                        {"relation": "FeelsThat", "object": "his daughters wrong him"}],
                                       _step(work, 0), FutureLeakCheck(work.text))
    assert [t.relation for t in triples] == ["FeelsThat"]
    assert problems == ["triple rejected: future leakage: Edgar first appear after plot 0"]


def test_words_of_the_title_are_known_from_the_start():
    text = "Winterbourne met a small boy in the garden.\nThen Daisy Miller came down the path."
    end_of_plot_0 = text.index("\n")
    assert FutureLeakCheck(text).leaks("Daisy Miller is near", until=end_of_plot_0) == ["Daisy", "Miller"]
    assert FutureLeakCheck(text, title="Daisy Miller").leaks("Daisy Miller is near", until=end_of_plot_0) == []
    assert FutureLeakCheck(text, title="Daisy Miller").leaks("Winterbourne sees Daisy", until=0) == ["Winterbourne"]
