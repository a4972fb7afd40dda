"""Section structure shared by the loaders: chapters of novels, acts and scenes of plays and scripts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from builders.sources import Section

_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
NUMBER_WORDS = {
    word: n
    for n, words in enumerate(
        [
            ("one", "first"), ("two", "second"), ("three", "third"), ("four", "fourth"), ("five", "fifth"),
            ("six", "sixth"), ("seven", "seventh"), ("eight", "eighth"), ("nine", "ninth"), ("ten", "tenth"),
            ("eleven", "eleventh"), ("twelve", "twelfth"),
        ],
        start=1,
    )
    for word in words
}


def parse_number(token: str) -> int | None:
    """ "12", "XII", "twelve", "Twelfth" -> 12; anything else -> None."""
    token = token.strip().rstrip(".").lower()
    if token.isdigit():
        return int(token)
    if token in NUMBER_WORDS:
        return NUMBER_WORDS[token]
    if token and all(ch in _ROMAN_VALUES for ch in token):
        total = 0
        for ch, nxt in zip(token, token[1:] + " "):
            value = _ROMAN_VALUES[ch]
            total += -value if nxt in _ROMAN_VALUES and _ROMAN_VALUES[nxt] > value else value
        return total if total > 0 else None
    return None


# ---------------------------------------------------------------------------------------------
# Novels: chapter headings

_NUMBER = r"(?:\d+|[IVXLCDM]+|[A-Za-z]+)"
_CHAPTER = re.compile(rf"^[ \t]*(?:CHAPTER|Chapter)[ \t]+(?P<num>{_NUMBER})\b\.?(?P<rest>[^\n]{{0,80}})$")
_PART = re.compile(
    rf"^[ \t]*(?:PART|Part|BOOK|Book|VOLUME|Volume)[ \t]+(?:(?:THE|the)[ \t]+)?(?P<num>{_NUMBER})[ \t]*\.?[ \t]*$"
)
_BARE_NUMERAL = re.compile(r"^[ \t]*(?P<num>[IVXLC]+)\.?[ \t]*$")


@dataclass(frozen=True)
class _Heading:
    level: str  # "chapter" or "part"
    start: int
    title: str


def detect_chapters(text: str) -> list[Section]:
    """Sections of a novel, one per chapter (or per part when a book has no chapters).

    Recognised headings stand on their own line after a blank line: "CHAPTER I.", "Chapter 12",
    "CHAPTER IV. Title", a bare roman numeral that continues the numbering ("XIX."), and the
    part-level "PART I", "BOOK THE FIRST", "VOLUME II". Text before the first heading becomes a
    "front" section; the sections cover the whole text without gaps.
    """
    headings = _find_headings(text)
    chapters = [h for h in headings if h.level == "chapter"]
    parts = [h for h in headings if h.level == "part"]
    chosen = chapters or parts
    prefix = "ch" if chapters else "part"
    sections: list[Section] = []
    first_start = chosen[0].start if chosen else len(text)
    if text[:first_start].strip():
        sections.append(Section(id="front", title="Front matter", span=(0, first_start)))
    for number, heading in enumerate(chosen, start=1):
        end = chosen[number].start if number < len(chosen) else len(text)
        title = heading.title
        if chapters and parts:
            part = _last_before(parts, heading.start)
            if part is not None:
                title = f"{part.title}, {heading.title}"
        sections.append(Section(id=f"{prefix}{number}", title=title, span=(heading.start, end)))
    return sections


def _find_headings(text: str) -> list[_Heading]:
    headings: list[_Heading] = []
    last_numeral = 0  # value of the last lone-numeral chapter heading
    part_since_numeral = True  # a part heading may restart lone-numeral numbering at I
    previous_blank = True
    offset = 0
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if previous_blank and line.strip():
            start = offset + len(line) - len(line.lstrip())
            title = " ".join(line.split())
            chapter, part, numeral = _CHAPTER.match(line), _PART.match(line), _BARE_NUMERAL.match(line)
            next_blank = index + 1 >= len(lines) or not lines[index + 1].strip()
            if chapter and parse_number(chapter.group("num")) is not None:
                headings.append(_Heading("chapter", start, title))
            elif part and parse_number(part.group("num")) is not None:
                headings.append(_Heading("part", start, title))
                part_since_numeral = True
            elif numeral and next_blank:
                value = parse_number(numeral.group("num"))
                # A lone numeral is a heading only when it continues the numbering, so a line
                # of dialogue reading "I" cannot start a false chapter.
                if value == last_numeral + 1 or (value == 1 and part_since_numeral):
                    headings.append(_Heading("chapter", start, title))
                    last_numeral, part_since_numeral = value, False
        previous_blank = not line.strip()
        offset += len(line) + 1
    return headings


def _last_before(headings: list[_Heading], position: int) -> _Heading | None:
    before = [h for h in headings if h.start <= position]
    return before[-1] if before else None


# ---------------------------------------------------------------------------------------------
# Plays and scripts: acts and scenes


class SceneTracker:
    """Turns act/scene headings met in reading order into Sections with stable ids.

    Ids: "1.2" for act 1 scene 2, "0.prologue" / "2.prologue" / "5.epilogue" for the other
    divisions, "1.0" for text that follows an act heading before any scene heading. Offsets are
    positions in the text being built; `finish` closes the last section at the end of the text.
    """

    def __init__(self) -> None:
        self.act = 0
        self.act_title = ""
        self._open: list[tuple[str, str, int]] = []  # (id, title, start)
        self._current: str | None = None
        self._scene_count = 0

    def start_act(self, number: int | None, title: str) -> None:
        self.act = number if number is not None else self.act + 1
        self.act_title = title
        self._current = None
        self._scene_count = 0

    def start_scene(self, number: int | None, title: str, offset: int) -> str:
        self._scene_count = number if number is not None else self._scene_count + 1
        full_title = f"{self.act_title}, {title}" if self.act_title else title
        return self._open_section(f"{self.act}.{self._scene_count}", full_title, offset)

    def start_division(self, name: str, title: str, offset: int) -> str:
        """Prologue, epilogue, induction, intermission: a section of their own."""
        full_title = f"{self.act_title}, {title}" if self.act_title else title
        return self._open_section(f"{self.act}.{name.lower()}", full_title, offset)

    def append_to_title(self, extra: str) -> None:
        """Add a place line that the source printed apart from its scene heading."""
        if self._open:
            section_id, title, start = self._open[-1]
            self._open[-1] = (section_id, f"{title} {extra}".strip(), start)

    def current(self, offset: int) -> str:
        """The section text at `offset` belongs to, opening an act-level one if no scene is open."""
        if self._current is None:
            title = self.act_title or "Opening"
            return self._open_section(f"{self.act}.0", title, offset)
        return self._current

    def finish(self, end: int) -> list[Section]:
        sections = []
        for index, (section_id, title, start) in enumerate(self._open):
            stop = self._open[index + 1][2] if index + 1 < len(self._open) else end
            sections.append(Section(id=section_id, title=title, span=(start, stop)))
        return sections

    def _open_section(self, section_id: str, title: str, offset: int) -> str:
        taken = {existing for existing, _, _ in self._open}
        unique, suffix = section_id, 2
        while unique in taken:
            unique, suffix = f"{section_id}-{suffix}", suffix + 1
        self._open.append((unique, title, offset))
        self._current = unique
        return unique
