"""Plain-text `NAME: words` scripts."""

from __future__ import annotations

import pytest

from builders.sources import SourceError
from builders.sources.plaintext import load_script

SCRIPT = """# The Kitchen

ACT I
SCENE 1. A kitchen.
[A kitchen. Enter ANNA.]
ANNA: Where is everyone?
I thought they'd be back.
BEN: [laughing] Out. [Beat.] All of them.
Anna: Fine.

SCENE 2
(Night.)
BEN: Goodnight.
ANNA & BEN: Goodnight!
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "kitchen.txt"
    path.write_text(SCRIPT.replace("\n", "\r\n"), encoding="utf-8")
    return load_script(path)


def test_speakers_turns_and_continuations(script):
    assert script.kind == "script" and script.title == "The Kitchen" and script.id == "script-kitchen"
    assert [turn.speaker for turn in script.turns] == ["anna", "ben", "anna", "ben", "anna-ben"]
    assert script.turns[0].text == "Where is everyone?\nI thought they'd be back."
    assert script.characters["anna"].aliases == ("ANNA",)  # "ANNA" and "Anna" are one person
    assert script.characters["anna-ben"].category == "joint"
    assert len(script.speaker_lines("anna")) == 2


def test_directions_are_not_speech(script):
    ben = script.turns[1]
    assert ben.text == "Out. All of them."
    assert ben.directions == ("laughing", "Beat.")
    assert [d.text for d in script.directions] == ["A kitchen. Enter ANNA.", "Night."]
    for direction in script.directions:
        assert script.text[direction.span[0] : direction.span[1]] == direction.text


def test_sections_and_spans(script):
    assert [(s.id, s.title) for s in script.sections] == [("1.1", "ACT I, SCENE 1. A kitchen."), ("1.2", "ACT I, SCENE 2")]
    assert [turn.id for turn in script.turns] == ["1.1.1", "1.1.2", "1.1.3", "1.2.1", "1.2.2"]
    assert "\r" not in script.text
    for turn in script.turns:
        if not turn.directions:
            assert script.text[turn.span[0] : turn.span[1]] == turn.text


def test_bad_scripts_raise_source_error(tmp_path):
    with pytest.raises(SourceError, match="file not found"):
        load_script(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SourceError, match="empty"):
        load_script(empty)
    prose = tmp_path / "prose.txt"
    prose.write_text("Once upon a time\nthere was no dialogue.\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no speaker lines found.*Fix:"):
        load_script(prose)
