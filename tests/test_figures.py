"""A release's figures next to the original's: the length check against a point or a range."""

from builders.figures import Figure, mean, share, words


def test_a_length_figure_is_checked_within_twenty_percent_of_the_original():
    assert Figure("option words", 24.0, 24.7, "24.7", kind="length").within_tolerance is True
    assert Figure("option words", 17.9, 24.7, "24.7", kind="length").within_tolerance is False
    assert Figure("option words", 30.0, 24.7, "24.7", kind="length").within_tolerance is False
    assert Figure("FB share", 0.3, 0.149, "14.9%", kind="share").within_tolerance is None


def test_a_published_range_is_widened_by_the_tolerance():
    profile = dict(name="profile words", original=None, original_text="150-400", kind="length",
                   original_range=(150, 400))
    assert Figure(value=125, **profile).within_tolerance is True
    assert Figure(value=110, **profile).within_tolerance is False
    assert Figure(value=470, **profile).within_tolerance is True
    assert Figure(value=490, **profile).within_tolerance is False
    assert Figure(value=None, **profile).within_tolerance is None
    assert Figure(value=200, **profile).as_dict()["original_range"] == [150, 400]


def test_helpers():
    assert words("I feel — fine, Zoë’s £40") == 6
    assert mean([1, 2]) == 1.5 and mean([]) is None
    assert share([True, False, False, True]) == 0.5 and share([]) is None
