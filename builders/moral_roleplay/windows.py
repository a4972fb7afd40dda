"""Scenes cut from a source that knows its speakers: play and script scenes, PDNC quote groups.

Scene boundaries and the spoken words come from the source (spec Step B, source-specific
shortcuts); no LLM is involved here.

- Plays and scripts: every section (`### SCENE`) is one scene; a long one is cut into consecutive
  windows of `min_turns`-`max_turns` speeches (about `target_turns` each). Stage directions inside a
  window become Environment lines; directions inside a speech ("Aside") become its `(action)`s.
- PDNC novels: the annotated quotes in text order, grouped into scenes at chapter breaks and at
  narration gaps longer than `gap_chars`; the narration between two quotes of a scene becomes an
  Environment line (its first sentences, verbatim).

A scene's key characters are its named speakers with at least two speeches (the most frequent
first, at most `max_key`); generic, collective and joint labels ("Messenger", "All") never are.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass

from builders.sources import Turn, Work

MIN_TURNS, MAX_TURNS, TARGET_TURNS = 9, 32, 12
PDNC_GAP_CHARS = 1500  # spec §14 default: a narration gap longer than this starts a new scene
MAX_KEY_CHARACTERS = 3
KEY_MIN_TURNS = 2
NARRATION_MIN_CHARS = 80  # shorter narration between quotes ("said she") is not an Environment line
NARRATION_MAX_SENTENCES = 3
OPENING_LOOKBACK_CHARS = 1000  # narration read back from a novel scene's first quote for its opening line
EXCLUDED_CATEGORIES = ("generic", "collective", "joint")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’]?\s+")


@dataclass(frozen=True)
class SourceLine:
    kind: str  # "speech" | "environment"
    speaker_id: str | None  # character id for speech, None for environment
    speaker: str  # display name, or "Environment"
    text: str  # speech: the spoken words exactly as in the source; environment: direction or narration
    span: tuple[int, int]  # into Work.text
    actions: tuple[str, ...] = ()  # stage directions inside a speech
    turn_id: str | None = None


@dataclass(frozen=True)
class SourceScene:
    work_id: str
    book: str
    author: str
    kind: str  # the work's kind: play | novel | script
    license: str
    section_id: str
    chapter: str  # the section's title
    i_p: int  # position of the section among the work's sections that gave scenes
    i_c: int  # window number inside the section
    span: tuple[int, int]
    lines: tuple[SourceLine, ...]
    key_ids: tuple[str, ...]  # key characters (character ids), most speeches first

    @property
    def case_key(self) -> str:
        return f"{self.book}-{self.i_p}-{self.i_c}"

    def speeches(self) -> list[SourceLine]:
        return [line for line in self.lines if line.kind == "speech"]


@dataclass
class Windowing:
    scenes: list[SourceScene]
    skipped: Counter  # reason -> count (sections or groups that gave no scene)


def window_bounds(count: int, *, min_turns: int = MIN_TURNS, max_turns: int = MAX_TURNS,
                  target: int = TARGET_TURNS) -> list[tuple[int, int]]:
    """Cut `count` consecutive speeches into near-equal windows of min_turns..max_turns (about
    `target` each). Returns [(start, end)] index pairs; [] when count < min_turns."""
    if count < min_turns:
        return []
    windows = max(1, round(count / target), math.ceil(count / max_turns))
    windows = min(windows, count // min_turns)
    cuts = [round(i * count / windows) for i in range(windows + 1)]
    return list(itertools.pairwise(cuts))


def key_characters(work: Work, speeches: list[SourceLine], *, max_key: int = MAX_KEY_CHARACTERS) -> tuple[str, ...]:
    counts = Counter(line.speaker_id for line in speeches)
    first = {}
    for position, line in enumerate(speeches):
        first.setdefault(line.speaker_id, position)
    eligible = [c for c, n in counts.items() if n >= KEY_MIN_TURNS
                and work.characters[c].category not in EXCLUDED_CATEGORIES]
    chosen, names = [], set()
    for char_id in sorted(eligible, key=lambda c: (-counts[c], first[c])):
        if work.characters[char_id].name not in names:  # one display name, one key character
            chosen.append(char_id)
            names.add(work.characters[char_id].name)
    return tuple(chosen[:max_key])


def scenes_of(work: Work, *, min_turns: int = MIN_TURNS, max_turns: int = MAX_TURNS, target: int = TARGET_TURNS,
              gap_chars: int = PDNC_GAP_CHARS) -> Windowing:
    """Every scene window of a work, in text order."""
    if work.kind == "novel":
        groups = _quote_groups(work, gap_chars)
    else:
        groups = [(section.id, [t for t in work.turns_in(section.id) if t.speaker is not None])
                  for section in work.sections]
    titles = {section.id: section.title for section in work.sections}
    result = Windowing(scenes=[], skipped=Counter())
    plot_index = 0
    for section_id, turns in groups:
        bounds = window_bounds(len(turns), min_turns=min_turns, max_turns=max_turns, target=target)
        if not bounds:
            result.skipped["too few speeches"] += 1 if turns else 0
            continue
        made = 0
        for start, end in bounds:
            scene = _scene(work, section_id, titles.get(section_id, section_id), turns[start:end],
                           previous_end=turns[start - 1].span[1] if start else None, i_p=plot_index, i_c=made)
            if scene.key_ids:
                result.scenes.append(scene)
                made += 1
            else:
                result.skipped["no named speaker with 2+ speeches"] += 1
        plot_index += 1 if made else 0
    return result


def _quote_groups(work: Work, gap_chars: int) -> list[tuple[str, list[Turn]]]:
    groups: list[tuple[str, list[Turn]]] = []
    for turn in work.turns:
        if turn.speaker is None or turn.speaker not in work.characters:
            continue
        if groups:
            section, members = groups[-1]
            if section == turn.section and turn.span[0] - members[-1].span[1] <= gap_chars:
                members.append(turn)
                continue
        groups.append((turn.section or "all", [turn]))
    return groups


def _scene(work: Work, section_id: str, chapter: str, turns: list[Turn], *, previous_end: int | None,
           i_p: int, i_c: int) -> SourceScene:
    speeches = [_speech(work, turn) for turn in turns]
    if work.kind == "novel":
        environment = _narration(work, turns)
        if not environment:  # quotes back to back: the narration that leads into the scene sets it
            section = next((s for s in work.sections if s.id == section_id), None)
            floor = max(previous_end or 0, section.span[0] if section else 0)
            environment = [line for line in (_opening(work, turns[0], floor),) if line is not None]
    else:
        section = next((s for s in work.sections if s.id == section_id), None)
        start = previous_end if previous_end is not None else (section.span[0] if section else turns[0].span[0])
        environment = [SourceLine("environment", None, "Environment", d.text, d.span)
                       for d in work.directions if d.section == section_id and start <= d.span[0] < turns[-1].span[1]]
    lines = tuple(sorted(speeches + environment, key=lambda line: line.span))
    return SourceScene(work_id=work.id, book=work.title, author=work.author, kind=work.kind, license=work.license,
                       section_id=section_id, chapter=chapter, i_p=i_p, i_c=i_c,
                       span=(lines[0].span[0], turns[-1].span[1]), lines=lines,
                       key_ids=key_characters(work, speeches))


def _speech(work: Work, turn: Turn) -> SourceLine:
    return SourceLine("speech", turn.speaker, work.characters[turn.speaker].name, turn.text, turn.span,
                      actions=tuple(turn.directions), turn_id=turn.id)


def _opening(work: Work, first: Turn, floor: int) -> SourceLine | None:
    """The last sentences of the narration just before a scene's first quote (not before `floor`:
    the previous quote or the chapter's start), verbatim, as its opening Environment line."""
    start = max(floor, first.span[0] - OPENING_LOOKBACK_CHARS)
    text = " ".join(work.text[start:first.span[0]].split()).strip(" \"'“”‘’,")
    sentences = [sentence for sentence in _SENTENCE_END.split(text) if sentence.strip()]
    if start > floor and len(sentences) > 1:
        sentences = sentences[1:]  # the lookback began mid-sentence
    excerpt = " ".join(sentences[-NARRATION_MAX_SENTENCES:]).strip()
    if len(excerpt) < NARRATION_MIN_CHARS:
        return None
    return SourceLine("environment", None, "Environment", excerpt, (start, first.span[0]))


def _narration(work: Work, turns: list[Turn]) -> list[SourceLine]:
    """The first sentences of the narration between consecutive quotes, verbatim, as Environment lines."""
    lines = []
    for before, after in itertools.pairwise(turns):
        gap = work.text[before.span[1]:after.span[0]]
        text = " ".join(gap.split()).strip(" \"'“”‘’,")
        if len(text) < NARRATION_MIN_CHARS:
            continue
        sentences = _SENTENCE_END.split(text)
        excerpt = " ".join(sentences[:NARRATION_MAX_SENTENCES]).strip()
        lines.append(SourceLine("environment", None, "Environment", excerpt, (before.span[1], after.span[0])))
    return lines
