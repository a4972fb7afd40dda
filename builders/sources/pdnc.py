"""Novels in the Project Dialogism Novel Corpus (PDNC) format: text plus human speaker annotations.

A PDNC folder holds `novel_text.txt`, `quotation_info.csv` (one row per quotation: sub-quotations,
their spans, speaker, addressees, quote type, resolved mentions) and `character_info.csv` (id, main
name, aliases, gender, category). The parent folder may hold `novel_index.csv` (title, author code,
year, Gutenberg source).

Pitfalls handled here (personaeval.md section 5.1):
- list and set columns are Python literals: parsed with `ast.literal_eval`, never `eval`;
- the speaker field may be an alias or carry trailing spaces; it is resolved through the aliases;
- main names can be poor display names ("Prince Charming" for Dorian Gray, an epithet such as "The
  Grey Stranger" for Anselm Wrey): the display name is the most frequent speaker string, else the
  longest full-name alias; when that is an epithet and an alias is a personal name, the most used
  personal name (a full name when the text uses one) replaces it;
- the index gives author codes only: the author's name comes from AUTHOR_NAMES, else from the text's
  own header ("Author: ...", "by ..."), else from an author-name column of the index, never the code;
- any PDNC-format folder is read: PUBLIC_DOMAIN_NOVELS is the project's checked list, recorded in
  `Work.meta` and the licence note, never a reason to refuse a novel (its licence is the user's to
  declare);
- about 2% of spans are shifted by surrounding whitespace: the quote is searched for near the given
  offset, and spans that cannot be recovered are counted in `Work.load_stats`, not fatal;
- some novels lost their contraction apostrophes ("don t"): an optional repair fills
  `Turn.repaired_text` and leaves `Turn.text` and the spans on the original.
"""

from __future__ import annotations

import ast
import csv
import re
import urllib.error
import urllib.request
from bisect import bisect_right
from collections import Counter
from dataclasses import replace
from pathlib import Path

from builders.sources import Character, Mention, Section, SourceError, Span, Turn, Work
from builders.sources.aliases import (TITLE_WORDS, AliasRegistry, is_epithet, is_full_name, is_personal_name,
                                      strip_titles)
from builders.sources.sections import detect_chapters

NOVEL_FILES = ("novel_text.txt", "quotation_info.csv", "character_info.csv")
CHARACTER_COLUMNS = ("Character ID", "Main Name", "Aliases", "Gender", "Category")
QUOTE_COLUMNS = ("quoteID", "subQuotationList", "quoteByteSpans", "speaker", "addressees", "quoteType")
MENTION_COLUMNS = ("mentionTextsList", "mentionSpansList", "mentionEntitiesList")

PDNC_RAW_BASE = "https://raw.githubusercontent.com/Priya22/project-dialogism-novel-corpus/HEAD/data"

# The upstream repository holds 28 novels, not all in the public domain (A Handful of Dust, 1934).
# The project checked these, all first published 1815-1919, as public domain (US, pre-1930 publication).
# The list informs the licence note and the build report; it never refuses a novel a user brings.
PUBLIC_DOMAIN_NOVELS = (
    "AlicesAdventuresInWonderland", "AnneOfGreenGables", "DaisyMiller", "Emma", "HardTimes",
    "MansfieldPark", "NightAndDay", "NorthangerAbbey", "OliverTwist", "Persuasion", "PrideAndPrejudice",
    "SenseAndSensibility", "TheAgeOfInnocence", "TheAwakening", "TheGambler", "ThePictureOfDorianGray",
    "TheSportOfTheGods",
)

# The index gives author codes only; these are the authors of the novels above. Other novels' authors
# are read from the text's header (see author_name).
AUTHOR_NAMES = {
    "AUST": "Jane Austen", "CARR": "Lewis Carroll", "CHOP": "Kate Chopin", "DICK": "Charles Dickens",
    "DOST": "Fyodor Dostoyevsky", "DUNB": "Paul Laurence Dunbar", "JAME": "Henry James",
    "MONT": "L. M. Montgomery", "WHAR": "Edith Wharton", "WILD": "Oscar Wilde", "WOOL": "Virginia Woolf",
}

# Totals the build report gives over a build's novels (Work.load_stats holds each novel's own).
CORPUS_STAT_KEYS = ("quotes", "quotes_unlocated", "speakers_unresolved", "spans_exact", "spans_shifted",
                    "spans_unrecovered", "addressees_unresolved")

LICENCE_CHECKED = "project's checked public-domain list"
LICENCE_USER_DECLARED = "user-declared (not on the project's checked list)"
INDEX_AUTHOR_COLUMNS = ("Author Name", "Author", "Author Full Name")  # not in PDNC's index; read when present
MIN_NAME_USES = 2  # uses (speaker column + text) before an alias can replace an epithet as the display name
HEADER_CHARS = 3000  # how far into the text a title page's author line is looked for
_HEADER_AUTHOR = re.compile(r"^[ \t]*(?:Author:[ \t]*|by[ \t]+)(?P<name>\S[^\n]*?)[ \t]*$",
                            re.IGNORECASE | re.MULTILINE)
_HEADER_BY_ALONE = re.compile(r"^[ \t]*by[ \t]*\n(?:[ \t]*\n)*[ \t]*(?P<name>\S[^\n]*?)[ \t]*$",
                              re.IGNORECASE | re.MULTILINE)
_AUTHOR_WORD = re.compile(r"^(?:[A-Z][A-Za-z'’-]*\.?|(?:[A-Z]\.)+|de|du|da|di|van|von|der|la|le)$")
_TEXT_WORD = re.compile(r"[^\W\d_]+")
_CAPITALISED_WORD = re.compile(r"(?<![^\W\d_])[A-ZÀ-ÖØ-Þ][^\W\d_]*")
_WORD_BEFORE_DOT = re.compile(r"(?<![A-Za-z])([A-Za-z]+)\.$")
NAME_ABBREVIATIONS = frozenset("rev capt col gen lt sgt prof hon esq jr sr messrs mme mlle fr".split())
_SENTENCE_OPENERS = frozenset(".!?\"“”‘’'([:—-_")

SPAN_SEARCH_WINDOW = 300  # characters either side of an annotated span searched for a shifted quote

_CONTRACTION_SUFFIX = r"(?:t|s|ll|ve|re|d|m)"
_LOST_APOSTROPHE = re.compile(rf"\b([A-Za-z]+) ({_CONTRACTION_SUFFIX})\b(?!['’])")
_LOST_NEGATION = re.compile(r"\b(?:don|can|won|isn|aren|didn|doesn|wasn|weren|couldn|wouldn|shouldn|haven|hasn) t\b")
LOST_APOSTROPHE_THRESHOLD = 5  # "don t"-type forms in a novel before the repair switches on by itself


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_novel(folder: Path, *, repair_apostrophes: bool | None = None) -> Work:
    """Load one PDNC-format novel folder as a Work (kind "novel").

    `repair_apostrophes`: True/False forces the lost-apostrophe repair on or off; None (default)
    turns it on when the text shows at least LOST_APOSTROPHE_THRESHOLD lost "n't" forms.
    """
    folder = Path(folder)
    _check_folder(folder)
    text_path = folder / "novel_text.txt"
    text = _read_text(text_path)
    characters, registry = _load_characters(folder / "character_info.csv")
    stats: Counter[str] = Counter()
    quotes_path = folder / "quotation_info.csv"
    rows = _read_csv(quotes_path, QUOTE_COLUMNS)
    turns = [_quote_to_turn(row, line, text, registry, stats, quotes_path) for line, row in rows]
    _check_usable(quotes_path, turns, stats)
    turns.sort(key=lambda turn: turn.span[0])  # sorted() is stable: equal starts keep file order
    sections = detect_chapters(text)
    turns = _assign_sections(turns, sections)
    if repair_apostrophes is None:
        repair_apostrophes = len(_LOST_NEGATION.findall(text)) >= LOST_APOSTROPHE_THRESHOLD
    if repair_apostrophes:
        turns = [_with_repaired_text(turn, stats) for turn in turns]
    characters = _with_display_names(characters, turns, text)
    index = _index_row(folder)
    return Work(
        id=f"pdnc-{folder.name}",
        title=index.get("Novel Title") or _split_camel_case(folder.name),
        author=author_name(index, text, sections),
        kind="novel",
        license=_license_note(folder.name, index),
        source=str(folder),
        text=text,
        characters=characters,
        turns=tuple(turns),
        sections=tuple(sections),
        meta=_meta(folder.name, index),
        load_stats={"quotes": len(turns), **dict(sorted(stats.items()))},
    )


def corpus_stats(works) -> dict:
    """{"pdnc": what loading the PDNC novels among `works` found: totals, per novel, and on what basis
    each novel's text is released}, for the build report's "sources"; {} when no work is a PDNC novel."""
    pdnc_works = [work for work in works if work.kind == "novel" and work.id.startswith("pdnc-")]
    novels = {work.id: dict(work.load_stats) for work in pdnc_works}
    if not novels:
        return {}
    totals = {"novels": len(novels),
              **{key: sum(stats.get(key, 0) for stats in novels.values()) for key in CORPUS_STAT_KEYS}}
    licences = {work.id: work.meta.get("licence_basis", LICENCE_USER_DECLARED) for work in pdnc_works}
    return {"pdnc": {**totals, "per_novel": novels, "text_licence": licences}}


def novel_folders(data_dir: Path) -> list[str]:
    """The names of the sub-folders of `data_dir` that hold a PDNC novel (a quotation_info.csv), sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return []
    return sorted(path.name for path in data_dir.iterdir() if (path / "quotation_info.csv").is_file())


def novels_dir(pdnc_dir: Path) -> Path:
    """The folder holding one sub-folder per novel: `pdnc_dir`, or its data/ folder when `pdnc_dir` is a
    checkout of the PDNC repository (novels under data/, none at the top)."""
    pdnc_dir = Path(pdnc_dir)
    if (pdnc_dir / "data").is_dir() and not novel_folders(pdnc_dir):
        return pdnc_dir / "data"
    return pdnc_dir


def select_novels(data_dir: Path, names=()) -> list[Path]:
    """The novel folders a build reads: those named (PDNC folder names, in the order given), or with no
    names every novel folder in `data_dir` (or in its data/, see novels_dir). Whether a novel is on
    PUBLIC_DOMAIN_NOVELS plays no part: its licence is the user's to declare.
    A name with no folder, or a folder holding no novel, raises SourceError naming what is there."""
    if not Path(data_dir).is_dir():
        raise SourceError("the PDNC folder does not exist", path=data_dir,
                          fix="pass the folder that holds one sub-folder per novel (a PDNC checkout or its data/)")
    data_dir = novels_dir(data_dir)
    available = novel_folders(data_dir)
    names = [name for name in dict.fromkeys(str(name).strip() for name in names) if name]
    if not names:
        if not available:
            raise SourceError(_no_novels_found(data_dir),
                              fix=f"point it at a folder whose sub-folders each hold {', '.join(NOVEL_FILES)} (the "
                              "data/ folder of a PDNC checkout)")
        return [data_dir / name for name in available]
    missing = [name for name in names if name not in available]
    if missing:
        raise SourceError(
            f"novel folder(s) {', '.join(missing)} not found in {data_dir} (a novel folder holds quotation_info.csv)",
            fix=f"name folders that are there: {', '.join(available)}" if available
            else f"{_no_novels_found(data_dir)}; point --pdnc-dir at the folder holding the novels")
    return [data_dir / name for name in names]


def author_name(index: dict[str, str], text: str, sections=None) -> str:
    """The author as a reader names them, or "" when nothing gives a name (never the index's code):
    AUTHOR_NAMES for a known code, else the text's title page ("Author: X", "by X", "by" then X on a
    line of its own), else an author-name column of the index."""
    code = index.get("Author Code", "")
    if code in AUTHOR_NAMES:
        return AUTHOR_NAMES[code]
    from_header = _header_author(_front_matter(text, sections))
    if from_header:
        return from_header
    for column in INDEX_AUTHOR_COLUMNS:
        value = " ".join((index.get(column) or "").split())
        if _looks_like_author(value) and value != code:
            return value
    return ""


def download_novel(name: str, dest: Path, *, base_url: str = PDNC_RAW_BASE, timeout: float = 30.0) -> Path:
    """Download one PDNC novel folder (the three files) into `dest/<name>/`.

    `name` is a PDNC folder name (letters and digits, e.g. "Emma"); the folder name comes from it,
    never from downloaded text. Whether the novel may be redistributed is the user's to check
    (PUBLIC_DOMAIN_NOVELS are the ones the project checked). Returns the folder, ready for `load_novel`.
    """
    if not re.fullmatch(r"[A-Za-z0-9]+", name or ""):
        raise SourceError(
            f"{name!r} is not a PDNC folder name",
            fix=f"give a folder name of the PDNC repository's data/, letters and digits only, such as "
            f"{', '.join(PUBLIC_DOMAIN_NOVELS[:3])}",
        )
    folder = Path(dest) / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in NOVEL_FILES:
        url = f"{base_url.rstrip('/')}/{name}/{file_name}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError) as error:
            raise SourceError(
                f"could not download {url} ({getattr(error, 'reason', error)})",
                fix="connect to the internet, pass base_url= for a mirror, or point load_novel at a local PDNC "
                "checkout (data/<Novel>/)",
            ) from None
        partial = folder / f"{file_name}.partial"
        partial.write_bytes(payload)
        partial.replace(folder / file_name)
    return folder


def parse_literal(value: str, *, path: Path, line: int, column: str) -> list:
    """A list or set literal from a CSV cell, parsed safely; empty cells and "nan" give []."""
    value = (value or "").strip()
    if value in ("", "nan", "None"):
        return []
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise SourceError(
            f"column {column!r} is not a Python list or set literal: {value[:80]!r}",
            path=path,
            where=f"line {line}",
            fix="write the cell as a literal such as ['a', 'b'] or {'a', 'b'}",
        ) from None
    if not isinstance(parsed, (list, set, tuple)):
        raise SourceError(
            f"column {column!r} holds a {type(parsed).__name__}, not a list or set: {value[:80]!r}",
            path=path,
            where=f"line {line}",
            fix="write the cell as a literal such as ['a', 'b'] or {'a', 'b'}",
        )
    return sorted(parsed, key=str) if isinstance(parsed, set) else list(parsed)  # sets: fixed order


def repair_lost_apostrophes(text: str) -> str:
    """ "aren t" -> "aren't", "Dorian s" -> "Dorian's" (suffixes t, s, ll, ve, re, d, m)."""

    def restore(match: re.Match) -> str:
        word, suffix = match.group(1), match.group(2)
        if suffix == "t" and not word.lower().endswith("n") and word.lower() not in ("can", "won"):
            return match.group(0)  # "t" is only ever the end of "n't"
        return f"{word}'{suffix}"

    return _LOST_APOSTROPHE.sub(restore, text)


def recover_span(text: str, quote: str, span: Span, window: int = SPAN_SEARCH_WINDOW) -> tuple[Span, str]:
    """Where `quote` really sits in `text`: ("exact" | "shifted" | "unrecovered", span).

    A shifted span is the occurrence of the stripped quote nearest to the annotated start within
    `window` characters, matched exactly or with whitespace runs treated as equal.
    """
    start, end = span
    if text[start:end] == quote:
        return (start, end), "exact"
    target = quote.strip()
    low, high = max(0, start - window), min(len(text), end + window)
    if target:
        found = _nearest(re.finditer(re.escape(target), text[low:high]), low, start)
        if found is None:
            flexible = r"\s+".join(re.escape(word) for word in target.split())
            found = _nearest(re.finditer(flexible, text[low:high]), low, start)
        if found is not None:
            return found, "shifted"
    clamped = (min(max(start, 0), len(text)), min(max(end, 0), len(text)))
    return clamped, "unrecovered"


# ---------------------------------------------------------------------------------------------
# Files


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise SourceError("PDNC novel folder not found", path=folder, fix="pass a folder holding " + ", ".join(NOVEL_FILES))
    missing = [name for name in NOVEL_FILES if not (folder / name).is_file()]
    if missing:
        raise SourceError(
            f"missing {', '.join(missing)}",
            path=folder,
            fix=f"a PDNC novel folder holds {', '.join(NOVEL_FILES)}; download it with pdnc.download_novel",
        )


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SourceError(
            f"not UTF-8 text (byte {error.start})", path=path, fix="re-save the file as UTF-8"
        ) from None
    except OSError as error:
        raise SourceError(f"cannot be read ({error.strerror or error})", path=path,
                          fix="make the file readable for this user") from None
    # Spans are offsets into the file as written: "\r\n" must not be normalised away.
    if not text.strip():
        raise SourceError("the novel text is empty", path=path, fix="restore novel_text.txt from the PDNC repository")
    return text


def _read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows with the line number each starts on; checks the header first."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in required if column not in header]
            if missing:
                raise SourceError(
                    f"header lacks column(s) {', '.join(missing)}; found {', '.join(header) or 'nothing'}",
                    path=path,
                    where="line 1",
                    fix=f"use a PDNC-format file whose header has {', '.join(required)}",
                )
            rows = []
            line = reader.line_num + 1
            for row in reader:
                _check_row_length(row, header, path, line)
                rows.append((line, row))
                line = reader.line_num + 1
            return rows
    except UnicodeDecodeError as error:
        raise SourceError(f"not UTF-8 text (byte {error.start})", path=path, fix="re-save the file as UTF-8") from None
    except csv.Error as error:
        raise SourceError(f"unreadable CSV ({error})", path=path, fix="check quoting in the file") from None
    except OSError as error:
        raise SourceError(f"cannot be read ({error.strerror or error})", path=path,
                          fix="make the file readable for this user") from None


def _check_row_length(row: dict, header: list[str], path: Path, line: int) -> None:
    """csv.DictReader fills a short row with None and files a long row's extra cells under None."""
    if None in row:
        raise SourceError(
            f"the row has {len(header) + len(row[None])} cells but the header names {len(header)} columns",
            path=path,
            where=f"line {line}, column {len(header) + 1}",
            fix="quote cells that hold commas (\"a, b\") or remove the extra cells",
        )
    missing = [column for column in header if row.get(column) is None]
    if missing:
        column = header.index(missing[0]) + 1
        raise SourceError(
            f"the row has {len(header) - len(missing)} cells but the header names {len(header)} columns; "
            f"it ends before column {column} ({missing[0]!r})",
            path=path,
            where=f"line {line}, column {column}",
            fix="fill the missing cells (an empty cell is written as two commas) or delete the row",
        )


def _index_row(folder: Path) -> dict[str, str]:
    """This novel's row of the corpus index `../novel_index.csv`, or {} when there is none."""
    index_path = folder.parent / "novel_index.csv"
    if not index_path.is_file():
        return {}
    for _, row in _read_csv(index_path, ("Folder Name",)):
        if (row.get("Folder Name") or "").strip() == folder.name:
            return {key: (value or "").strip() for key, value in row.items() if key}
    return {}


# ---------------------------------------------------------------------------------------------
# Characters


def _load_characters(path: Path) -> tuple[dict[str, Character], AliasRegistry]:
    characters: dict[str, Character] = {}
    registry = AliasRegistry()
    for line, row in _read_csv(path, CHARACTER_COLUMNS):
        char_id = (row["Character ID"] or "").strip()
        main_name = " ".join((row["Main Name"] or "").split())
        if not char_id or not main_name:
            raise SourceError(
                "a character row lacks its Character ID or Main Name",
                path=path,
                where=f"line {line}",
                fix="fill both cells or delete the row",
            )
        if char_id in characters:
            raise SourceError(
                f"Character ID {char_id} appears twice", path=path, where=f"line {line}", fix="give each character one row"
            )
        aliases = [str(alias) for alias in parse_literal(row["Aliases"], path=path, line=line, column="Aliases")]
        names = tuple(dict.fromkeys(" ".join(name.split()) for name in [main_name, *aliases] if name.strip()))
        characters[char_id] = Character(
            id=char_id,
            name=main_name,
            aliases=names,
            gender=(row["Gender"] or "").strip() or None,
            category=(row["Category"] or "").strip() or None,
        )
        # Main names are the primary names while resolving annotations.
        registry.add(char_id, main_name, names)
    if not characters:
        raise SourceError("no characters listed", path=path, fix="restore character_info.csv from the PDNC repository")
    return characters, registry


def _with_display_names(characters: dict[str, Character], turns: list[Turn], text: str) -> dict[str, Character]:
    """Canonical display name: the most frequent speaker string, else the longest full-name alias;
    an epithet among those gives way to the personal name a reader knows, when an alias is one."""
    spoken: dict[str, Counter[str]] = {}
    for turn in turns:
        if turn.speaker is not None and turn.label:
            spoken.setdefault(turn.speaker, Counter())[turn.label] += 1
    is_common = common_word_test(text)
    renamed = {}
    for char_id, character in characters.items():
        counts = spoken.get(char_id)
        if counts:
            name = max(counts, key=lambda label: (counts[label], len(label), label))
        else:
            full_names = [alias for alias in character.aliases if len(strip_titles(alias).split()) >= 2]
            name = max(full_names, key=lambda alias: (len(alias), alias)) if full_names else character.name
        aliases = tuple(dict.fromkeys([*character.aliases, *(counts or {})]))
        if is_epithet(name, is_common):
            name = reader_name(aliases, text, is_common, counts or Counter()) or name
        renamed[char_id] = Character(
            id=char_id,
            name=name,
            aliases=tuple(alias for alias in aliases if alias != name),
            gender=character.gender,
            category=character.category,
        )
    return renamed


def reader_name(names, text: str, is_common, spoken: Counter | None = None) -> str | None:
    """The personal name among `names` a reader knows best, or None when all are epithets: the most
    used one (speaker column plus occurrences in the text), a full name ("Jonathan Small") before a
    partial one ("Small", "Mr. Small") whenever the text uses a full name at all. An alias used fewer
    than MIN_NAME_USES times ("Constable", said once) is not a name the reader knows."""
    spoken = spoken or Counter()
    usage = {name: spoken.get(name, 0) + _occurrences(text, name)
             for name in dict.fromkeys(names) if is_personal_name(name, is_common)}
    personal = [name for name, uses in usage.items() if uses >= MIN_NAME_USES]
    if not personal:
        return None
    full = [name for name in personal if is_full_name(name, is_common)]
    return max(full or personal, key=lambda name: (usage[name], len(name), name))


def common_word_test(text: str):
    """`is_common(word)`: True when the text writes `word` in lowercase ("a grey morning") at least half as
    often as capitalised inside a sentence ("said Grey"). Sentence openings say nothing either way."""
    lowercase = Counter(word for word in _TEXT_WORD.findall(text) if word[0].islower())
    capitalised = Counter(match.group() for match in _CAPITALISED_WORD.finditer(text)
                          if not _opens_sentence(text, match.start()))

    def is_common(word: str) -> bool:
        low = lowercase.get(word.lower(), 0)
        return low > 0 and 2 * low >= capitalised.get(word, 0)

    return is_common


def _opens_sentence(text: str, start: int) -> bool:
    index = start - 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    if index < 0:
        return True
    if text[index] == ".":  # "Mrs. Pegler", "St. Austrey", "E. W. B. Childers": an abbreviation ends no sentence
        word = _WORD_BEFORE_DOT.search(text, max(0, index - 12), index + 1)
        return word is None or not _is_abbreviation(word.group(1))
    return text[index] in _SENTENCE_OPENERS


def _is_abbreviation(word: str) -> bool:
    return (len(word) == 1 and word.isupper()) or word.casefold() in TITLE_WORDS | NAME_ABBREVIATIONS


def _occurrences(text: str, name: str) -> int:
    """How often `name` stands in the text as written, line breaks allowed between its words."""
    words = name.split()
    if not words:
        return 0
    pattern = r"\s+".join(re.escape(word) for word in words)
    return len(re.findall(rf"(?<!\w){pattern}(?!\w)", text))


# ---------------------------------------------------------------------------------------------
# Authors


def _front_matter(text: str, sections) -> str:
    """The title page: the text before the first chapter (the "front" section), at most HEADER_CHARS."""
    if sections is None:
        return text[:HEADER_CHARS]
    front = next((section for section in sections if section.id == "front"), None)
    return text[: min(front.span[1], HEADER_CHARS)] if front is not None else ""


def _header_author(front: str) -> str:
    for pattern in (_HEADER_AUTHOR, _HEADER_BY_ALONE):
        for match in pattern.finditer(front):
            name = " ".join(match.group("name").strip(" ,;").split())
            if name.endswith(".") and len(name.rsplit(" ", 1)[-1]) > 2:  # "by Jane Austen." (not "by J. R.")
                name = name[:-1]
            if _looks_like_author(name):
                return name.title() if name.isupper() else name
    return ""


def _looks_like_author(name: str) -> bool:
    """Two to six name words ("Jane Austen", "L. M. Montgomery", "PAUL LAURENCE DUNBAR"), not a phrase
    ("the author of Waverley") or a code ("DOYL": one capitalised word is too little to be a name)."""
    words = name.split()
    if not 2 <= len(words) <= 6 or len(name) > 80:
        return False
    return all(_AUTHOR_WORD.match(word) for word in words) and any(len(word.strip(".")) > 1 for word in words)


# ---------------------------------------------------------------------------------------------
# Quotations


def _quote_to_turn(
    row: dict[str, str], line: int, text: str, registry: AliasRegistry, stats: Counter, path: Path
) -> Turn:
    quote_id = (row["quoteID"] or "").strip() or f"line{line}"
    subs = [str(sub) for sub in parse_literal(row["subQuotationList"], path=path, line=line, column="subQuotationList")]
    spans = parse_literal(row["quoteByteSpans"], path=path, line=line, column="quoteByteSpans")
    if not subs or len(subs) != len(spans) or not all(_is_span(span) for span in spans):
        raise SourceError(
            f"quote {quote_id}: subQuotationList has {len(subs)} item(s) but quoteByteSpans is {row['quoteByteSpans'][:60]!r}",
            path=path,
            where=f"line {line}",
            fix="give one [start, end] pair of integers per sub-quotation",
        )
    parts, located = [], []
    for sub, span in zip(subs, spans):
        recovered, status = recover_span(text, sub, (int(span[0]), int(span[1])))
        stats[f"spans_{status}"] += 1
        parts.append(recovered)
        if status != "unrecovered":
            located.append(recovered)
    if not located:
        stats["quotes_unlocated"] += 1
    # The turn's span (and so its place in text order) comes from the parts that were found.
    bounds = located or parts
    label = " ".join((row["speaker"] or "").split())
    speaker = registry.resolve(label) if label else None
    if speaker is None:
        stats["speakers_unresolved"] += 1
    addressees = []
    for name in parse_literal(row["addressees"], path=path, line=line, column="addressees"):
        resolved = registry.resolve(str(name))
        if resolved is None:
            stats["addressees_unresolved"] += 1
        elif resolved not in addressees:
            addressees.append(resolved)
    meta = {"quote_type": _clean_cell(row.get("quoteType")), "referring_expression": _clean_cell(row.get("referringExpression"))}
    return Turn(
        id=quote_id,
        speaker=speaker,
        text=" ".join(sub.strip() for sub in subs),
        section=None,
        span=(min(start for start, _ in bounds), max(end for _, end in bounds)),
        label=label or None,
        parts=tuple(parts),
        addressees=tuple(addressees),
        mentions=_mentions(row, line, registry, stats, path),
        meta={key: value for key, value in meta.items() if value},
    )


def _check_usable(path: Path, turns: list[Turn], stats: Counter) -> None:
    """Refuse a quotation file no builder can use, while loading: a build then stops with exit 2
    before any request instead of paying for a corpus that cannot give a single record."""
    if not turns:
        raise SourceError("the file has a header and no rows", path=path,
                          fix="restore quotation_info.csv from the PDNC repository")
    if stats["quotes_unlocated"] == len(turns):
        raise SourceError(
            f"0 of {len(turns)} quotations could be located in the text",
            path=path,
            fix="quoteByteSpans must be character offsets into the novel_text.txt next to it: check that the "
            "two files belong to the same novel and edition",
        )
    if stats["speakers_unresolved"] == len(turns):
        raise SourceError(
            f"no speaker is known: none of the {len(turns)} quotations names a speaker found in character_info.csv",
            path=path,
            fix="fill the speaker column with names or aliases from character_info.csv of the same novel",
        )


def _mentions(row: dict[str, str], line: int, registry: AliasRegistry, stats: Counter, path: Path) -> tuple[Mention, ...]:
    if not all(column in row for column in MENTION_COLUMNS):
        return ()
    texts, spans, entities = (
        parse_literal(row[column], path=path, line=line, column=column) for column in MENTION_COLUMNS
    )
    mentions = []
    # Each column holds one list per sub-quotation; flatten them in step.
    for sub_texts, sub_spans, sub_entities in zip(texts, spans, entities):
        for mention_text, span, names in zip(sub_texts, sub_spans, sub_entities):
            ids = []
            for name in names if isinstance(names, (list, tuple, set)) else [names]:
                resolved = registry.resolve(str(name))
                if resolved is None:
                    stats["mention_entities_unresolved"] += 1
                elif resolved not in ids:
                    ids.append(resolved)
            if _is_span(span):
                mentions.append(Mention(text=str(mention_text), span=(int(span[0]), int(span[1])), characters=tuple(ids)))
    return tuple(mentions)


def _assign_sections(turns: list[Turn], sections: list[Section]) -> list[Turn]:
    starts = [section.span[0] for section in sections]
    assigned = []
    for turn in turns:
        index = bisect_right(starts, turn.span[0]) - 1
        section = sections[index].id if index >= 0 else None
        assigned.append(replace(turn, section=section))
    return assigned


def _with_repaired_text(turn: Turn, stats: Counter) -> Turn:
    repaired = repair_lost_apostrophes(turn.text)
    if repaired == turn.text:
        return turn
    stats["apostrophes_repaired_quotes"] += 1
    return replace(turn, repaired_text=repaired)


# ---------------------------------------------------------------------------------------------
# Small helpers


def _nearest(matches, offset: int, target: int) -> Span | None:
    best = None
    for match in matches:
        span = (offset + match.start(), offset + match.end())
        if best is None or abs(span[0] - target) < abs(best[0] - target):
            best = span
    return best


def _is_span(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in value)
        and 0 <= value[0] <= value[1]
    )


def _clean_cell(value: str | None) -> str:
    value = (value or "").strip()
    return "" if value in ("nan", "None") else value


def _split_camel_case(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def _no_novels_found(data_dir: Path) -> str:
    """Said only when no sub-folder holds a novel, listing the sub-folders that are there."""
    folders = sorted(path.name for path in data_dir.iterdir() if path.is_dir())
    if not folders:
        return f"{data_dir} holds no PDNC novel folders (it has no sub-folders)"
    listed = ", ".join(folders[:10]) + (", ..." if len(folders) > 10 else "")
    return (f"{data_dir} holds no PDNC novel folders: none of its {len(folders)} sub-folder(s) ({listed}) holds "
            "quotation_info.csv")


def _license_note(folder_name: str, index: dict[str, str]) -> str:
    year = index.get("Year of First Publication", "").split(".")[0]
    published = f"first published {year}" if year else "publication year unknown"
    status = (
        "public domain in the USA (pre-1930 publication; on the project's checked list, assumption recorded)"
        if folder_name in PUBLIC_DOMAIN_NOVELS
        else "not on the project's checked public-domain list: its licence is the one the user declares for the "
        "release (--license), and redistributing it is the user's responsibility"
    )
    return (
        f"Novel text ({published}): {status}. Speaker annotations: PDNC (Vishnubhotla, Hammond and Hirst, "
        "LREC 2022); the repository publishes no licence file, so check its terms before redistributing labels."
    )


def _meta(folder_name: str, index: dict[str, str]) -> dict[str, str]:
    meta = {
        "pdnc_folder": folder_name,
        "novel_code": index.get("Novel Code", ""),
        "gutenberg_url": index.get("Source", "") if index.get("Source", "").startswith("http") else "",
        "year": index.get("Year of First Publication", "").split(".")[0],
        "public_domain_allow_list": "yes" if folder_name in PUBLIC_DOMAIN_NOVELS else "no",  # informational
        "licence_basis": LICENCE_CHECKED if folder_name in PUBLIC_DOMAIN_NOVELS else LICENCE_USER_DECLARED,
    }
    return {key: value for key, value in meta.items() if value}

