"""The response cache: one SQLite file (WAL mode), shared safely by concurrent builds.

Only validated replies are stored, keyed by `request_key`, a canonical hash of everything that
determines a reply (provider, model, messages, schema, sampling parameters, seed, sample index).
A crashed build therefore resumes without paying twice, and editing one prompt re-requests only
what that prompt touches.

Three promises beyond storage:
- A file that is not exactly a response cache of this format (tables, columns, version row) is
  refused before anything is written to it: it stays byte-identical.
- A paid reply is never lost: when SQLite cannot write (disk full, I/O error, read-only), the reply
  is kept in memory and appended to a fallback JSONL file, `CacheWriteFailed` stops the build, and
  the next start imports the fallback file into the cache (then removes it).
- Builds sharing one file do not pay twice for one request: before sending, a process claims the
  request's key in the `inflight` table; another process wanting the same key waits for the reply
  (or takes the claim over once its claimer is dead or the claim is older than `CLAIM_MAX_AGE`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from .errors import CacheError, CacheReadOnly, CacheWriteFailed

FORMAT_VERSION = 1
# Version 1 files made before in-flight claims or batches lack those tables; they are added on open
# (the keys, and so every cached reply, stay valid: the version is part of each key, so it is not bumped).
SCHEMA = {
    "meta": "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "responses": "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                 "created REAL NOT NULL)",
    "inflight": "CREATE TABLE IF NOT EXISTS inflight (key TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                "pid INTEGER NOT NULL, host TEXT NOT NULL, started REAL NOT NULL)",
    # The batch ledger (batch_ledger.py): every batch submitted to a provider's batch API and every
    # line in it, so a build killed at any moment polls its batches again instead of paying twice.
    "batches": "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, model TEXT NOT NULL, "
               "round_id TEXT NOT NULL, state TEXT NOT NULL, lines INTEGER NOT NULL, submitted REAL NOT NULL, "
               "updated REAL NOT NULL)",
    "batch_lines": "CREATE TABLE IF NOT EXISTS batch_lines (line_id TEXT PRIMARY KEY, model TEXT NOT NULL, "
                   "round_id TEXT NOT NULL, batch_id TEXT, state TEXT NOT NULL, result BLOB, "
                   "updated REAL NOT NULL)",
}
# Tables older version-1 files lack; added on open.
OPTIONAL_TABLES = {"inflight", "batches", "batch_lines"}
# A claim whose claimer cannot be checked (another host) or seems stuck is taken over after this
# long: longer than one request with all its retries and re-asks normally takes.
CLAIM_MAX_AGE = 3600.0  # seconds
FALLBACK_SUFFIX = ".unsaved.jsonl"

# One token per process: a claim left by a killed process whose pid this process now has is stale.
_PROCESS_TOKEN = secrets.token_hex(8)
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN, _SQLITE_FULL = 8, 10, 14, 13


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def request_key(**parts: Any) -> str:
    """sha256 over the canonical JSON of the parts (and the cache format version)."""
    return hashlib.sha256(canonical_json({"cache_format": FORMAT_VERSION, **parts})).hexdigest()


def fallback_paths(cache_path: Path) -> list[Path]:
    """Where replies SQLite could not store are saved, in order of preference.

    Next to the cache first: the user finds it there and it survives a reboot. The system temp
    folder second: often another filesystem (tmpfs), so it still has room when the cache's disk is
    full; named after the cache file's full path, so the next start finds it.
    """
    cache_path = Path(cache_path).absolute()
    tag = hashlib.sha256(str(cache_path).encode()).hexdigest()[:16]
    return [cache_path.with_name(cache_path.name + FALLBACK_SUFFIX),
            Path(tempfile.gettempdir()) / f"roleplay-tom-toolkit-{tag}{FALLBACK_SUFFIX}"]


class ResponseCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"
        # Replies SQLite refused (served from memory for the rest of this run) and the error that stopped writes.
        self._unsaved: dict[str, dict] = {}
        self._write_failure: CacheWriteFailed | None = None
        self.corrupt_entries: dict[str, None] = {}  # key prefixes of entries that were not a reply (ordered set)
        self.imported_from_fallback = 0
        # Keys this run has sent (or waited for another build to send): their verdicts stand for the rest of the run.
        self.asked_this_run: set[str] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(f"cannot create the cache folder {self.path.parent}: {error}; "
                             "pass a writable --cache-dir") from error
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._connection()  # open now: a bad file fails at startup, before any request
            self._import_fallbacks()

    # -- opening: check read-only, then write ---------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self._inspect()
        self._check_writable()
        try:
            db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise self._problem("open", error) from error
        try:
            self._prepare(db)
        except BaseException:
            db.close()  # never keep a handle on a file we refused
            raise
        return db

    def _inspect(self) -> None:
        """Refuse any file that is not exactly a response cache of this version, reading only: a
        refused file stays byte-identical (switching it to WAL or adding tables would rewrite it)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return  # a new file
        advice = ("The file was left in place. Move it aside or pass another --cache-dir to continue "
                  "with a fresh cache (the build then re-requests what the old cache held).")
        try:
            db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True, timeout=60)
        except sqlite3.Error as error:
            raise self._problem("open", error, advice) from error
        try:
            db.execute("PRAGMA busy_timeout=60000")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise CacheError(f"the response cache {self.path} is corrupt ({check}). {advice}")
            self._check_format(db, advice)
        except sqlite3.DatabaseError as error:
            raise self._problem("read", error, advice) from error
        finally:
            db.close()

    def _check_format(self, db: sqlite3.Connection, advice: str) -> None:
        objects = db.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
        if not objects and _pragma(db, "user_version") == 0 and _pragma(db, "application_id") == 0:
            return  # an empty database: nothing in it to keep
        tables = sorted(name for kind, name in objects if kind == "table")
        if "meta" not in tables:
            raise CacheError(f"{self.path} is an SQLite file but not a response cache of this toolkit "
                             f"(tables: {', '.join(tables) or 'none'}). {advice}")
        version = db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone() \
            if _columns(db, "meta") == _expected_columns("meta") else None
        if version is not None and version[0] != str(FORMAT_VERSION):
            raise CacheError(f"the response cache {self.path} has format version {version[0]}; this toolkit "
                             f"reads version {FORMAT_VERSION}. {advice}")
        problem = _format_problem(db, objects) or (None if version else "its meta table has no format_version")
        if problem:
            raise CacheError(f"{self.path} is an SQLite file but not a response cache of this toolkit "
                             f"({problem}). {advice}")

    def _check_writable(self) -> None:
        target = self.path if self.path.exists() else self.path.parent
        folder = self.path.parent
        if not (os.access(target, os.W_OK) and os.access(folder, os.W_OK)):
            raise self._read_only()

    def _prepare(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA busy_timeout=60000")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            with _transaction(db):  # all tables at once: another process never sees half a cache
                for statement in SCHEMA.values():
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
        except sqlite3.DatabaseError as error:
            raise self._problem("prepare", error) from error

    def _connection(self) -> sqlite3.Connection:
        """The open connection (callers hold the lock); after close() the file is opened again."""
        if self._db is None:
            self._db = self._open()
        return self._db

    # -- errors that name the fix ----------------------------------------------------------------

    def _problem(self, doing: str, error: sqlite3.Error, advice: str = "") -> CacheError:
        code = _primary_code(error)
        if code == _SQLITE_READONLY or (code == _SQLITE_CANTOPEN and not self._writable()):
            return self._read_only(f" ({error})")
        if code in (_SQLITE_FULL, _SQLITE_IOERR):
            return CacheWriteFailed(f"the response cache {self.path} cannot be written ({error}): "
                                    f"{self._free_space_hint()} Then run the same command again.")
        if doing == "open":
            return CacheError(f"cannot open the response cache {self.path}: {error}; pass a writable --cache-dir")
        if doing == "write":
            return CacheError(f"writing the response cache {self.path} failed ({error})")
        return CacheError(f"the response cache {self.path} is unreadable ({error}). {advice}".rstrip())

    def _writable(self) -> bool:
        return all(os.access(p, os.W_OK) for p in (self.path, self.path.parent) if p.exists())

    def _read_only(self, cause: str = "") -> CacheReadOnly:
        blocked = [p for p in (self.path, self.path.parent) if p.exists() and not os.access(p, os.W_OK)]
        blocked = blocked or [self.path]
        names = " and ".join(str(p) for p in blocked)
        try:
            owner = _owner_name(blocked[0])
        except OSError:
            owner = "its owner"
        return CacheReadOnly(
            f"the response cache {self.path} is read-only{cause}: this user cannot write {names}. The cached "
            f"replies in it are intact. Make it writable (chmod u+w {' '.join(str(p) for p in blocked)}), run "
            f"as {owner}, or pass a writable --cache-dir (a fresh cache re-requests what this one holds).")

    def _free_space_hint(self) -> str:
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return f"free space on the disk holding {self.path.parent} (or make it writable)."
        return (f"free space on the disk holding {self.path.parent} ({free / 1e6:.0f} MB free now; the cache needs "
                f"room for its file and its -wal journal, or make it writable if it is read-only).")

    # -- entries --------------------------------------------------------------------------------

    def get(self, key: str) -> dict | None:
        with self._lock:
            if key in self._unsaved:
                return self._unsaved[key]
            try:
                row = self._connection().execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
            except sqlite3.DatabaseError as error:
                raise CacheError(f"reading the response cache {self.path} failed: {error}") from error
        if row is None:
            return None
        entry = _entry(row[0])
        if entry is None:  # a damaged entry is a miss: the request is made again and the entry replaced
            self.corrupt_entries[key[:16]] = None
        return entry

    def put(self, key: str, value: dict) -> None:
        """Store a reply (or a failure verdict); also ends this process's claim on the key.

        Raises CacheWriteFailed when SQLite cannot write: the reply is then kept in memory (this run
        still uses it) and appended to a fallback file, which the next start imports."""
        blob = canonical_json(value)
        with self._lock:
            try:
                db = self._connection()
                with _transaction(db):
                    db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, blob, time.time()))
                    db.execute("DELETE FROM inflight WHERE key=? AND owner=?", (key, self._owner))
                return
            except (sqlite3.Error, CacheError) as error:
                self._unsaved[key] = value
                failure = self._save_unsaved(key, value, error)
        raise failure

    def _save_unsaved(self, key: str, value: dict, error: Exception) -> CacheWriteFailed:
        cause = error if isinstance(error, CacheError) else self._problem("write", error)
        line = canonical_json({"key": key, "value": value}) + b"\n"
        tried = []
        for path in fallback_paths(self.path):
            try:
                _append_locked(path, line)
            except OSError as append_error:
                tried.append(f"{path}: {append_error.strerror or append_error}")
                continue
            self._write_failure = CacheWriteFailed(
                f"{_sentence(cause)} The replies paid for since ({len(self._unsaved)} so far) are saved in {path}, "
                f"nothing is lost: once the cache can be written, run the same command again; it imports them "
                f"into the cache first (and removes {path}), so nothing is paid twice.", fallback=path)
            return self._write_failure
        self._write_failure = CacheWriteFailed(
            f"{_sentence(cause)} {len(self._unsaved)} paid replies could not be saved anywhere "
            f"({'; '.join(tried)}): they are lost when this build exits.", fallback=None)
        return self._write_failure

    def _import_fallbacks(self) -> None:
        """Replies an earlier run could not store go into the cache before any request is made."""
        for path in fallback_paths(self.path):
            if path.is_file():
                self.imported_from_fallback += self._import(path)

    def _import(self, path: Path) -> int:
        with _locked(path, "r+b") as handle:
            if handle is None:
                return 0  # another process imported it meanwhile
            entries = [_fallback_entry(line) for line in handle.read().splitlines()]
            entries = [entry for entry in entries if entry is not None]  # a line cut short by a kill is dropped
            db = self._connection()
            try:
                with _transaction(db):
                    for key, value in entries:
                        # A reply replaces anything; a verdict never replaces a reply another build stored.
                        verb = "INSERT OR IGNORE" if "failed" in value else "INSERT OR REPLACE"
                        db.execute(f"{verb} INTO responses VALUES (?, ?, ?)", (key, canonical_json(value), time.time()))
            except sqlite3.Error as error:
                raise CacheWriteFailed(f"{_sentence(self._problem('write', error))} The {len(entries)} replies an "
                                       f"earlier build saved in {path} wait there, nothing is lost.",
                                       fallback=path) from error
            path.unlink()
        return len(entries)

    # -- claims on requests about to be sent ----------------------------------------------------

    def claim(self, key: str, seen: dict | None) -> bool:
        """Claim `key` for this process before sending its request; False when another request
        (another build, or another task of this one) is already asking, or when the entry changed
        since the caller read it as `seen` (the caller then reads it again)."""
        with self._lock:
            if self._write_failure is not None:  # replies could not be stored: send nothing more
                raise self._write_failure
            try:
                db = self._connection()
                with _transaction(db):
                    row = db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
                    current = self._unsaved.get(key) or (None if row is None else _entry(row[0]))
                    if current != seen:
                        return False
                    holder = db.execute("SELECT owner, pid, host, started FROM inflight WHERE key=?",
                                        (key,)).fetchone()
                    if holder is not None and not self._stale(*holder):
                        return False
                    db.execute("INSERT OR REPLACE INTO inflight VALUES (?, ?, ?, ?, ?)",
                               (key, self._owner, os.getpid(), socket.gethostname(), time.time()))
            except sqlite3.Error as error:
                raise self._problem("write", error) from error
        self.asked_this_run.add(key)
        return True

    def release(self, key: str) -> None:
        """End this process's claim (its request failed or was abandoned); best effort: a claim
        left behind goes stale when this process ends."""
        with self._lock, contextlib.suppress(sqlite3.Error, CacheError):
            self._connection().execute("DELETE FROM inflight WHERE key=? AND owner=?", (key, self._owner))

    def _stale(self, owner: str, pid: int, host: str, started: float) -> bool:
        if owner == self._owner:
            return False  # another task of this process is asking
        if time.time() - started > CLAIM_MAX_AGE:
            return True
        if host != socket.gethostname():
            return False  # its process cannot be checked from here: wait for the age limit
        return pid == os.getpid() or not _process_alive(pid)  # our pid but not our token: a dead predecessor

    # -- the rest -------------------------------------------------------------------------------

    def report(self) -> dict:
        """What the build report should say about the cache itself."""
        return {"corrupt_entries_replaced": len(self.corrupt_entries),
                "corrupt_entry_keys": list(self.corrupt_entries),
                "imported_from_fallback": self.imported_from_fallback,
                "unsaved_replies": len(self._unsaved),
                "fallback_file": None if self._write_failure is None else self._write_failure.fallback}

    def transaction(self, work):
        """`work(db)` inside one write transaction, under this cache's lock; its result. For the
        batch ledger, which keeps its tables in this file (one file to back up, one to move)."""
        with self._lock:
            try:
                db = self._connection()
                with _transaction(db):
                    return work(db)
            except sqlite3.Error as error:
                raise self._problem("write", error) from error

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Release the file; using the cache again reopens it."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# -- helpers ------------------------------------------------------------------------------------


def _entry(blob: bytes) -> dict | None:
    """A stored entry, or None when it is not one: a reply needs text (and a provenance object when
    present); a verdict needs its reason."""
    try:
        entry = orjson.loads(blob)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entry, dict):
        return None
    if "failed" in entry:
        counts = (entry.get("attempts", 0), entry.get("runs", 1))
        return entry if isinstance(entry["failed"], str) and all(type(n) is int for n in counts) else None
    if not isinstance(entry.get("text"), str) or not isinstance(entry.get("provenance", {}), dict):
        return None
    return entry


def _fallback_entry(line: bytes) -> tuple[str, dict] | None:
    try:
        item = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), dict):
        return None
    return item["key"], item["value"]


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection):
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _append_locked(path: Path, line: bytes) -> None:
    """Append one line durably, under the lock an importing process takes."""
    with _locked(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _locked(path: Path, mode: str):
    """The file opened and exclusively locked, checked to still be the file at `path` (an importer
    removes it while holding the lock); None when reading and the file is gone."""
    while True:
        try:
            handle = open(path, mode)
        except FileNotFoundError:
            if "r" in mode:
                yield None
                return
            raise
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield handle
                return


def _pragma(db: sqlite3.Connection, name: str) -> int:
    return db.execute(f"PRAGMA {name}").fetchone()[0]


def _columns(db: sqlite3.Connection, table: str) -> list[tuple]:
    """(name, declared type, not null, default, primary key position) of each column."""
    return [tuple(row[1:]) for row in db.execute(f"PRAGMA table_info({table})")]


def _expected_columns(table: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute(SCHEMA[table])
        return _columns(db, table)


def _format_problem(db: sqlite3.Connection, objects: list[tuple[str, str]]) -> str | None:
    """What makes this database something other than a response cache, or None."""
    tables = {name for kind, name in objects if kind == "table"}
    unknown = sorted(tables - set(SCHEMA))
    missing = sorted(set(SCHEMA) - OPTIONAL_TABLES - tables)
    others = sorted(f"{kind} {name}" for kind, name in objects if kind != "table")
    if unknown or missing or others:
        parts = [f"tables: {', '.join(sorted(tables))}"] + ([f"also {', '.join(others)}"] if others else [])
        return "; ".join(parts)
    for table in sorted(tables):
        expected = _expected_columns(table)
        if _columns(db, table) != expected:
            have = ", ".join(_describe(c) for c in _columns(db, table))
            return f"table {table} has columns {have}; a response cache has {', '.join(_describe(c) for c in expected)}"
    return None


def _describe(column: tuple) -> str:
    name, kind, not_null, _, primary = column
    return " ".join(filter(None, (name, kind, "NOT NULL" if not_null else "", "PRIMARY KEY" if primary else "")))


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed process its parent has not reaped yet is a zombie: dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _owner_name(path: Path) -> str:
    import pwd

    uid = path.stat().st_uid
    try:
        return f"its owner {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"its owner (uid {uid})"


def _sentence(error: Exception) -> str:
    text = str(error).rstrip()
    return text if text.endswith(".") else text + "."
