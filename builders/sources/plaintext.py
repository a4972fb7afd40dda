"""Plain-text plays and transcripts with `NAME: words` speaker lines.

    # Act 1                      <- a heading ("# ...", "ACT I", "SCENE 2. A room") starts a section
    ## Scene 1
    [A kitchen. Enter ANNA.]     <- a line in brackets (or parentheses) is a stage direction
    ANNA: Where is everyone?     <- a speaker line
    I thought they'd be back.    <- a continuation line: still Anna
    BEN: [laughing] Out.         <- bracketed text inside a speech is a direction, not speech

`Work.text` is the file's text (line endings normalised to "\\n"); spans point into it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from builders.sources import Character, SourceError, Turn, Work
from builders.sources.aliases import display_label, group_label_variants, label_category
from builders.sources.sections import SceneTracker, parse_number

# A speaker is 1-5 words starting with a capital letter, at most 40 characters, before a colon.
_SPEAKER = re.compile(r"^(?P<name>[A-Z][\w.'’-]*(?:[ \t]+[\w.'’&-]+){0,4})[ \t]*:[ \t]*(?P<rest>.*)$")
_MARKDOWN_HEADING = re.compile(r"^#+[ \t]*(?P<text>.+?)[ \t]*$")
_ACT = re.compile(r"^(?:ACT|Act)[ \t]+(?P<num>[IVXLC]+|\d+|[A-Za-z]+)\b\.?[ \t]*(?P<rest>.*)$")
_SCENE = re.compile(r"^(?:SCENE|Scene)[ \t]+(?P<num>[IVXLC]+|\d+|[A-Za-z]+)\b\.?[ \t]*(?P<rest>.*)$")
_WHOLE_LINE_DIRECTION = re.compile(r"^[ \t]*(?:\[(?P<square>[^\]]*)\]|\((?P<round>[^)]*)\))[ \t]*$")
_INLINE_DIRECTION = re.compile(r"\[([^\]]*)\]")
MAX_SPEAKER_CHARS = 40


@dataclass
class _Speech:
    label: str
    section: str
    pieces: list[tuple[int, int]] = field(default_factory=list)  # spans of spoken text
    directions: list[str] = field(default_factory=list)
    line: int = 0


def load_script(path: Path, *, title: str | None = None) -> Work:
    """Load a `NAME: line` script or transcript as a Work (kind "script")."""
    path = Path(path)
    text = _read(path)
    tracker = SceneTracker()
    speeches: list[_Speech] = []
    directions: list[Turn] = []
    current: _Speech | None = None
    found_title = title
    offset = 0
    for line_no, line in enumerate(text.split("\n"), start=1):
        line_start, offset = offset, offset + len(line) + 1
        if not line.strip():
            continue
        heading = _heading(line)
        if heading is not None:
            kind, number, heading_title = heading
            if kind == "title" and found_title is None and not speeches:
                found_title = heading_title
            elif kind == "act":
                tracker.start_act(number, heading_title)
            else:
                tracker.start_scene(number, heading_title, line_start)
            current = None
            continue
        whole = _WHOLE_LINE_DIRECTION.match(line)
        if whole:
            inner = whole.group("square") if whole.group("square") is not None else whole.group("round")
            start = line_start + line.index(inner) if inner else line_start
            section = tracker.current(line_start)
            directions.append(
                Turn(id=f"d{len(directions) + 1}", speaker=None, text=inner.strip(), section=section,
                     span=(start, start + len(inner)), kind="direction")
            )
            continue
        speaker = _SPEAKER.match(line)
        if speaker and len(speaker.group("name")) <= MAX_SPEAKER_CHARS:
            current = _Speech(label=" ".join(speaker.group("name").split()), section=tracker.current(line_start), line=line_no)
            speeches.append(current)
            _add_spoken(current, line, line_start, speaker.start("rest"))
        elif current is not None:
            _add_spoken(current, line, line_start, 0)
        else:
            # Text before any speaker (a cast list, a preface) is not anyone's speech.
            directions.append(
                Turn(id=f"d{len(directions) + 1}", speaker=None, text=line.strip(), section=tracker.current(line_start),
                     span=(line_start + len(line) - len(line.lstrip()), line_start + len(line.rstrip())), kind="direction")
            )
    speeches = [speech for speech in speeches if speech.pieces]
    if not speeches:
        raise SourceError(
            "no speaker lines found", path=path, fix="write each speech as `NAME: words` at the start of a line"
        )
    characters, label_to_id = _characters(speeches)
    turns = _turns(speeches, text, label_to_id)
    return Work(
        id=f"script-{re.sub(r'[^a-z0-9]+', '-', path.stem.lower()).strip('-')}",
        title=found_title or path.stem,
        author="",
        kind="script",
        license="unknown: set by the caller",
        source=str(path),
        text=text,
        characters=characters,
        turns=tuple(turns),
        sections=tuple(tracker.finish(len(text))),
        directions=tuple(directions),
        load_stats={"speeches": len(turns), "stage_directions": len(directions)},
    )


def _read(path: Path) -> str:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError("file not found", path=path, fix="check the path of the script") from None
    except UnicodeDecodeError as error:
        raise SourceError(f"not UTF-8 text (byte {error.start})", path=path, fix="re-save the file as UTF-8") from None
    except OSError as error:  # a folder, no permission, an I/O error
        raise SourceError(f"cannot be read ({error.strerror or error})", path=path,
                          fix="pass a readable text file with `NAME: words` lines") from None
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise SourceError("the script is empty", path=path, fix="pass a file with `NAME: words` lines")
    return text


def _heading(line: str) -> tuple[str, int | None, str] | None:
    """("title" | "act" | "scene", number, title) for a heading line, else None."""
    markdown = _MARKDOWN_HEADING.match(line)
    body = markdown.group("text") if markdown else line.strip()
    if act := _ACT.match(body):
        if parse_number(act.group("num")) is not None:
            return "act", parse_number(act.group("num")), body
    if scene := _SCENE.match(body):
        if parse_number(scene.group("num")) is not None:
            return "scene", parse_number(scene.group("num")), body
    if markdown:
        return "title", None, body
    return None


def _add_spoken(speech: _Speech, line: str, line_start: int, column: int) -> None:
    """Record the spoken parts of `line` from `column` on; bracketed parts become directions."""
    cursor = column
    for match in _INLINE_DIRECTION.finditer(line, column):
        _add_piece(speech, line, line_start, cursor, match.start())
        speech.directions.append(match.group(1).strip())
        cursor = match.end()
    _add_piece(speech, line, line_start, cursor, len(line))


def _add_piece(speech: _Speech, line: str, line_start: int, begin: int, end: int) -> None:
    piece = line[begin:end]
    if piece.strip():
        start = line_start + begin + len(piece) - len(piece.lstrip())
        speech.pieces.append((start, start + len(piece.strip())))


def _characters(speeches: list[_Speech]) -> tuple[dict[str, Character], dict[str, str]]:
    counts = Counter(speech.label for speech in speeches)
    canonical = group_label_variants(counts)
    characters: dict[str, Character] = {}
    label_to_id: dict[str, str] = {}
    for label in counts:  # first-appearance order keeps ids stable
        head = canonical[label]
        char_id = re.sub(r"[^a-z0-9]+", "-", head.lower()).strip("-") or "speaker"
        if char_id not in characters:
            members = [other for other in counts if canonical[other] == head]
            name = display_label(head)
            characters[char_id] = Character(
                id=char_id,
                name=name,
                aliases=tuple(dict.fromkeys(m for m in [head, *members] if m != name)),
                # Scripts write names in any case, so only joint and collective labels are told apart.
                category=label_category(head) if label_category(head) in ("joint", "collective") else "named",
            )
        label_to_id[label] = char_id
    return characters, label_to_id


def _turns(speeches: list[_Speech], text: str, label_to_id: dict[str, str]) -> list[Turn]:
    turns = []
    numbers: Counter[str] = Counter()
    for speech in speeches:
        numbers[speech.section] += 1
        spoken = text[speech.pieces[0][0] : speech.pieces[0][1]]
        for (_, previous_end), (start, end) in zip(speech.pieces, speech.pieces[1:]):
            joiner = "\n" if "\n" in text[previous_end:start] else " "
            spoken += joiner + text[start:end]
        turns.append(
            Turn(
                id=f"{speech.section}.{numbers[speech.section]}",
                speaker=label_to_id[speech.label],
                text=spoken,
                section=speech.section,
                span=(speech.pieces[0][0], speech.pieces[-1][1]),
                label=speech.label,
                directions=tuple(speech.directions),
                meta={"line": str(speech.line)},
            )
        )
    return turns
