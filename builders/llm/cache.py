"""The response cache: one SQLite file (WAL mode), shared safely by concurrent builds.

Only validated replies are stored, keyed by `request_key`, a canonical hash of everything that
determines a reply (provider, model, messages, schema, sampling parameters, seed, sample index).
A crashed build therefore resumes without paying twice, and editing one prompt re-requests only
what that prompt touches.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from .errors import CacheError

FORMAT_VERSION = 1


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def request_key(**parts: Any) -> str:
    """sha256 over the canonical JSON of the parts (and the cache format version)."""
    return hashlib.sha256(canonical_json({"cache_format": FORMAT_VERSION, **parts})).hexdigest()


class ResponseCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(f"cannot create the cache folder {self.path.parent}: {error}; "
                             "pass a writable --cache-dir") from error
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._connection()  # open now: a bad file fails at startup, before any request

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise CacheError(f"cannot open the response cache {self.path}: {error}; pass a writable --cache-dir") \
                from error
        try:
            self._prepare(db)
        except BaseException:
            db.close()  # never keep a handle on a file we refused
            raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        advice = ("The file was left in place. Move it aside or pass another --cache-dir to continue "
                  "with a fresh cache (the build then re-requests what the old cache held).")
        try:
            db.execute("PRAGMA busy_timeout=60000")
            # Read-only checks first: a file we refuse is left byte-identical (switching it to WAL
            # or adding our tables would already rewrite it).
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CacheError(f"the response cache {self.path} is corrupt ({check}). {advice}")
            self._check_format(db, advice)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                       "created REAL NOT NULL)")
        except sqlite3.DatabaseError as error:
            raise CacheError(f"the response cache {self.path} is unreadable ({error}). {advice}") from error

    def _check_format(self, db: sqlite3.Connection, advice: str) -> None:
        """A new file, or a response cache of our format version; anything else is refused untouched."""
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return  # a new, empty file
        if "meta" not in tables:
            raise CacheError(f"{self.path} is an SQLite file but not a response cache of this toolkit "
                             f"(tables: {', '.join(sorted(tables))}). {advice}")
        row = db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        if row is not None and row[0] != str(FORMAT_VERSION):
            raise CacheError(f"the response cache {self.path} has format version {row[0]}; this toolkit "
                             f"reads version {FORMAT_VERSION}. {advice}")

    def _connection(self) -> sqlite3.Connection:
        """The open connection (callers hold the lock); after close() the file is opened again."""
        if self._db is None:
            self._db = self._open()
        return self._db

    def get(self, key: str) -> dict | None:
        with self._lock:
            try:
                row = self._connection().execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:
                raise CacheError(f"reading the response cache {self.path} failed: {error}") from error
        if row is None:
            return None
        try:
            return orjson.loads(row[0])
        except orjson.JSONDecodeError:
            return None  # a damaged entry is a miss; the request is made again and the entry replaced

    def put(self, key: str, value: dict) -> None:
        blob = canonical_json(value)
        with self._lock:
            try:
                self._connection().execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                                           (key, blob, time.time()))
            except sqlite3.DatabaseError as error:
                raise CacheError(f"writing the response cache {self.path} failed: {error}") from error

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Release the file; using the cache again reopens it."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
