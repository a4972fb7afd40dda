"""Scene parsing and windowing (plays, scripts, PDNC quote groups) and the CoSER message format."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from builders.moral_roleplay.coser import (
    format_message,
    is_verbatim,
    spoken_part,
    strip_thoughts,
)
from builders.moral_roleplay.scenes import speaking_order, with_place_line
from builders.moral_roleplay.windows import (
    MAX_TURNS,
    MIN_TURNS,
    scenes_of,
    window_bounds,
)
from builders.sources import Character, Section, Turn, Work, plays
from builders.sources.plaintext import load_script


@pytest.mark.parametrize("count", [9, 10, 17, 18, 25, 32, 33, 47, 64, 65, 100, 250])
@pytest.mark.parametrize("target", [9, 12, 20, 32])
def test_windows_cover_every_speech_once_within_limits(count, target):
    bounds = window_bounds(count, target=target)
    assert bounds[0][0] == 0 and bounds[-1][1] == count
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(MIN_TURNS <= end - start <= MAX_TURNS for start, end in bounds)


def test_too_short_sections_give_no_window():
    assert window_bounds(8) == []


@pytest.fixture(scope="module")
def othello():
    return plays.load_play("othello")


def test_play_windows_keep_source_speeches_and_directions(othello):
    cut = scenes_of(othello)
    assert cut.scenes and all(MIN_TURNS <= len(s.speeches()) <= MAX_TURNS for s in cut.scenes)
    turn_text = {t.id: t.text for t in othello.turns}
    for scene in cut.scenes:
        for line in scene.speeches():
            assert line.text == turn_text[line.turn_id]  # verbatim, straight from the loader
        environment = [line for line in scene.lines if line.kind == "environment"]
        directions = {d.text for d in othello.directions if d.section == scene.section_id}
        assert all(line.text in directions for line in environment)
    first = cut.scenes[0]
    assert (first.book, first.i_p, first.i_c, first.case_key) == ("Othello", 0, 0, "Othello-0-0")
    assert first.lines[0].text == "Enter RODERIGO and IAGO"
    # windows of one section are numbered i_c = 0, 1, ... under one i_p
    keys = [(s.section_id, s.i_p, s.i_c) for s in cut.scenes]
    assert len({k[1:] for k in keys}) == len(keys)


def test_key_characters_are_named_speakers_with_two_speeches(othello):
    for scene in scenes_of(othello).scenes:
        speakers = [line.speaker_id for line in scene.speeches()]
        assert 1 <= len(scene.key_ids) <= 3
        for char_id in scene.key_ids:
            assert speakers.count(char_id) >= 2
            assert othello.characters[char_id].category not in ("generic", "collective", "joint")


def test_window_without_direction_opens_with_its_place(othello):
    scene = next(s for s in scenes_of(othello).scenes if not any(l.kind == "environment" for l in s.lines))
    lines = with_place_line(scene)
    assert lines[0].kind == "environment" and lines[0].text in scene.chapter


NARRATION = ("She turned to the window and watched the rain run down the glass for a long while. "
             "Nobody spoke. The fire had gone out.")


def _novel() -> Work:
    """Ten alternating quotes in chapter 1 with narration between them, one quote in chapter 2."""
    parts, turns = ["Chapter 1\n\n"], []

    def quote(turn_id, speaker, words, section):
        start = sum(map(len, parts)) + 1
        parts.append(f'"{words}" ')
        turns.append(Turn(id=turn_id, speaker=speaker, text=words, section=section, span=(start, start + len(words))))

    for i in range(10):
        quote(f"Q{i}", "anne" if i % 2 else "bob", f"Line {i} is spoken here.", "ch1")
        parts.append(NARRATION + " ")
    chapter_two = sum(map(len, parts))
    parts.append("\n\nChapter 2\n\n")
    quote("Q99", "bob", "Later words.", "ch2")
    text = "".join(parts)
    sections = (Section("ch1", "Chapter 1", (0, chapter_two)), Section("ch2", "Chapter 2", (chapter_two, len(text))))
    characters = {"anne": Character("anne", "Anne"), "bob": Character("bob", "Bob")}
    return Work(id="pdnc-Test", title="Test Novel", author="A", kind="novel", license="pd", source="memory",
                text=text, characters=characters, turns=tuple(turns), sections=sections)


def test_pdnc_quotes_group_at_chapter_breaks_and_narration_becomes_environment():
    novel = _novel()
    cut = scenes_of(novel)
    assert len(cut.scenes) == 1  # chapter 2's single quote is too short to be a scene
    scene = cut.scenes[0]
    assert scene.section_id == "ch1" and len(scene.speeches()) == len(novel.turns) - 1
    narration = [line for line in scene.lines if line.kind == "environment"]
    assert len(narration) == 9 and all(line.text == NARRATION for line in narration)
    assert all(novel.text[t.span[0]:t.span[1]] == t.text for t in novel.turns)


def test_pdnc_narration_gap_starts_a_new_scene():
    novel = _novel()
    assert len(scenes_of(novel, gap_chars=20).scenes) == 0  # every quote alone: no group reaches 9 quotes
    assert len(scenes_of(novel, gap_chars=len(NARRATION) + 5).scenes) == 1


def test_plain_text_script_windows(tmp_path):
    lines = ["# A Test", "## Scene 1", "[A kitchen. Enter ANNA and BEN.]"]
    lines += [f"{'ANNA' if i % 2 else 'BEN'}: line number {i}." for i in range(12)]
    path = tmp_path / "script.txt"
    path.write_text("\n".join(lines) + "\n")
    scene = scenes_of(load_script(path)).scenes[0]
    assert [line.kind for line in scene.lines][:2] == ["environment", "speech"]
    assert set(scene.key_ids) == {"anna", "ben"}


def test_message_format_and_verbatim_check():
    message = format_message("I must [hide] this", "Speak, man!\nWhat news?", ("Aside", "draws (sword)"))
    assert message == "[I must hide this] (Aside) (draws sword) Speak, man!\nWhat news?"
    assert spoken_part(message) == "Speak, man!\nWhat news?"
    assert strip_thoughts(message).startswith("(Aside)")
    assert is_verbatim(message, "speak man what news")  # case, spacing and punctuation aside
    assert not is_verbatim(message, "Speak, man! What tidings?")
    assert not is_verbatim("[thought] Speak, man!", "Speak, man! What news?")


def test_speaking_order_counts_environment_and_breaks_ties_by_first_turn():
    dialogues = [{"character": c, "message": "m"} for c in ["Environment", "Iago", "Roderigo", "Iago", "Roderigo"]]
    assert speaking_order(dialogues) == ["Iago", "Roderigo", "Environment"]


PDNC = Path("/work/shared/corpora/pdnc")


@pytest.mark.skipif(not (PDNC / "OliverTwist").is_dir(), reason="the shared PDNC corpus is not available")
def test_real_pdnc_novel_windows_keep_gold_quotes():
    from builders.sources import pdnc

    novel = pdnc.load_novel(PDNC / "OliverTwist")
    cut = scenes_of(novel)
    quotes = {t.id: t for t in novel.turns}
    assert len(cut.scenes) > 100
    for scene in cut.scenes:
        speeches = scene.speeches()
        assert MIN_TURNS <= len(speeches) <= MAX_TURNS
        assert all(line.text == quotes[line.turn_id].text and line.speaker_id == quotes[line.turn_id].speaker
                   for line in speeches)
        assert len({quotes[line.turn_id].section for line in speeches}) == 1  # never across a chapter break
