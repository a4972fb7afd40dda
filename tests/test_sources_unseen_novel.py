"""A PDNC-format novel absent from every list in the code: it loads, its author and characters carry
the names a reader knows, and the source layer the builders call accepts it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from builders.sources import pdnc
from tests.support.pdnc_synthetic import EPITHETS, FREQUENT_SPEAKERS, READER_NAMES, write_synthetic_novel

FOLDER = "TheLanternAtHarrowCross"
AUTHOR = "Margaret Ellery Vane"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pdnc")
    write_synthetic_novel(root / FOLDER)
    return root


@pytest.fixture(scope="module")
def work(corpus):
    return pdnc.load_novel(corpus / FOLDER)


def test_the_synthetic_novel_is_on_no_list(work):
    assert FOLDER not in pdnc.PUBLIC_DOMAIN_NOVELS
    assert "VANE" not in pdnc.AUTHOR_NAMES and AUTHOR not in pdnc.AUTHOR_NAMES.values()


def test_the_synthetic_novel_loads_whole(corpus, work):
    rows = (corpus / FOLDER / "quotation_info.csv").read_text(encoding="utf-8").count('\n"Q')
    assert len(work.turns) == rows and rows >= 150
    assert set(work.load_stats) == {"quotes", "spans_exact"}  # nothing unresolved, shifted or unrecovered
    for turn in work.turns:
        assert turn.speaker is not None and turn.addressees
        for part in turn.parts:
            assert work.text[part[0]:part[1]] in turn.text
    assert [section.id for section in work.sections] == ["front", *(f"ch{n}" for n in range(1, 7))]
    assert all(turn.section and turn.section.startswith("ch") for turn in work.turns)
    spoken = Counter(turn.speaker for turn in work.turns)
    assert all(spoken[char_id] >= 15 for char_id in FREQUENT_SPEAKERS), spoken
    assert len(work.characters) >= 6
    assert any(mention.text == "Wrey" for turn in work.turns for mention in turn.mentions)


def test_the_synthetic_novel_is_deterministic(tmp_path):
    first = write_synthetic_novel(tmp_path / "a" / FOLDER, seed=3)
    second = write_synthetic_novel(tmp_path / "b" / FOLDER, seed=3)
    other = write_synthetic_novel(tmp_path / "c" / FOLDER, seed=4)
    for name in pdnc.NOVEL_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "novel_text.txt").read_bytes() != (other / "novel_text.txt").read_bytes()


# --- names a reader knows -----------------------------------------------------------------------


def test_display_names_are_readers_names_not_epithets(work):
    assert {char_id: character.name for char_id, character in work.characters.items()} == READER_NAMES
    for char_id, epithet in EPITHETS.items():
        assert epithet in work.characters[char_id].aliases  # still resolvable by the speaker-column name
        assert work.resolve(epithet) == work.resolve(READER_NAMES[char_id]) == char_id
    assert work.resolve("Wrey") == "0"


@pytest.mark.parametrize("header", ["fields", "by"])
def test_author_is_read_from_the_title_page(tmp_path, header):
    folder = write_synthetic_novel(tmp_path / FOLDER, header=header)
    assert pdnc.load_novel(folder).author == AUTHOR


def test_author_is_left_out_rather_than_given_as_a_code(tmp_path):
    work = pdnc.load_novel(write_synthetic_novel(tmp_path / FOLDER, header="none"))
    assert work.author == ""  # the index has only the code VANE; prompts then name no author


def test_author_from_an_index_name_column_then_known_codes(tmp_path):
    folder = write_synthetic_novel(tmp_path / FOLDER, header="none", index=False)
    index = tmp_path / "novel_index.csv"
    index.write_text(f"Novel Title,Author Code,Author Name,Folder Name\nThe Lantern,VANE,{AUTHOR},{FOLDER}\n",
                     encoding="utf-8")
    assert pdnc.load_novel(folder).author == AUTHOR
    index.write_text(f"Novel Title,Author Code,Folder Name\nThe Lantern,AUST,{FOLDER}\n", encoding="utf-8")
    assert pdnc.load_novel(folder).author == "Jane Austen"


@pytest.mark.parametrize(("front", "author"), [
    ("Title: A Book\n\nAuthor: Jane Q. Public\n\n", "Jane Q. Public"),
    ("A BOOK\n\n         by\n\nPAUL EXAMPLE SMITH\n\n", "Paul Example Smith"),
    ("A Book\n\nby L. M. Example\n\nTranslated by C. J. Someone\n\n", "L. M. Example"),
    ("A Book\n\nby the author of Another Book\n\n", ""),
    ("A BOOK\n\nby DOYL\n\n", ""),  # one word is too little to be a name: never print a code
    ("A Book\n\nIN TWO PARTS\n\n", ""),
])
def test_author_header_forms(front, author):
    text = front + "CHAPTER I\n\nIt began.\n"
    assert pdnc.author_name({"Author Code": "ZZZZ"}, text, None) == author


# --- the loader the builders call accepts a novel on no list ---------------------------------------


def test_select_novels_takes_every_novel_folder_listed_or_not(corpus, tmp_path):
    assert pdnc.select_novels(corpus) == [corpus / FOLDER]
    assert pdnc.select_novels(corpus, [FOLDER]) == [corpus / FOLDER]
    checkout = tmp_path / "checkout"
    write_synthetic_novel(checkout / "data" / FOLDER)
    assert pdnc.select_novels(checkout) == [checkout / "data" / FOLDER]  # a PDNC git checkout's root


def test_select_novels_says_what_it_found(corpus, tmp_path):
    with pytest.raises(pdnc.SourceError, match=f"NoSuchNovel not found in .*Fix: name folders that are there: {FOLDER}"):
        pdnc.select_novels(corpus, ["NoSuchNovel"])
    (tmp_path / "notes").mkdir()
    with pytest.raises(pdnc.SourceError, match=r"holds no PDNC novel folders: none of its 1 sub-folder\(s\) \(notes\)"):
        pdnc.select_novels(tmp_path)
    with pytest.raises(pdnc.SourceError, match="holds no PDNC novel folders \\(it has no sub-folders\\)"):
        pdnc.select_novels(tmp_path / "notes")


def test_scene_builders_load_an_unlisted_novel(corpus):
    """LitCharToM and Moral RolePlay resolve --pdnc-dir/--novels through builders.scenes.corpus."""
    from builders.scenes.corpus import load_works

    (work,) = load_works(pdnc_dir=corpus, novels=[FOLDER])
    assert work.id == f"pdnc-{FOLDER}" and work.author == AUTHOR
    stats = pdnc.corpus_stats([work])["pdnc"]
    assert stats["text_licence"] == {work.id: pdnc.LICENCE_USER_DECLARED}
    assert work.meta["public_domain_allow_list"] == "no" and "the user declares" in work.license


def test_pdnc_dir_alone_reads_every_novel_for_litchartom_and_moral_roleplay(corpus):
    """Named by --pdnc-dir with no --novels: every novel folder in it, and not the default plays."""
    from argparse import Namespace

    from builders.litchartom.build import resolve_sources
    from builders.moral_roleplay.build import load_sources

    args = Namespace(plays=None, novels=None, gutenberg_ids=None, ood_works=None, pdnc_dir=corpus, cache_dir=None)
    assert [w.id for w in resolve_sources(args).works] == [f"pdnc-{FOLDER}"]
    args = Namespace(plays=None, novels=None, pdnc_dir=corpus, script=[], window=12)
    assert [w.id for w in load_sources(args)] == [f"pdnc-{FOLDER}"]


def test_personaeval_track_takes_an_unlisted_novel(corpus):
    """PersonaEval's literary track resolves --pdnc-dir/--novels in builders.personaeval.tracks: with the
    novel named, and without --novels (the folder holds only a novel that is on no list)."""
    from builders.personaeval import tracks

    assert [work.id for work in tracks.load_novels(corpus, [FOLDER])] == [f"pdnc-{FOLDER}"]
    assert [work.id for work in tracks.load_novels(corpus, [])] == [f"pdnc-{FOLDER}"]


def test_the_cli_argument_check_accepts_the_folder_name():
    from builders.cli import name_list

    assert name_list(FOLDER) == FOLDER
