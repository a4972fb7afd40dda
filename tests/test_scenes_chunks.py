"""Segmentation of a Work into chunks, and finding quoted anchors in the source."""

from __future__ import annotations

import pytest

from builders.scenes import chunk_work, find_quote
from builders.sources import Section, Work
from tests.test_litchartom_fakes import make_play

LINE = "Now is the winter of our discontent made glorious summer by this sun."


def _scenes(count: int, lines: int) -> list[list[tuple[str, str]]]:
    return [[("LEAR" if i % 2 else "KENT", f"{LINE} ({s}.{i})") for i in range(lines)] for s in range(count)]


def test_whole_small_sections_are_joined_and_every_turn_lands_in_exactly_one_chunk():
    work = make_play(_scenes(6, 3))
    chunks = chunk_work(work, max_chars=800)
    assert len(chunks) > 1
    assert all(len(c.text) <= 800 for c in chunks)
    assert [t.id for c in chunks for t in c.turns] == [t.id for t in work.turns]
    for chunk in chunks:  # joined sections are whole: each chunk starts where a section starts
        assert chunk.span[0] in {s.span[0] for s in work.sections}
        assert len(chunk.section_ids) >= 1


def test_a_long_section_is_cut_between_turns_never_inside_one():
    work = make_play(_scenes(1, 40))
    chunks = chunk_work(work, max_chars=600)
    assert len(chunks) > 3
    assert all(c.section_ids == (work.sections[0].id,) for c in chunks)
    for chunk in chunks:
        for turn in work.turns:
            inside = chunk.span[0] < turn.span[0] < chunk.span[1]
            assert not inside or turn.span[1] <= chunk.span[1], "a turn straddles a chunk boundary"
    assert "".join(c.text for c in chunks).strip() == work.text.strip()


def test_scenes_of_different_acts_are_never_joined():
    work = make_play(_scenes(4, 2), acts=[1, 1, 2, 2])
    chunks = chunk_work(work, max_chars=10_000)
    assert [c.section_ids for c in chunks] == [("1.1", "1.2"), ("2.3", "2.4")]


def test_a_turn_longer_than_the_budget_makes_one_oversized_chunk():
    long_line = " ".join([LINE] * 20)
    work = make_play([[("KENT", "Short."), ("LEAR", long_line), ("KENT", "Short again.")]])
    chunks = chunk_work(work, max_chars=300)
    oversized = [c for c in chunks if c.oversized]
    assert len(oversized) == 1 and any(t.text == long_line for t in oversized[0].turns)
    assert [t.id for c in chunks for t in c.turns] == [t.id for t in work.turns]


def test_novel_chapters_join_and_short_front_matter_is_dropped():
    chapters = ["Title page.\n\n"] + [f"CHAPTER {i}\n\n" + (LINE + "\n\n") * 3 for i in range(1, 5)]
    text, sections, position = "", [], 0
    for number, chapter in enumerate(chapters):
        text += chapter
        section_id = "front" if number == 0 else f"ch{number}"
        sections.append(Section(id=section_id, title=section_id, span=(position, len(text))))
        position = len(text)
    work = Work(id="novel", title="N", author="A", kind="novel", license="pd", source="t", text=text,
                characters={}, turns=(), sections=tuple(sections))
    chunks = chunk_work(work, max_chars=500)
    assert "front" not in [s for c in chunks for s in c.section_ids]
    assert [s for c in chunks for s in c.section_ids] == ["ch1", "ch2", "ch3", "ch4"]
    assert any(len(c.section_ids) == 2 for c in chunks)


def test_a_work_without_sections_is_one_section():
    text = "\n\n".join([LINE] * 30)
    work = Work(id="w", title="W", author="A", kind="novel", license="pd", source="t", text=text,
                characters={}, turns=(), sections=())
    chunks = chunk_work(work, max_chars=400)
    assert len(chunks) >= 5 and all(len(c.text) <= 400 for c in chunks)


def test_chunk_size_below_a_scene_is_refused():
    with pytest.raises(ValueError, match="too small"):
        chunk_work(make_play(_scenes(1, 2)), max_chars=50)


def test_find_quote_tolerates_case_spacing_and_punctuation_and_a_paraphrased_tail():
    text = "KENT\nI thought the king had more affected the Duke of\nAlbany than Cornwall.\n"
    start, end = find_quote(text, "i thought the KING had more affected the duke of Albany than Cornwall")
    assert text[start:end] == "I thought the king had more affected the Duke of\nAlbany than Cornwall"
    start, end = find_quote(text, "I thought the king had wandered off to Dover")
    assert text[start:end] == "I thought the king had"
    start, end = find_quote(text, "Our old king had more affected")  # added words: the longest run matches
    assert text[start:end] == "king had more affected"
    assert find_quote(text, "The moon is made of cheese") is None
    assert find_quote(text, "the duke of York and the earl of Kent rode away") is None  # 3 of 11 words
    assert find_quote(text, "I thought", min_words=4) is not None  # a short quote must match whole
    assert find_quote(text, "I thought the king", after=10) is None
