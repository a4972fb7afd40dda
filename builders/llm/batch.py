"""Batch mode: the requests of a build go through the provider's batch API, at about half the price.

Builders do not change. A ToMATO conversation is ~16 dependent rounds of requests, so batch mode
works in rounds: while the build's coroutines all wait on replies, their pending requests are
gathered (a round closes once no new request has joined it for `gather_seconds`), submitted as one
batch (or several, within the provider's size limits), polled with backoff, and each waiting
request is answered from the batch's results. The builders then ask their next requests, which
make the next round, until the build ends.

Nothing paid for is lost or paid twice (the ledger, batch_ledger.py, is written before and after
each submission): a restarted build polls the batches its predecessor left, finds a submission
whose answer was lost, and serves a line already paid for from its stored result. Lines that
expired, were cancelled or met a server error go into the next round (at most
`max_submissions` times in one run); lines refused for good fail like an online request does.

The replies go through the online route's checks and into the same response cache under the same
keys, so a batch build and an online build of one config release the same bytes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import orjson

from .batch_ledger import DONE, SUBMITTED, BatchLedger, line_id
from .errors import BudgetExceeded, ConfigError, FatalProviderError, TransientError
from .providers.batch_api import BatchAPI, BatchState
from .providers.http import REPLY_CAP
from .types import ChatRequest, RawReply

POLL_ERRORS_TOLERATED = 20  # failed polls in a row before a batch is left to a later run
READ_ATTEMPTS = 8  # tries to read an ended batch's results (they may be unavailable for a while)
SUBMIT_ATTEMPTS = 5
FIND_ATTEMPTS = 5


@dataclass(frozen=True)
class BatchOptions:
    """How batch mode runs; the CLI's --batch-* flags set these."""

    gather_seconds: float = 2.0  # a round closes once no request joined it for this long
    online_below: int = 0  # a round of fewer lines goes online instead (the tail of a build, for latency)
    poll_first: float = 10.0  # seconds before the first look at a submitted batch
    poll_max: float = 300.0  # the longest wait between two looks
    max_submissions: int = 3  # a line that expired or was cancelled is submitted at most this often per run
    max_lines: int | None = None  # per batch; None: the provider's limit
    max_bytes: int | None = None

    def check(self) -> None:
        if not (self.gather_seconds > 0 and self.poll_first > 0 and self.poll_max >= self.poll_first):
            raise ConfigError("batch timing must be positive, with the longest poll wait at least the first "
                              f"(got gather {self.gather_seconds}s, poll {self.poll_first}s..{self.poll_max}s)")
        if self.online_below < 0 or self.max_submissions < 1:
            raise ConfigError("--batch-online-below must be 0 or more and a line may be submitted at least once")


class GoOnline(Exception):
    """This request's round is small enough to go online (--batch-online-below)."""


@dataclass
class BatchStats:
    """What the progress display shows and the build report records."""

    rounds: int = 0
    batches: dict[str, str] = field(default_factory=dict)  # batch id -> its last known state
    batch_lines: dict[str, int] = field(default_factory=dict)
    lines_submitted: int = 0
    lines_answered: int = 0
    lines_again: int = 0  # expired, cancelled or a server error: submitted once more
    lines_failed: int = 0
    lines_from_ledger: int = 0  # paid for in an earlier run, served from the stored result
    lines_online: int = 0
    submissions_found_again: int = 0
    waiting_seconds: float = 0.0  # wall time with at least one batch open
    cost_usd: float = 0.0
    online_price_usd: float = 0.0  # what the same replies would have cost online
    left_running: list[str] = field(default_factory=list)  # batches still open when the build ended
    _open_since: float | None = None

    def line(self) -> str:
        states: dict[str, int] = {}
        for state in self.batches.values():
            states[state] = states.get(state, 0) + 1
        shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none yet"
        return (f"batch round {self.rounds} · batches: {shown} · lines {self.lines_answered}/{self.lines_submitted} "
                f"answered")

    def report(self) -> dict:
        return {"rounds": self.rounds,
                "batches": [{"id": b, "state": s, "lines": self.batch_lines.get(b, 0)}
                            for b, s in sorted(self.batches.items())],
                "lines_submitted": self.lines_submitted, "lines_answered": self.lines_answered,
                "lines_submitted_again": self.lines_again, "lines_failed": self.lines_failed,
                "lines_paid_in_earlier_runs": self.lines_from_ledger, "lines_sent_online": self.lines_online,
                "submissions_found_again": self.submissions_found_again,
                "waiting_seconds": round(self.waiting_seconds, 3), "cost_usd": round(self.cost_usd, 6),
                "online_price_usd": round(self.online_price_usd, 6),
                "saving_usd": round(self.online_price_usd - self.cost_usd, 6),
                "batches_left_running": sorted(self.left_running)}


@dataclass
class _Line:
    """One attempt of one request, from the moment it joins a round until its reply is handed back."""

    id: str
    request: ChatRequest
    seed: int | None  # what the provider is sent (None: it takes no seed)
    worst_input: int
    cap: int
    future: asyncio.Future
    on_submitted: object  # called once the line is paid for (the caller may no longer abandon it)
    batch_id: str | None = None
    submissions: int = 0
    reservation: float | None = None


class Batcher:
    def __init__(self, api: BatchAPI, ledger: BatchLedger, options: BatchOptions, accounting, label: str):
        self._api = api
        self._ledger = ledger
        self.options = options
        self._accounting = accounting
        self._label = label
        self.stats = BatchStats()
        self._lines: dict[str, _Line] = {}  # waiting lines, pending or in a batch
        self._pending: dict[str, _Line] = {}
        self._last_joined = 0.0
        self._round_task: asyncio.Task | None = None
        self._pollers: dict[str, asyncio.Task] = {}
        self._closing = False

    @property
    def max_lines(self) -> int:
        return self.options.max_lines or self._api.max_lines

    @property
    def max_bytes(self) -> int:
        return self.options.max_bytes or self._api.max_bytes

    # -- start: what an earlier run left ----------------------------------------------------------

    async def start(self) -> None:
        """Before any request: rounds written down but never confirmed are found again or freed,
        and batches still open are polled (their results go into the ledger for this run to use)."""
        known = {batch.batch_id for batch in self._ledger.open_batches()}
        for round_id, (since, lines) in sorted(self._ledger.unrecorded_rounds().items()):
            batch_id = await self._find(round_id, since, len(lines), known)
            if batch_id is None:
                self._ledger.not_submitted(round_id)
            else:
                self._ledger.submitted(round_id, batch_id, len(lines))
                self.stats.submissions_found_again += 1
                known.add(batch_id)
        for batch in self._ledger.open_batches():
            self.stats.batch_lines[batch.batch_id] = batch.lines
            self._watch(batch.batch_id)

    async def _find(self, round_id: str, since: float, lines: int, known: set[str]) -> str | None:
        delay = 1.0
        for attempt in range(FIND_ATTEMPTS):
            try:
                return await self._api.find(round_id, since, lines, known)
            except TransientError as error:
                if attempt == FIND_ATTEMPTS - 1:
                    raise FatalProviderError(
                        f"cannot tell whether an earlier run's batch of {lines} requests reached the "
                        f"{self._api.name} ({error}); nothing new was submitted. Run the same command again "
                        "once the provider answers: the batch is then found and nothing is paid twice.") from None
                await asyncio.sleep(min(error.retry_after or delay, 60.0))
                delay *= 2
        return None

    # -- one request ------------------------------------------------------------------------------

    async def complete(self, request: ChatRequest, attempt_seed: int, seed: int | None, key: str, worst_input: int,
                       cap: int, on_submitted) -> tuple[RawReply, float | None, bool]:
        """The reply to one attempt, the budget reservation to settle it against (None: nothing was
        reserved in this run) and whether it came through a batch. The line is named by the attempt's
        own seed (a re-ask is another line even for a provider that takes no seed); `seed` is sent."""
        lid = line_id(key, attempt_seed)
        stored = self._ledger.line(lid) if lid not in self._lines else None
        if stored is not None and stored.state == DONE:  # paid for in an earlier run
            self.stats.lines_from_ledger += 1
            return self._api.reply(stored.result), None, True
        line = _Line(lid, request, seed, worst_input, cap, asyncio.get_running_loop().create_future(), on_submitted)
        self._lines[lid] = line
        if stored is not None and stored.state == SUBMITTED and stored.batch_id:  # still running at the provider
            line.batch_id = stored.batch_id
            on_submitted()
            self._watch(stored.batch_id)
        else:
            self._pending[lid] = line
            self._join()
        try:
            return await line.future
        except asyncio.CancelledError:
            if self._pending.pop(lid, None) is not None:  # not paid for: the round goes without it
                self._lines.pop(lid, None)
            raise

    # -- rounds -----------------------------------------------------------------------------------

    def _join(self) -> None:
        self._last_joined = time.monotonic()
        if self._round_task is None or self._round_task.done():
            self._round_task = asyncio.ensure_future(self._round())

    async def _round(self) -> None:
        """Wait until the build is quiet (every coroutine waits on a reply), then submit what gathered."""
        while True:
            await asyncio.sleep(self.options.gather_seconds)
            quiet = time.monotonic() - self._last_joined >= self.options.gather_seconds
            if quiet or len(self._pending) >= self.max_lines:
                break
        lines, self._pending = list(self._pending.values()), {}
        self._round_task = None
        if not lines:
            return
        if len(lines) < self.options.online_below:
            self.stats.lines_online += len(lines)
            for line in lines:
                self._lines.pop(line.id, None)
                _fail(line, GoOnline())
            return
        try:
            shares = await self._accounting.reserve_round(self._label, [(x.worst_input, x.request.max_tokens)
                                                                        for x in lines], batch=True)
        except BudgetExceeded as error:
            if self.stats.rounds == 0:
                error.hint = (f"one batch round ({len(lines)} requests gathered) could cost up to "
                              f"${error.next_request:.6f} at batch prices, more than --max-cost ${error.max_cost:g}; "
                              "nothing was submitted. Raise --max-cost above that, or drop --batch to spend "
                              "request by request")
            for line in lines:
                self._lines.pop(line.id, None)
                _fail(line, error)
            return
        for line, share in zip(lines, shares):
            line.reservation = share
        self.stats.rounds += 1
        for chunk in self._chunks(lines):
            await self._submit(chunk)

    def _chunks(self, lines: list[_Line]) -> list[list[tuple[_Line, dict]]]:
        """The round cut into batches within the provider's limits on lines and bytes."""
        chunks, chunk, size = [], [], 0
        for line in lines:
            body = self._api.line(line.id, line.request, line.seed)
            body_size = len(_json(body)) + 1
            if chunk and (len(chunk) >= self.max_lines or size + body_size > self.max_bytes):
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append((line, body))
            size += body_size
        return chunks + ([chunk] if chunk else [])

    async def _submit(self, chunk: list[tuple[_Line, dict]]) -> None:
        round_id = uuid.uuid4().hex
        lines = [line for line, _ in chunk]
        written = time.time()
        self._ledger.submitting(round_id, [line.id for line in lines])
        try:
            batch_id = await self._create(round_id, [body for _, body in chunk], written)
        except FatalProviderError as error:
            self._ledger.not_submitted(round_id)
            self.stats.lines_failed += len(lines)
            for line in lines:
                self._give_back(line)
                self._lines.pop(line.id, None)
                _fail(line, error)
            return
        self._ledger.submitted(round_id, batch_id, len(lines))
        self.stats.batches[batch_id] = "submitted"
        self.stats.batch_lines[batch_id] = len(lines)
        for line in lines:
            line.batch_id = batch_id
            line.submissions += 1
            self.stats.lines_submitted += 1
            self._accounting.usage(self._label, line.request.step).requests += 1
            self._accounting.request_started()
            line.on_submitted()
        self._watch(batch_id)

    async def _create(self, round_id: str, bodies: list[dict], written: float) -> str:
        """Submit; when the answer is lost (the batch may exist), look for it before trying again."""
        delay = 1.0
        for attempt in range(SUBMIT_ATTEMPTS):
            try:
                batch_id, _ = await self._api.submit(bodies, round_id)
                return batch_id
            except FatalProviderError as error:
                raise FatalProviderError(
                    f"the {self._api.name} refused a batch of {len(bodies)} requests ({error}); none of them was "
                    "paid for. Run the same command again, or without --batch to send them online") from None
            except TransientError as error:
                known = {batch.batch_id for batch in self._ledger.open_batches()}
                found = await self._find(round_id, written, len(bodies), known)
                if found is not None:
                    self.stats.submissions_found_again += 1
                    return found
                if attempt == SUBMIT_ATTEMPTS - 1:
                    raise FatalProviderError(
                        f"could not submit a batch of {len(bodies)} requests to the {self._api.name} after "
                        f"{SUBMIT_ATTEMPTS} attempts ({error}); none of them was paid for. Run the same command "
                        "again later") from None
                await asyncio.sleep(min(error.retry_after or delay, 60.0))
                delay *= 2
        raise AssertionError("unreachable")

    # -- polling and results ----------------------------------------------------------------------

    def _watch(self, batch_id: str) -> None:
        if batch_id not in self._pollers and not self._closing:
            self._batch_opened()
            self._pollers[batch_id] = asyncio.ensure_future(self._poll(batch_id))

    async def _poll(self, batch_id: str) -> None:
        REPLY_CAP.set(None)  # a results file holds many replies; each line is checked against its own cap
        try:
            state = await self._until_ended(batch_id)
            if state is not None:
                await self._read(batch_id, state)
        finally:
            self._pollers.pop(batch_id, None)
            self._batch_closed()

    async def _until_ended(self, batch_id: str) -> BatchState | None:
        delay, errors = self.options.poll_first, 0
        while True:
            await asyncio.sleep(delay)
            try:
                state = await self._api.state(batch_id)
            except TransientError as error:
                errors += 1
                if errors >= POLL_ERRORS_TOLERATED:
                    self._leave(batch_id, f"the {self._api.name} did not answer {errors} polls in a row ({error})")
                    return None
                delay = min(error.retry_after if error.retry_after is not None else delay * 2, self.options.poll_max)
                continue
            except FatalProviderError as error:  # not found: another key, organisation or a deleted batch
                self._ledger.gone(batch_id)
                self.stats.batches[batch_id] = "not found"
                self._again_all(batch_id, f"batch {batch_id} is unknown to the {self._api.name} ({error})")
                return None
            errors = 0
            self.stats.batches[batch_id] = state.state
            self._ledger.batch_state(batch_id, state.state)
            if state.ended:
                return state
            delay = min(delay * 1.5, self.options.poll_max)

    async def _read(self, batch_id: str, state: BatchState) -> None:
        expected = set(self._ledger.lines_of(batch_id))
        if state.refused is not None:
            reason = (f"the {self._api.name} refused batch {batch_id} ({state.refused}); none of its requests was "
                      "paid for. Run the same command again, or without --batch to send them online")
            self._ledger.results(batch_id, {}, {}, sorted(expected))
            for lid in expected:
                self._fail_line(lid, FatalProviderError(reason))
            return
        delay = 1.0
        for attempt in range(READ_ATTEMPTS):
            try:
                results = [result async for result in self._api.results(batch_id) if result.line_id in expected]
                break
            except TransientError as error:
                if attempt == READ_ATTEMPTS - 1:
                    self._leave(batch_id, f"its results could not be read ({error})")
                    return
                await asyncio.sleep(min(error.retry_after or delay, self.options.poll_max))
                delay *= 2
            except FatalProviderError as error:  # 404: results not there yet
                if attempt == READ_ATTEMPTS - 1:
                    self._leave(batch_id, f"its results could not be read ({error})")
                    return
                await asyncio.sleep(min(delay, self.options.poll_max))
                delay *= 2
        replies = {r.line_id: r.payload for r in results if r.outcome == "reply"}
        failed = {r.line_id: r.reason for r in results if r.outcome == "failed"}
        again = sorted(expected - set(replies) - set(failed))
        self._ledger.results(batch_id, replies, failed, again)  # one transaction: a kill loses nothing
        self.stats.batches[batch_id] = "read"
        reasons = {r.line_id: r.reason for r in results}
        for result in results:
            if result.outcome == "reply":
                self._answer(result.line_id, result.payload, result.size)
            elif result.outcome == "failed":
                self.stats.lines_failed += 1
                self._fail_line(result.line_id, FatalProviderError(
                    f"the batch line was refused: {result.reason}"))
        for lid in again:
            self._submit_again(lid, reasons.get(lid) or "the line has no result")

    def _answer(self, lid: str, payload: dict, size: int) -> None:
        line = self._lines.pop(lid, None)
        if line is None:  # a line of an earlier run: kept in the ledger for whoever asks
            return
        self.stats.lines_answered += 1
        self._accounting.request_finished()
        if size > line.cap:
            raw = RawReply(text="", finish_reason="oversized",
                           note=f"the batch line's result of {size} bytes is over the cap of {line.cap} bytes")
        else:
            raw = self._api.reply(payload)
        if not line.future.done():
            line.future.set_result((raw, line.reservation, True))

    def _submit_again(self, lid: str, reason: str) -> None:
        line = self._lines.get(lid)
        if line is None:
            return
        self._accounting.request_finished()
        self._give_back(line)
        if line.submissions >= self.options.max_submissions:
            self.stats.lines_failed += 1
            self._fail_line(lid, FatalProviderError(
                f"a batch line ended without a reply {line.submissions} times (last: {reason}); nothing was paid "
                "for it. Run the same command again to ask it once more"))
            return
        self.stats.lines_again += 1
        line.batch_id = None
        self._pending[lid] = line
        self._join()

    def _again_all(self, batch_id: str, reason: str) -> None:
        for lid, line in list(self._lines.items()):
            if line.batch_id == batch_id:
                self._submit_again(lid, reason)

    def _leave(self, batch_id: str, why: str) -> None:
        """A batch that cannot be followed now: its lines stay in the ledger for a later run."""
        self.stats.left_running.append(batch_id)
        error = FatalProviderError(f"batch {batch_id} was left running: {why}. Its requests are paid for and "
                                   "recorded: run the same command again later; it collects them without paying twice")
        for lid, line in list(self._lines.items()):
            if line.batch_id == batch_id:
                self._accounting.request_finished()
                self._give_back(line)
                self._fail_line(lid, error)

    def _fail_line(self, lid: str, error: Exception) -> None:
        line = self._lines.pop(lid, None)
        if line is not None:
            self._give_back(line)
            _fail(line, error)

    def _give_back(self, line: _Line) -> None:
        if line.reservation is not None:
            self._accounting.release(line.reservation)
            line.reservation = None

    def _batch_opened(self) -> None:
        if self.stats._open_since is None:
            self.stats._open_since = time.monotonic()

    def _batch_closed(self) -> None:
        if not self._pollers and self.stats._open_since is not None:
            self.stats.waiting_seconds += time.monotonic() - self.stats._open_since
            self.stats._open_since = None

    # -- end ----------------------------------------------------------------------------------------

    async def close(self) -> None:
        """The build is over: batches still open are left to a later run (recorded in the ledger)."""
        self._closing = True
        if self._round_task is not None:
            self._round_task.cancel()
        for batch_id in list(self._pollers):
            self._leave(batch_id, "the build ended before it finished")
        for task in list(self._pollers.values()):
            task.cancel()
        await asyncio.gather(*self._pollers.values(), return_exceptions=True)
        for lid in list(self._pending):
            self._fail_line(lid, FatalProviderError("the build ended before this request was submitted"))
        self._pending.clear()


def _fail(line: _Line, error: Exception) -> None:
    if not line.future.done():
        line.future.set_exception(error)


def _json(value) -> bytes:
    return orjson.dumps(value)
