"""Chapter/act-aware segmentation of a `Work` into chunks that fit a model's context.

Rules, in order of precedence:
1. A cut never falls inside a turn (a PDNC turn spans all its sub-quotations and the narration
   between them), so every turn lies in exactly one chunk.
2. Sections are respected: consecutive whole sections are joined while they fit (plays: only
   scenes of the same act), and a section too long for one chunk is cut at paragraph breaks
   inside it; a piece of one section is never joined with another section.
3. A chunk holds at most `max_chars` characters, except when a single turn is longer than that
   (it cannot be cut); such a chunk is flagged `oversized`.

The size comes from a token estimate (characters per token), not a tokenizer: chunks only need
to fit a context window with room to spare, and the estimate keeps this module free of
model-specific dependencies.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from builders.sources import Section, Turn, Work

# Literary English with archaic spelling tokenizes at roughly 3.5-4 characters a token; the
# lower figure keeps chunks safely inside the window.
CHARS_PER_TOKEN = 3.5
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
FRONT_MATTER_MAX_WORDS = 200  # a leading "front" section this short is a title page, not story


@dataclass(frozen=True)
class Chunk:
    work_id: str
    index: int  # position in the work, from 0
    section_ids: tuple[str, ...]  # the sections it covers (one when it is a piece of a section)
    span: tuple[int, int]  # into Work.text
    text: str
    turns: tuple[Turn, ...]  # the work's turns inside the span, in text order
    oversized: bool = False  # a single turn longer than the budget made it exceed max_chars


def estimate_tokens(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN) + 1


def chars_for_tokens(tokens: int) -> int:
    return int(tokens * CHARS_PER_TOKEN)


def chunk_work(work: Work, *, max_chars: int) -> list[Chunk]:
    """Cut `work` into chunks of at most `max_chars` characters (see the module rules)."""
    if max_chars < 200:
        raise ValueError(f"max_chars={max_chars} is too small to hold a scene; use at least 200")
    sections = _story_sections(work)
    pieces: list[tuple[tuple[str, ...], tuple[int, int]]] = []
    group: list[Section] = []
    for section in sections:
        if group and (_joined_length(group, section) > max_chars or not _same_act(work, group[-1], section)):
            pieces.append(_whole(group))
            group = []
        if _length(section.span) > max_chars:
            pieces.extend(((section.id,), span) for span in _split_span(work, section.span, max_chars))
        else:
            group.append(section)
    if group:
        pieces.append(_whole(group))
    return [_make_chunk(work, index, ids, span, max_chars) for index, (ids, span) in enumerate(pieces)]


def _story_sections(work: Work) -> list[Section]:
    """The work's sections, or one section over the whole text when the loader found none;
    a short leading front-matter section (title page) is dropped."""
    sections = list(work.sections) or [Section(id="all", title=work.title, span=(0, len(work.text)))]
    first = sections[0]
    if len(sections) > 1 and first.id == "front":
        words = len(work.text[first.span[0]:first.span[1]].split())
        if words <= FRONT_MATTER_MAX_WORDS and not any(t.section == "front" for t in work.turns):
            sections = sections[1:]
    return sections


def _same_act(work: Work, previous: Section, section: Section) -> bool:
    """Plays join scenes only within one act; novels join any consecutive chapters."""
    if work.kind not in ("play", "script"):
        return True
    return previous.id.split(".")[0] == section.id.split(".")[0]


def _length(span: tuple[int, int]) -> int:
    return span[1] - span[0]


def _joined_length(group: list[Section], section: Section) -> int:
    return section.span[1] - group[0].span[0]


def _whole(group: list[Section]) -> tuple[tuple[str, ...], tuple[int, int]]:
    return tuple(s.id for s in group), (group[0].span[0], group[-1].span[1])


def _split_span(work: Work, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    """Cut one long section at paragraph breaks outside every turn, greedily filling each piece."""
    start, end = span
    turn_starts = [t.span[0] for t in work.turns]
    cuts = [c for c in _paragraph_cuts(work.text, start, end) if not _inside_turn(work.turns, turn_starts, c)]
    pieces = []
    while end - start > max_chars:
        fitting = [c for c in cuts if start < c <= start + max_chars]
        cut = fitting[-1] if fitting else next((c for c in cuts if c > start), end)
        pieces.append((start, cut))
        start = cut
    if end > start:
        pieces.append((start, end))
    return [p for p in pieces if work.text[p[0]:p[1]].strip()]


def _paragraph_cuts(text: str, start: int, end: int) -> list[int]:
    """Offsets just after each blank line inside [start, end): where a new paragraph begins."""
    return [m.end() for m in _PARAGRAPH_BREAK.finditer(text, start, end) if start < m.end() < end]


def _inside_turn(turns: tuple[Turn, ...], turn_starts: list[int], offset: int) -> bool:
    """Whether `offset` falls strictly inside a turn (turns are in text order and do not nest)."""
    before = bisect.bisect_left(turn_starts, offset) - 1
    return before >= 0 and turns[before].span[1] > offset


def _make_chunk(work: Work, index: int, section_ids: tuple[str, ...], span: tuple[int, int],
                max_chars: int) -> Chunk:
    turns = tuple(t for t in work.turns if span[0] <= t.span[0] and t.span[1] <= span[1])
    return Chunk(work_id=work.id, index=index, section_ids=section_ids, span=span,
                 text=work.text[span[0]:span[1]], turns=turns, oversized=_length(span) > max_chars)
