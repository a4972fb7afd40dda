"""The batch ledger: what was submitted to a provider's batch API, kept in the response cache file.

A batch line is paid for once the provider accepts its batch, and its reply may arrive a day
later, long after the process that submitted it was killed. So every line is written down before
its batch is submitted ("submitting", with the round's id, which the batch carries as metadata
where the API allows), again once the provider names the batch ("submitted"), and its result once
read ("done", the reply as the provider sent it; "failed", the reason). A restarted build reads
this ledger first: it polls batches still running, finds again a batch whose submission was
never recorded, and serves a line already paid for from its stored result.

A line is one attempt of one request: `line_id(request key, seed)`. Re-asks use other seeds and
so are other lines; a line that expired or was cancelled is cleared and submitted again later.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import orjson

# Line states
SUBMITTING, SUBMITTED, DONE, FAILED = "submitting", "submitted", "done", "failed"


def line_id(request_key: str, seed: int | None) -> str:
    """The line's custom_id: 64 hex characters, within both providers' rules (Anthropic: [A-Za-z0-9_-]{1,64})."""
    return hashlib.sha256(f"{request_key}:{seed}".encode()).hexdigest()


@dataclass(frozen=True)
class LedgerLine:
    line_id: str
    round_id: str
    batch_id: str | None
    state: str
    result: dict | None  # DONE: the reply as the provider sent it; FAILED: {"error": reason}


@dataclass(frozen=True)
class LedgerBatch:
    batch_id: str
    round_id: str
    state: str
    lines: int
    submitted: float


class BatchLedger:
    """The ledger's tables in one ResponseCache's file, for one model (its cache-key model id)."""

    def __init__(self, cache, model: str):
        self._cache = cache
        self.model = model

    # -- reading ----------------------------------------------------------------------------------

    def line(self, line: str) -> LedgerLine | None:
        row = self._cache.transaction(lambda db: db.execute(
            "SELECT line_id, round_id, batch_id, state, result FROM batch_lines WHERE line_id=?", (line,)).fetchone())
        return None if row is None else _line(row)

    def open_batches(self) -> list[LedgerBatch]:
        """Batches of this model not yet read to the end, oldest first."""
        rows = self._cache.transaction(lambda db: db.execute(
            "SELECT batch_id, round_id, state, lines, submitted FROM batches WHERE model=? AND state NOT IN "
            "('read', 'gone') ORDER BY submitted, batch_id", (self.model,)).fetchall())
        return [LedgerBatch(*row) for row in rows]

    def unrecorded_rounds(self) -> dict[str, tuple[float, list[str]]]:
        """Rounds whose lines were written down but whose batch id never was: round id -> (when, line ids)."""
        rows = self._cache.transaction(lambda db: db.execute(
            "SELECT round_id, line_id, updated FROM batch_lines WHERE model=? AND state=? ORDER BY line_id",
            (self.model, SUBMITTING)).fetchall())
        rounds: dict[str, tuple[float, list[str]]] = {}
        for round_id, line, updated in rows:
            when, lines = rounds.get(round_id, (updated, []))
            rounds[round_id] = (min(when, updated), lines + [line])
        return rounds

    def lines_of(self, batch_id: str) -> list[str]:
        rows = self._cache.transaction(lambda db: db.execute(
            "SELECT line_id FROM batch_lines WHERE batch_id=? AND state=? ORDER BY line_id",
            (batch_id, SUBMITTED)).fetchall())
        return [row[0] for row in rows]

    # -- writing ----------------------------------------------------------------------------------

    def submitting(self, round_id: str, lines: list[str]) -> None:
        """Before the batch is sent: the lines and their round (a line paid for is never overwritten)."""
        now = time.time()

        def write(db):
            for line in lines:
                db.execute("INSERT INTO batch_lines VALUES (?, ?, ?, NULL, ?, NULL, ?) ON CONFLICT(line_id) DO UPDATE "
                           "SET round_id=excluded.round_id, batch_id=NULL, state=excluded.state, "
                           "updated=excluded.updated WHERE batch_lines.state NOT IN (?, ?)",
                           (line, self.model, round_id, SUBMITTING, now, DONE, SUBMITTED))
        self._cache.transaction(write)

    def submitted(self, round_id: str, batch_id: str, lines: int, when: float | None = None) -> None:
        """The provider accepted the round as `batch_id`: its lines are paid for from now on."""
        now = time.time()

        def write(db):
            db.execute("INSERT OR IGNORE INTO batches VALUES (?, ?, ?, 'submitted', ?, ?, ?)",
                       (batch_id, self.model, round_id, lines, when or now, now))
            db.execute("UPDATE batch_lines SET batch_id=?, state=?, updated=? WHERE round_id=? AND state=?",
                       (batch_id, SUBMITTED, now, round_id, SUBMITTING))
        self._cache.transaction(write)

    def not_submitted(self, round_id: str) -> None:
        """The round's batch was never created (refused, or not found again): its lines are free again."""
        self._cache.transaction(lambda db: db.execute(
            "DELETE FROM batch_lines WHERE round_id=? AND state=?", (round_id, SUBMITTING)))

    def batch_state(self, batch_id: str, state: str) -> None:
        self._cache.transaction(lambda db: db.execute(
            "UPDATE batches SET state=?, updated=? WHERE batch_id=?", (state, time.time(), batch_id)))

    def results(self, batch_id: str, done: dict[str, dict], failed: dict[str, str], again: list[str]) -> None:
        """A batch read to the end, in one transaction: replies kept, failures kept, lines to ask
        again cleared (a rerun submits them afresh), the batch marked read."""
        now = time.time()

        def write(db):
            for line, reply in done.items():
                db.execute("UPDATE batch_lines SET state=?, result=?, updated=? WHERE line_id=?",
                           (DONE, orjson.dumps(reply), now, line))
            for line, reason in failed.items():
                db.execute("UPDATE batch_lines SET state=?, result=?, updated=? WHERE line_id=?",
                           (FAILED, orjson.dumps({"error": reason}), now, line))
            for line in again:
                db.execute("DELETE FROM batch_lines WHERE line_id=? AND batch_id=?", (line, batch_id))
            db.execute("UPDATE batches SET state='read', updated=? WHERE batch_id=?", (now, batch_id))
        self._cache.transaction(write)

    def gone(self, batch_id: str) -> None:
        """The provider no longer knows the batch (another key or organisation): its lines are free."""
        now = time.time()

        def write(db):
            db.execute("DELETE FROM batch_lines WHERE batch_id=? AND state=?", (batch_id, SUBMITTED))
            db.execute("UPDATE batches SET state='gone', updated=? WHERE batch_id=?", (now, batch_id))
        self._cache.transaction(write)


def _line(row) -> LedgerLine:
    line, round_id, batch_id, state, result = row
    return LedgerLine(line, round_id, batch_id, state, None if result is None else orjson.loads(result))
