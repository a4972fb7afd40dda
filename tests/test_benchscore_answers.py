"""Reading answers out of replies: letters in their many spellings, and option probabilities."""

from __future__ import annotations

import pytest

from benchscore.answers import parse_letter, parse_probabilities

OPTIONS = ["He thinks that she is angry.", "She feels relieved and grateful.", "He wants to leave early.",
           "They know the plan failed."]


@pytest.mark.parametrize("reply, letter", [
    ("[B]", "B"), ("(B)", "B"), ("B", "B"), ("b.", "B"), ("Answer: b", "B"), ("The answer is B", "B"),
    ("She feels relieved and grateful.", "B"),  # the option text itself
    ("**Answer:** C", "C"), ("Final answer: (d)", "D"), ("The correct option is A.", "A"),
    ("Let me think. [C] fits better than [A].", "C"),  # ToMATO reads the first bracketed letter
    ("A is wrong, B too... Answer: D", "D"),  # an explicit answer wins, the last one
    ("B. She feels relieved and grateful.", "B"),
    ("I think she feels relieved and grateful", "B"),
    ("Answer: B. Option A is wrong because he is calm.", "B"),  # a mention of an option is no answer
    ("I choose option c.", "C"), ("My choice: D", "D"),
])
def test_letters(reply, letter):
    assert parse_letter(reply, OPTIONS).letter == letter


@pytest.mark.parametrize("reply", [
    "", "I am not sure.", "A man would know.", "the answer is a tricky one", "[E]",
    "He thinks that she is angry, or he wants to leave early.",  # two options quoted: undecided
])
def test_unparseable_replies(reply):
    answer = parse_letter(reply, OPTIONS)
    assert answer.letter is None and answer.rule == "unparseable"


def test_a_stated_answer_that_is_no_option_is_unparseable_not_the_next_letter_mentioned():
    answer = parse_letter("The correct answer is [E]. The person chose option D.", OPTIONS)
    assert answer.letter is None and answer.rule == "answer E is no option"


def test_litchartom_options_are_matched_without_their_letter_prefix():
    options = ["A. He believes the crown is heavy", "B. He believes the storm will pass"]
    assert parse_letter("he believes the storm will pass", options, "AB").letter == "B"


def test_probabilities_last_object_fenced_lenient_and_renormalised():
    names = ["Lear", "Kent", "Goneril", "Edmund"]
    parsed = parse_probabilities('{"Lear": 1}\nOn reflection:\n```json\n{"lear": 0.5, " KENT ": 0.3,}\n```', names)
    assert parsed.values == pytest.approx({"Lear": 0.625, "Kent": 0.375, "Goneril": 0.0, "Edmund": 0.0})
    assert parsed.problem.startswith("renormalised")
    assert parse_probabilities("{'Lear': 0.6, 'Kent': 0.4}", names).values["Lear"] == 0.6


@pytest.mark.parametrize("reply, problem", [
    ("no json here", "no JSON object"), ('{"Cordelia": 1.0}', "keys that are not options"),
    ('{"Lear": "high"}', "not a number"), ('{"Lear": 0, "Kent": 0}', "sum to 0"), ("{}", "names no option"),
])
def test_unreadable_probabilities(reply, problem):
    parsed = parse_probabilities(reply, ["Lear", "Kent"])
    assert parsed.values is None and problem in parsed.problem
