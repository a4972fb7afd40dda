"""Project Gutenberg loader, run on a local copy through a file:// base URL (no network)."""

from __future__ import annotations

import json

import pytest

from builders.sources import SourceError
from builders.sources import gutenberg

BOOK = """\ufeffThe Project Gutenberg eBook of A Small Tale\r
\r
This ebook is for the use of anyone anywhere in the United States.\r
\r
Title: A Small Tale\r
\r
Author: Ann Example\r
\r
Language: English\r
\r
*** START OF THE PROJECT GUTENBERG EBOOK A SMALL TALE ***\r
\r
A SMALL TALE\r
\r
CHAPTER I.\r
\r
"Hello," said Ann.\r
\r
CHAPTER II. The End\r
\r
"Goodbye," said Ben.\r
\r
*** END OF THE PROJECT GUTENBERG EBOOK A SMALL TALE ***\r
\r
Section 5. General Information About Project Gutenberg electronic works\r
"""


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror" / "4242"
    folder.mkdir(parents=True)
    (folder / "pg4242.txt").write_bytes(BOOK.encode("utf-8"))
    return (tmp_path / "mirror").as_uri()


def test_loads_strips_boilerplate_and_finds_chapters(tmp_path, mirror):
    work = gutenberg.load_book(4242, tmp_path / "cache", base_url=mirror)
    assert work.id == "gutenberg-4242" and work.title == "A Small Tale" and work.author == "Ann Example"
    assert work.text.startswith("A SMALL TALE\n") and work.text.endswith('"Goodbye," said Ben.\n')
    assert "Project Gutenberg" not in work.text and "\r" not in work.text
    assert [(s.id, s.title) for s in work.sections] == [
        ("front", "Front matter"), ("ch1", "CHAPTER I."), ("ch2", "CHAPTER II. The End")
    ]
    assert work.sections[-1].span[1] == len(work.text)
    assert work.turns == () and work.meta["language"] == "English"


def test_caches_with_checksum(tmp_path, mirror):
    cache = tmp_path / "cache"
    first = gutenberg.load_book("4242", cache, base_url=mirror)
    record = json.loads((cache / "gutenberg" / "4242.json").read_text())
    assert record["sha256"] == first.meta["sha256"] and record["url"].endswith("/4242/pg4242.txt")
    # Served from the cache even when the source is gone.
    second = gutenberg.load_book(4242, cache, base_url="http://127.0.0.1:9")
    assert second.text == first.text
    (cache / "gutenberg" / "4242.txt").write_text("tampered", encoding="utf-8")
    with pytest.raises(SourceError, match="checksum.*Fix: delete"):
        gutenberg.load_book(4242, cache, base_url=mirror)


def test_offline_and_bad_ids_raise_source_error(tmp_path):
    with pytest.raises(SourceError, match="could not download.*Fix: connect to the internet"):
        gutenberg.load_book(1342, tmp_path, base_url="http://127.0.0.1:9", timeout=2)
    for bad in ("../etc/passwd", "12a", "-5", "0"):
        with pytest.raises(SourceError, match="not a Project Gutenberg book id"):
            gutenberg.load_book(bad, tmp_path)


def test_text_without_markers_is_refused():
    with pytest.raises(SourceError, match="START OF"):
        gutenberg.strip_boilerplate("Just some text.\n")
    old_style = "header\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nBody.\nEnd of the Project Gutenberg EBook of X\nlicence\n"
    assert gutenberg.strip_boilerplate(old_style) == "Body.\n"
