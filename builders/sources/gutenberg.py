"""Project Gutenberg books by numeric id: downloaded once, cached with a sha256 checksum.

The plain-text file is fetched from `<base_url>/<id>/pg<id>.txt` (the layout of gutenberg.org's
`cache/epub` tree and of its mirrors; a `file://` base URL serves local copies). Requests are spaced
at least MIN_SECONDS_BETWEEN_REQUESTS apart, as Project Gutenberg's robot policy asks. The licence
header and footer are cut at the "*** START OF" / "*** END OF" marker lines, line endings are
normalised, and chapter headings become sections. Books carry no speaker annotations: `turns` is
empty and speakers come later from an extraction step.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from builders.sources import SourceError, Work
from builders.sources.sections import detect_chapters

DEFAULT_BASE_URL = "https://www.gutenberg.org/cache/epub"
MIN_SECONDS_BETWEEN_REQUESTS = 2.0
USER_AGENT = "roleplay-tom-toolkit (one-off download of public-domain texts)"

_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK.*$", re.IGNORECASE | re.MULTILINE)
_OLD_END = re.compile(r"^End of (?:the )?Project Gutenberg'?s? .*$", re.IGNORECASE | re.MULTILINE)
_HEADER_FIELD = re.compile(r"^(?P<key>Title|Author|Language|Release Date):\s*(?P<value>.+?)\s*$", re.MULTILINE)

_last_request_at = 0.0


def load_book(book_id: int | str, cache_dir: Path, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0) -> Work:
    """One Gutenberg book as a Work (kind "novel", no turns), from the cache or the network."""
    number = _book_number(book_id)
    raw, record = fetch_book(number, Path(cache_dir), base_url=base_url, timeout=timeout)
    header = parse_header(raw)
    text = strip_boilerplate(raw, source=record["url"])
    return Work(
        id=f"gutenberg-{number}",
        title=header.get("Title", f"Project Gutenberg #{number}"),
        author=header.get("Author", ""),
        kind="novel",
        license="Public domain in the USA (Project Gutenberg); the Project Gutenberg licence text is removed",
        source=record["url"],
        text=text,
        characters={},
        turns=(),
        sections=tuple(detect_chapters(text)),
        meta={"gutenberg_id": str(number), "url": record["url"], "sha256": record["sha256"],
              **({"language": header["Language"]} if "Language" in header else {})},
    )


def fetch_book(number: int, cache_dir: Path, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 60.0) -> tuple[str, dict]:
    """The raw text of book `number` and its cache record {"id", "url", "sha256", "bytes"}."""
    folder = cache_dir / "gutenberg"
    text_path, record_path = folder / f"{number}.txt", folder / f"{number}.json"
    if text_path.is_file() and record_path.is_file():
        payload, record = text_path.read_bytes(), json.loads(record_path.read_text(encoding="utf-8"))
        if hashlib.sha256(payload).hexdigest() != record.get("sha256"):
            raise SourceError(
                "the cached copy does not match its recorded sha256 checksum",
                path=text_path,
                fix=f"delete {text_path.name} and {record_path.name} to download the book again",
            )
        return _decode(payload), record
    url = f"{base_url.rstrip('/')}/{number}/pg{number}.txt"
    payload = _download(url, timeout)
    record = {"id": number, "url": url, "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    folder.mkdir(parents=True, exist_ok=True)
    partial = text_path.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.replace(text_path)
    record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return _decode(payload), record


def strip_boilerplate(raw: str, *, source: str = "") -> str:
    """The book between the "*** START OF" and "*** END OF" lines, with "\\n" line endings."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    if start is None:
        raise SourceError(
            'no "*** START OF THE PROJECT GUTENBERG EBOOK" line found',
            path=source or None,
            fix="pass a Project Gutenberg plain-text (.txt) file; check the book id and the base URL",
        )
    body_start = start.end() + 1
    ends = [match.start() for pattern in (_END, _OLD_END) for match in [pattern.search(text, body_start)] if match]
    body = text[body_start : min(ends) if ends else len(text)]
    return body.strip("\n") + "\n"


def parse_header(raw: str) -> dict[str, str]:
    """Title, Author, Language, Release Date from the header above the START line."""
    start = _START.search(raw)
    header = raw[: start.start()] if start else raw[:5000]
    return {match.group("key"): match.group("value") for match in _HEADER_FIELD.finditer(header)}


def _book_number(book_id: int | str) -> int:
    # The id becomes part of a file name and a URL, so it must be a plain positive number.
    text = str(book_id).strip()
    if not text.isdigit() or int(text) <= 0:
        raise SourceError(f"{book_id!r} is not a Project Gutenberg book id", fix="pass the numeric id, e.g. 1342")
    return int(text)


def _download(url: str, timeout: float) -> bytes:
    global _last_request_at
    if url.startswith(("http://", "https://")):
        wait = _last_request_at + MIN_SECONDS_BETWEEN_REQUESTS - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_request_at = time.monotonic()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        raise SourceError(
            f"could not download {url} ({getattr(error, 'reason', error)})",
            fix="connect to the internet, or pass base_url= pointing at a mirror or a file:// folder laid out as "
            "<id>/pg<id>.txt",
        ) from None


def _decode(payload: bytes) -> str:
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        return payload.decode("latin-1")  # pre-2010 Gutenberg files are often Latin-1
