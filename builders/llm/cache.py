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
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        advice = (f"The file was left in place. Move it aside or pass another --cache-dir to continue "
                  f"with a fresh cache (the build then re-requests what the old cache held).")
        try:
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CacheError(f"the response cache {self.path} is corrupt ({check}). {advice}")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
            version = db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()[0]
            if version != str(FORMAT_VERSION):
                raise CacheError(f"the response cache {self.path} has format version {version}; this toolkit "
                                 f"reads version {FORMAT_VERSION}. {advice}")
            db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                       "created REAL NOT NULL)")
            return db
        except sqlite3.DatabaseError as error:
            raise CacheError(f"the response cache {self.path} is unreadable ({error}). {advice}") from error

    def get(self, key: str) -> dict | None:
        with self._lock:
            try:
                row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
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
                self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, blob, time.time()))
            except sqlite3.DatabaseError as error:
                raise CacheError(f"writing the response cache {self.path} failed: {error}") from error

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
