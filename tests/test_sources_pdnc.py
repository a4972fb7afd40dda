"""PDNC-format novels: a fixture folder built here, and the real corpus when /work/shared is present."""

from __future__ import annotations

import ast
import csv
import time
from pathlib import Path

import pytest

from builders.sources import SourceError
from builders.sources import pdnc

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "pdnc"

NOVEL = """CHAPTER I.

"Good morning, Lizzy," said Mr. Bennet. "You look well."

"I don t feel well," said Elizabeth.

CHAPTER II.

"Where is Jane?" asked   Mrs. Bennet.

"Gone," said Lizzy, "to town."
"""


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _span(text: str, quote: str, shift: int = 0) -> list[int]:
    start = text.index(quote) + shift
    return [start, start + len(quote)]


def make_novel(folder: Path, *, aliases_cell: str = "{'Elizabeth', 'Lizzy', 'Eliza'}") -> Path:
    """A four-quote novel with the corpus's pitfalls: alias speakers, trailing spaces, a shifted
    span, an unrecoverable span, an addressee missing from the character table, a lost apostrophe."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "novel_text.txt").write_text(NOVEL, encoding="utf-8")
    _write_csv(
        folder / "character_info.csv",
        ["Character ID", "Main Name", "Aliases", "Gender", "Category"],
        [
            [0, "Elizabeth", aliases_cell, "F", "major"],
            [1, "Mr. Bennet", "['Mr. Bennet']", "M", "intermediate"],
            [2, "Mrs. Bennet", "{'Mrs. Bennet'}", "F", "major"],
            [3, "Jane", "{'Jane', 'Miss Bennet'}", "F", "intermediate"],
        ],
    )
    t = NOVEL
    rows = [
        # Q0: two sub-quotations, exact spans.
        ["Q0", "Good morning, Lizzy, You look well.", str(["Good morning, Lizzy,", "You look well."]),
         str([_span(t, "Good morning, Lizzy,"), _span(t, "You look well.")]), "Mr. Bennet", "['Elizabeth']",
         "Explicit", "said Mr. Bennet", "[['Lizzy'], []]", str([[_span(t, "Lizzy")], []]), "[[['Elizabeth']], []]"],
        # Q1: speaker given by alias with a trailing space; lost apostrophe; span shifted by 2.
        ["Q1", "I don t feel well,", "['I don t feel well,']", str([_span(t, "I don t feel well,", shift=2)]),
         "Lizzy ", "['Mr. Bennet']", "Explicit", "said Elizabeth", "[[]]", "[[]]", "[[]]"],
        # Q3 listed before Q2: the loader sorts by position. Span points nowhere near the quote.
        ["Q3", "Gone away, to town.", str(["Gone away,", "to town."]), str([[5, 15], _span(t, "to town.")]),
         "Eliza", "['Mrs. Bennet', 'Miss De Bourgh']", "Implicit", "nan", "[[], []]", "[[], []]", "[[], []]"],
        ["Q2", "Where is Jane?", "['Where is Jane?']", str([_span(t, "Where is Jane?")]), "Mrs. Bennet",
         "[]", "", "nan", "[['Jane']]", str([[_span(t, "Jane")]]), "[[['Jane']]]"],
    ]
    _write_csv(
        folder / "quotation_info.csv",
        ["quoteID", "quoteText", "subQuotationList", "quoteByteSpans", "speaker", "addressees", "quoteType",
         "referringExpression", "mentionTextsList", "mentionSpansList", "mentionEntitiesList"],
        rows,
    )
    return folder


@pytest.fixture
def novel(tmp_path):
    return pdnc.load_novel(make_novel(tmp_path / "TinyNovel"))


def test_fixture_turns_in_text_order_with_speakers(novel):
    assert novel.kind == "novel" and novel.id == "pdnc-TinyNovel" and novel.title == "Tiny Novel"
    assert [turn.id for turn in novel.turns] == ["Q0", "Q1", "Q2", "Q3"]
    assert [turn.speaker for turn in novel.turns] == ["1", "0", "2", "0"]
    assert novel.turns[1].label == "Lizzy"
    assert novel.turns[0].text == "Good morning, Lizzy, You look well."
    assert novel.turns[0].addressees == ("0",)
    assert novel.turns[3].addressees == ("2",)  # "Miss De Bourgh" is not in the table
    assert novel.turns[0].mentions[0].characters == ("0",)
    assert novel.turns[0].meta["quote_type"] == "Explicit"
    assert "quote_type" not in novel.turns[2].meta


def test_fixture_spans_recovered_or_counted(novel):
    stats = novel.load_stats
    assert stats["spans_exact"] == 4 and stats["spans_shifted"] == 1 and stats["spans_unrecovered"] == 1
    assert stats["addressees_unresolved"] == 1
    shifted = novel.turns[1].parts[0]
    assert novel.text[shifted[0] : shifted[1]] == "I don t feel well,"
    for turn in novel.turns[:3]:
        for part in turn.parts:
            assert novel.text[part[0] : part[1]].strip() in turn.text


def test_fixture_chapters_and_names(novel):
    assert [(s.id, s.title) for s in novel.sections] == [("ch1", "CHAPTER I."), ("ch2", "CHAPTER II.")]
    assert [turn.section for turn in novel.turns] == ["ch1", "ch1", "ch2", "ch2"]
    for query in ("Elizabeth", "lizzy", "Lizzy's", "ELIZA", "Miss Bennet"):
        assert novel.resolve(query) is not None
    assert novel.resolve("Lizzy") == novel.resolve("Elizabeth") == "0"
    assert novel.resolve("Bennet") is None  # Mr. or Mrs.: ambiguous
    # Display name: the most frequent speaker string; "Lizzy" and "Eliza" tie on count and length,
    # so the alphabetically greater label wins, deterministically.
    assert novel.characters["0"].name == "Lizzy"
    assert "Elizabeth" in novel.aliases.names_of("0")
    assert len(novel.speaker_lines("0")) == 2


def test_fixture_apostrophe_repair(tmp_path):
    folder = make_novel(tmp_path / "TinyNovel")
    repaired = pdnc.load_novel(folder, repair_apostrophes=True)
    assert repaired.turns[1].text == "I don t feel well,"
    assert repaired.turns[1].repaired_text == "I don't feel well,"
    assert pdnc.load_novel(folder).turns[1].repaired_text is None  # one "don t" is below the auto threshold
    assert pdnc.repair_lost_apostrophes("it s Dorian s, we ll see; I m sure you re right") == (
        "it's Dorian's, we'll see; I'm sure you're right"
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "character_info.csv").unlink(), "missing character_info.csv"),
        (lambda f: (f / "quotation_info.csv").write_text("id,text\n1,x\n", encoding="utf-8"), "header lacks column"),
        (lambda f: make_novel(f, aliases_cell="{'Elizabeth', 'Lizzy'"), r"line 2: column 'Aliases' is not a Python"),
        (lambda f: make_novel(f, aliases_cell="__import__('os').getcwd()"), "not a Python list or set literal"),
        (lambda f: make_novel(f, aliases_cell="'Lizzy'"), "holds a str"),
        (lambda f: (f / "novel_text.txt").write_bytes(b"\xff\xfe bad"), "not UTF-8"),
    ],
)
def test_malformed_input_raises_source_error(tmp_path, damage, message):
    folder = make_novel(tmp_path / "TinyNovel")
    damage(folder)
    with pytest.raises(SourceError, match=message) as error:
        pdnc.load_novel(folder)
    assert "Fix:" in str(error.value)


def test_missing_folder_and_download_errors(tmp_path):
    with pytest.raises(SourceError, match="folder not found"):
        pdnc.load_novel(tmp_path / "nowhere")
    for unsafe in ("../Emma", "Emma/..", "", "a b"):
        with pytest.raises(SourceError, match="not a PDNC folder name"):
            pdnc.download_novel(unsafe, tmp_path, base_url="http://127.0.0.1:9/data", timeout=2)
    with pytest.raises(SourceError, match="could not download.*Fix: connect to the internet"):
        pdnc.download_novel("Emma", tmp_path, base_url="http://127.0.0.1:9/data", timeout=2)


def test_download_reads_a_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    make_novel(mirror / "Emma")
    folder = pdnc.download_novel("Emma", tmp_path / "dest", base_url=mirror.as_uri())
    work = pdnc.load_novel(folder)
    assert work.id == "pdnc-Emma" and work.meta["licence_basis"] == pdnc.LICENCE_CHECKED
    assert pdnc.corpus_stats([work])["pdnc"]["text_licence"] == {"pdnc-Emma": pdnc.LICENCE_CHECKED}


def test_download_fetches_a_novel_off_the_checked_list(tmp_path):
    """The checked list records what the project verified; it refuses nothing (issue 20)."""
    mirror = tmp_path / "mirror"
    make_novel(mirror / "AHandfulOfDust")
    work = pdnc.load_novel(pdnc.download_novel("AHandfulOfDust", tmp_path / "dest", base_url=mirror.as_uri()))
    assert work.meta["public_domain_allow_list"] == "no"
    assert work.meta["licence_basis"] == pdnc.LICENCE_USER_DECLARED
    assert "the user declares" in work.license


# --- the real corpus (skipped when /work/shared is absent) ---------------------------------------

needs_corpus = pytest.mark.skipif(not (CORPUS / "PrideAndPrejudice").is_dir(), reason="PDNC corpus not present")


@needs_corpus
def test_pride_and_prejudice_against_its_csv():
    folder = CORPUS / "PrideAndPrejudice"
    started = time.perf_counter()
    work = pdnc.load_novel(folder)
    print(f"PrideAndPrejudice loaded in {time.perf_counter() - started:.3f}s")
    with (folder / "quotation_info.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(work.turns) == len(rows) == 1270
    assert work.title == "Pride and Prejudice" and work.author == "Jane Austen"
    assert len(work.sections) == 61
    elizabeth = work.resolve("Elizabeth")
    assert elizabeth == work.resolve("Lizzy") == work.resolve("Miss Eliza") == work.resolve("lizzy's")
    expected = sum(1 for row in rows if row["speaker"].strip() == "Elizabeth")
    assert len(work.speaker_lines(elizabeth)) == expected
    assert "spans_unrecovered" not in work.load_stats
    assert work.load_stats["spans_exact"] + work.load_stats["spans_shifted"] == sum(
        len(ast.literal_eval(row["quoteByteSpans"])) for row in rows
    )
    assert work.load_stats["addressees_unresolved"] == 25  # "Miss De Bourgh" and others


@needs_corpus
def test_every_corpus_novel_resolves_speakers_and_spans():
    for folder in sorted(path for path in CORPUS.iterdir() if path.is_dir()):
        work = pdnc.load_novel(folder)
        assert "speakers_unresolved" not in work.load_stats, folder.name
        assert "spans_unrecovered" not in work.load_stats, folder.name
        for turn in work.turns:
            for part in turn.parts:
                assert work.text[part[0] : part[1]].strip() in turn.text
        assert all(turn.section is not None for turn in work.turns)


@needs_corpus
def test_display_names_replace_odd_main_names():
    dorian = pdnc.load_novel(CORPUS / "ThePictureOfDorianGray")
    assert dorian.characters[dorian.resolve("Prince Charming")].name == "Dorian Gray"
    innocence = pdnc.load_novel(CORPUS / "TheAgeOfInnocence")
    assert innocence.characters[innocence.resolve("Madame Olenska")].name == "Ellen Olenska"
    daisy = pdnc.load_novel(CORPUS / "DaisyMiller")
    assert daisy.load_stats["apostrophes_repaired_quotes"] > 100


@needs_corpus
def test_epithet_display_names_give_way_to_personal_names():
    hard_times = pdnc.load_novel(CORPUS / "HardTimes")
    assert hard_times.characters[hard_times.resolve("The Old Woman")].name == "Mrs. Pegler"
    gambler = pdnc.load_novel(CORPUS / "TheGambler")
    assert gambler.characters[gambler.resolve("Baron Burmergelm")].name == "Baron Burmergelm"
    alice = pdnc.load_novel(CORPUS / "AlicesAdventuresInWonderland")
    assert alice.characters[alice.resolve("The Caterpillar")].name == "The Caterpillar"  # no personal alias
    oliver = pdnc.load_novel(CORPUS / "OliverTwist")
    assert oliver.characters[oliver.resolve("Jack Dawkins")].name == "The Artful Dodger"  # carries a name


@needs_corpus
def test_title_page_authors_agree_with_the_known_authors():
    """The header reading that names unseen novels' authors gives the known name on every corpus novel
    whose text has a title page with an author line (and nothing on the others)."""
    from builders.sources.sections import detect_chapters

    with (CORPUS / "novel_index.csv").open(encoding="utf-8", newline="") as handle:
        codes = {row["Folder Name"]: row["Author Code"] for row in csv.DictReader(handle)}
    named = 0
    for folder in sorted(path for path in CORPUS.iterdir() if path.is_dir()):
        text = (folder / "novel_text.txt").read_text(encoding="utf-8")
        found = pdnc.author_name({}, text, detect_chapters(text))  # as if the author code were unknown
        assert found in ("", pdnc.AUTHOR_NAMES[codes[folder.name]]), folder.name
        named += bool(found)
    assert named >= 11
