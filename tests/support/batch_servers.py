"""Local OpenAI Batch API and Anthropic Message Batches API servers, with fault injection, for tests.

    BatchOpenAIServer(ScriptedOpenAIServer)        + POST /v1/files (multipart), GET /v1/files/{id},
                                                     GET /v1/files/{id}/content, DELETE /v1/files/{id},
                                                     POST /v1/batches, GET /v1/batches[?limit&after],
                                                     GET /v1/batches/{id}, POST /v1/batches/{id}/cancel
    BatchAnthropicServer(ScriptedAnthropicServer)  + POST /v1/messages/batches,
                                                     GET /v1/messages/batches[?limit&after_id&before_id],
                                                     GET|DELETE /v1/messages/batches/{id},
                                                     POST /v1/messages/batches/{id}/cancel,
                                                     GET /v1/messages/batches/{id}/results (the results_url)

Constructor: the parent's (responder, latency, port, model, record) plus faults=BatchFaults(...),
max_lines, max_bytes (validation limits; defaults below) and shuffle_results=True.

Each still serves its online endpoint exactly as its parent (scripted_llm.py), so one server can run a
build online or in batch. A batch line is answered like the online request with the same body: the
server's script (first) or responder is applied to a RecordedRequest built from the line's body (path
/v1/chat/completions or /v1/messages, raw = the body as the SDKs serialise it) and rendered with the
same `reply_body`, so replies and token usage match; only the ids differ. Lines run in file order,
under one lock (the responder is called from a handler thread, one line at a time), when the batch
ends. Results files list lines in a hash order, not request order (`shuffle_results=False` keeps
request order), as both providers warn.

Lifecycle, driven by GETs of the batch (`in_progress_polls` = N, default 1), not by wall time:
    OpenAI     create -> validating; GET 1..N -> in_progress (the N-th is `finalizing` when N >= 2);
               GET N+1 -> completed (or failed at GET 1 if the input did not validate).
    Anthropic  create -> in_progress (request_counts.processing = all); GET 1..N -> in_progress;
               GET N+1 -> ended.
A cancel (the client's POST .../cancel, or BatchFaults.cancel_batches at GET N+1) shows
cancelling/canceling on one answer; the next GET ends it as cancelled, with the first
`lines_before_cancel` lines run. Results appear only once a batch has ended.

Validation, like the real APIs:
    OpenAI     at create, HTTP 400 for an unknown or non-batch input file, an endpoint other than
               /v1/chat/completions, a completion_window other than 24h, or metadata over 16 keys /
               64-character keys / 512-character values. The file's lines are checked too; a bad
               file makes a batch that shows `failed` at its first GET, with errors.data [{code,
               message, param, line}]: invalid_json_line, missing_custom_id, duplicate_custom_id,
               invalid_method, invalid_url, invalid_body, mismatched_model (a line whose model
               differs from the first line's), too_many_lines (> max_lines, default 50_000),
               file_too_large (> max_bytes, default 200 MB).
    Anthropic  at create, HTTP 400 invalid_request_error for an empty request list, a custom_id not
               matching ^[a-zA-Z0-9_-]{1,64}$, a duplicate custom_id, more than max_lines (default
               100_000) requests; HTTP 413 request_too_large for a body over max_bytes (default
               256 MB). Models may be mixed in one batch (the real API allows it). A request whose
               params lack model, max_tokens or messages ends `errored` (invalid_request_error):
               Anthropic validates params asynchronously.

Line outcomes. OpenAI output file: {"id", "custom_id", "response": {"status_code": 200,
"request_id", "body": <chat completion>}, "error": null}; error file: the same with status_code
400/500 and an {"error": {...}} body, or "response": null and "error": {"code": "batch_expired" |
"batch_cancelled", "message"} for lines never run. output_file_id / error_file_id are null when their
file would be empty. Anthropic results: {"custom_id", "result": {"type": "succeeded", "message"} |
{"type": "errored", "error": {"type": "error", "error": {"type": "api_error" |
"invalid_request_error", "message"}}} | {"type": "canceled"} | {"type": "expired"}}. A scripted
`http_error(status)` action errors its line with that status; drop/garbage actions error it as 500.

Fault injection: `BatchFaults` (below), passed as `faults=` or assigned to `server.faults` between
runs; assigning a new BatchFaults restarts its "first N" counts and its seen custom_ids (mutating the
fields of the current one does not).

Counters for assertions (all thread-safe reads):
    server.batches_created       [BatchRecord] in creation order: .id, .custom_ids, .bodies,
                                 .metadata, .phase, .ending, .polls, .results, .rejected, .fate,
                                 .deleted (an Anthropic batch the client deleted: gone from the API)
    server.batch(id)             one BatchRecord (server.status_of(record): its status as the API says it)
    server.lines_billed          custom_ids that got a succeeded result, across all batches, in order
    server.billed_more_than_once()  sorted custom_ids billed twice or more
    server.submissions           batch-create calls, refused ones included
    server.polls                 GETs of one batch (not lists; injected poll errors included; the
                                 Anthropic SDK's results() retrieves the batch first, so it adds one)
    server.results_downloads     downloads of results (OpenAI output/error file content, Anthropic
                                 results_url), unavailable answers included
    server.online_requests       POSTs to the online endpoint
    server.files                 (OpenAI) file id -> StoredFile(id, filename, purpose, content, ...)
`reset_counts()` also zeroes submissions, polls, results_downloads and online_requests; batches,
files and billing are kept.

Example:
    with BatchOpenAIServer(responder=StrongStandIn(), faults=BatchFaults(expire_batches=1)) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
        ...
        assert server.billed_more_than_once() == []
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qs, urlsplit

from tests.support.scripted_llm import (
    Action,
    RecordedRequest,
    ScriptedAnthropicServer,
    ScriptedOpenAIServer,
    _Handler,
)

LineMatcher = Collection[str] | Callable[[str], bool]

DAY = 24 * 3600


@dataclass
class BatchFaults:
    """What goes wrong, and how often. Counts ("the first N") run from when this object was assigned.

    reject_batches          the first N batch submissions fail validation (OpenAI: the batch shows
                            `failed` with errors code token_limit_exceeded; Anthropic: HTTP 400)
    error_lines             custom_ids (a collection, or a predicate) whose line ends errored with a
                            500-type error (retryable); only the first time each is run, then it succeeds
    invalid_lines           the same with a 400-type error (not retryable)
    expire_batches          the first N accepted batches expire, with `lines_before_expiry` lines run
    cancel_batches          the next N accepted batches (after those chosen to expire) are cancelled
                            server-side when they would have completed, with `lines_before_cancel` run
    lines_before_cancel     also the lines a client's cancel lets finish (default 0)
    in_progress_polls       GETs a batch answers in progress before it ends (snapshot at create)
    results_unavailable     the first N downloads of each results file (OpenAI output / error file,
                            Anthropic results_url) answer `results_unavailable_status` (404; 503 too)
    poll_errors             statuses answered, in order, by the next GETs of a batch (not lists;
                            429 with Retry-After: 0); a failed GET does not advance the batch
    lose_submit_responses   the first N batch creations happen but their connection is closed before
                            the answer (the client sees a connection error)
    omit_unrun_lines        OpenAI: expired/cancelled lines are left out of the error file, so the
                            client must treat a custom_id missing from both files as not run
    """

    reject_batches: int = 0
    error_lines: LineMatcher = ()
    invalid_lines: LineMatcher = ()
    expire_batches: int = 0
    lines_before_expiry: int = 0
    cancel_batches: int = 0
    lines_before_cancel: int = 0
    in_progress_polls: int = 1
    results_unavailable: int = 0
    results_unavailable_status: int = 404
    poll_errors: Sequence[int] = ()
    lose_submit_responses: int = 0
    omit_unrun_lines: bool = False


@dataclass
class _FaultUse:
    """How much of the current BatchFaults has been used up."""

    rejected: int = 0
    expired: int = 0
    cancelled: int = 0
    lost: int = 0
    poll_errors: int = 0
    errored: set[str] = field(default_factory=set)
    invalidated: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class LineResult:
    custom_id: str
    outcome: str  # "succeeded" | "errored" | "expired" | "canceled"
    body: dict | None = None  # the reply (succeeded) or the error body (errored)
    status: int = 200  # the line's HTTP status (errored: 4xx/5xx)


@dataclass
class BatchRecord:
    """One batch as the server holds it (tests read these; the servers render them per protocol)."""

    id: str
    custom_ids: tuple[str, ...]
    bodies: tuple[dict, ...]
    created_at: float
    in_progress_polls: int
    lines_before_expiry: int
    metadata: dict | None = None
    problems: list[dict] = field(default_factory=list)  # OpenAI validation: it fails at its first GET
    fate: str | None = None  # "expire" | "cancel", from BatchFaults
    phase: str = "in_progress"  # "validating" | "in_progress" | "cancelling" | "ended"
    ending: str | None = None  # "completed" | "failed" | "expired" | "cancelled"
    lines_before_cancel: int = 0
    polls: int = 0  # answered GETs
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    results: list[LineResult] = field(default_factory=list)
    downloads: Counter = field(default_factory=Counter)  # per results file
    input_file_id: str | None = None
    endpoint: str = ""
    completion_window: str = "24h"
    output_file_id: str | None = None
    error_file_id: str | None = None
    deleted: bool = False

    @property
    def rejected(self) -> bool:
        return bool(self.problems)

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: float
    batch_id: str | None = None  # for a batch's output / error file


class ApiError(Exception):
    """An HTTP error answer, rendered in the protocol's error format."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


Answer = tuple[int, dict, bytes] | None  # None: close the connection without answering


def compact_json(body) -> bytes:
    """A body as the SDKs put it on the wire (so usage counted from its size matches online)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _matches(matcher: LineMatcher, custom_id: str) -> bool:
    return matcher(custom_id) if callable(matcher) else custom_id in matcher


def _new_id(prefix: str) -> str:
    # Random, not counted: a client that polls server A's batch id on server B must get a 404.
    return f"{prefix}{secrets.token_hex(12)}"


def _page(items: list, limit: int, after: str | None = None, before: str | None = None) -> tuple[list, bool]:
    """The page of `items` (newest first) after / before the item with that id, and whether more remain."""
    ids = [item.id for item in items]
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise ApiError(400, f"the pagination cursor {cursor!r} is not a batch id on this server")
    if after is not None:
        start = ids.index(after) + 1
        return items[start:start + limit], start + limit < len(items)
    if before is not None:
        end = ids.index(before)
        return items[max(0, end - limit):end], end - limit > 0
    return items[:limit], limit < len(items)


def _limit(query: dict, default: int, most: int) -> int:
    raw = query.get("limit", default)
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer, got {raw!r}") from None
    if not 1 <= limit <= most:
        raise ApiError(400, f"limit must be between 1 and {most}, got {limit}")
    return limit


class _BatchHandler(_Handler):
    """The scripted handler, plus DELETE and chunked request bodies (a streamed multipart upload)."""

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return super()._serve()
        body = self._read_chunked()
        del self.headers["Transfer-Encoding"]
        self.headers["Content-Length"] = str(len(body))
        # The parent reads Content-Length bytes from rfile; hand it the de-chunked body, then give
        # the keep-alive connection its stream back for the next request.
        connection_stream, self.rfile = self.rfile, io.BytesIO(body)
        try:
            super()._serve()
        finally:
            self.rfile = connection_stream

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk


class _BatchAPI:
    """What both batch servers share: faults, counters, the lifecycle, line running, HTTP routing."""

    online_path = ""
    default_max_lines = 0
    default_max_bytes = 0
    routes: tuple[tuple[str, str, str], ...] = ()  # (method, path regex, handler method name)

    def __init__(self, *, faults: BatchFaults | None = None, max_lines: int | None = None,
                 max_bytes: int | None = None, shuffle_results: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.max_lines = max_lines if max_lines is not None else self.default_max_lines
        self.max_bytes = max_bytes if max_bytes is not None else self.default_max_bytes
        self.shuffle_results = shuffle_results
        self._batch_lock = threading.RLock()  # separate from the parent's: lines call its _next_action
        self._batches: dict[str, BatchRecord] = {}  # in creation order
        self.lines_billed: list[str] = []
        self.submissions = 0
        self.polls = 0
        self.results_downloads = 0
        self.online_requests = 0
        self._compiled = [(method, re.compile(pattern), name) for method, pattern, name in self.routes]
        self.faults = faults or BatchFaults()

    # ---- faults and counters ----

    @property
    def faults(self) -> BatchFaults:
        return self._faults

    @faults.setter
    def faults(self, faults: BatchFaults) -> None:
        with self._batch_lock:
            self._faults = faults
            self._fault_use = _FaultUse()

    @property
    def batches_created(self) -> list[BatchRecord]:
        with self._batch_lock:
            return list(self._batches.values())

    def batch(self, batch_id: str) -> BatchRecord:
        with self._batch_lock:
            return self._batches[batch_id]

    def billed_more_than_once(self) -> list[str]:
        with self._batch_lock:
            return sorted(custom_id for custom_id, n in Counter(self.lines_billed).items() if n > 1)

    def reset_counts(self) -> None:
        super().reset_counts()
        with self._batch_lock:
            self.submissions = self.polls = self.results_downloads = self.online_requests = 0

    # ---- lifecycle ----

    def start(self):
        super().start()
        # Set before anyone knows the port, so no request meets the parent's handler.
        self._httpd.RequestHandlerClass = _BatchHandler
        return self

    # ---- HTTP ----

    def handle(self, request: RecordedRequest) -> tuple[Action, Answer]:
        route = self._route(request)
        if route is None:
            if request.method == "POST" and urlsplit(request.path).path == self.online_path:
                with self._batch_lock:
                    self.online_requests += 1
            return super().handle(request)
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self.record:
                self.requests.append(request)
        try:
            return Action("reply"), self._answer(request, *route)
        finally:
            request.answered = time.monotonic()
            with self._lock:
                self._in_flight -= 1
                self.served += 1

    def _route(self, request: RecordedRequest) -> tuple[str | None, dict] | None:
        """(handler name, path parameters) for a batch API path; handler None for a wrong method."""
        path = urlsplit(request.path).path.rstrip("/")
        found = None
        for method, pattern, name in self._compiled:
            match = pattern.fullmatch(path)
            if match:
                if method == request.method:
                    return name, match.groupdict()
                found = (None, {})
        return found

    def _answer(self, request: RecordedRequest, name: str | None, params: dict) -> Answer:
        query = {key: values[-1] for key, values in parse_qs(urlsplit(request.path).query).items()}
        try:
            if name is None:
                raise ApiError(405, f"{request.method} is not allowed on {urlsplit(request.path).path}")
            return getattr(self, name)(request, query, **params)
        except ApiError as error:
            headers = {"Content-Type": "application/json", **error.headers}
            return error.status, headers, json.dumps(self.api_error_body(error.status, error.message)).encode()

    @staticmethod
    def json_answer(obj, status: int = 200) -> Answer:
        return status, {"Content-Type": "application/json"}, json.dumps(obj, ensure_ascii=False).encode()

    # ---- the batch lifecycle ----

    def _count_submission(self) -> None:
        with self._batch_lock:
            self.submissions += 1

    def _take_rejection(self) -> bool:
        """True when BatchFaults.reject_batches refuses this (well-formed) submission."""
        with self._batch_lock:
            if self._fault_use.rejected < self.faults.reject_batches:
                self._fault_use.rejected += 1
                return True
            return False

    def _register(self, record: BatchRecord) -> bool:
        """Stores a new batch with its injected fate; True when its create answer is to be lost."""
        with self._batch_lock:
            faults, use = self.faults, self._fault_use
            record.in_progress_polls = faults.in_progress_polls
            record.lines_before_expiry = faults.lines_before_expiry
            if not record.problems and use.expired < faults.expire_batches:
                record.fate, use.expired = "expire", use.expired + 1
            elif not record.problems and use.cancelled < faults.cancel_batches:
                record.fate, use.cancelled = "cancel", use.cancelled + 1
                record.lines_before_cancel = faults.lines_before_cancel
            self._batches[record.id] = record
            if use.lost < faults.lose_submit_responses:
                use.lost += 1
                return True
            return False

    def _known(self, batch_id: str) -> BatchRecord:
        record = self._batches.get(batch_id)
        if record is None or record.deleted:
            raise ApiError(404, f"No batch found with id '{batch_id}'.")
        return record

    def _poll(self, batch_id: str) -> BatchRecord:
        """A GET of the batch: an injected poll error, or the batch one step further along."""
        with self._batch_lock:
            self.polls += 1
            use = self._fault_use
            if use.poll_errors < len(self.faults.poll_errors):
                status = self.faults.poll_errors[use.poll_errors]
                use.poll_errors += 1
                headers = {"Retry-After": "0"} if status == 429 else {}
                raise ApiError(status, f"injected poll error {status} (BatchFaults.poll_errors)", headers)
            record = self._known(batch_id)
            self._advance(record)
            return record

    def _advance(self, record: BatchRecord) -> None:
        if record.ended:
            return
        now = time.time()
        record.polls += 1
        if record.problems:
            return self._end(record, "failed", 0)
        if record.phase == "cancelling":
            return self._end(record, "cancelled", record.lines_before_cancel)
        if record.phase == "validating":
            record.phase, record.in_progress_at = "in_progress", now
        if record.polls <= record.in_progress_polls:
            if record.polls == record.in_progress_polls >= 2:
                record.finalizing_at = now
            return
        if record.fate == "cancel":
            record.phase, record.cancel_initiated_at = "cancelling", now
        elif record.fate == "expire":
            self._end(record, "expired", record.lines_before_expiry)
        else:
            self._end(record, "completed", len(record.bodies))

    def _cancel(self, batch_id: str) -> BatchRecord:
        """A client's cancel: the batch shows cancelling until its next GET ends it."""
        with self._batch_lock:
            record = self._known(batch_id)
            if record.problems and not record.ended:
                self._end(record, "failed", 0)
            if record.ended:
                raise ApiError(400, f"Cannot cancel a batch with status '{self.status_of(record)}'.")
            if record.phase != "cancelling":
                record.phase, record.cancel_initiated_at = "cancelling", time.time()
                record.lines_before_cancel = self.faults.lines_before_cancel
            return record

    def _end(self, record: BatchRecord, ending: str, lines_run: int) -> None:
        record.phase, record.ending, record.ended_at = "ended", ending, time.time()
        if ending == "failed":
            return
        not_run = "expired" if ending == "expired" else "canceled"
        lines = list(zip(record.custom_ids, record.bodies))
        record.results = [self._run_line(custom_id, body) for custom_id, body in lines[:lines_run]]
        record.results += [LineResult(custom_id, not_run) for custom_id, _ in lines[lines_run:]]
        self.results_ready(record)

    def _run_line(self, custom_id: str, body) -> LineResult:
        faults, use = self.faults, self._fault_use
        if _matches(faults.error_lines, custom_id) and custom_id not in use.errored:
            use.errored.add(custom_id)
            return self._errored(custom_id, 500, "The server had an error while processing your request.")
        if _matches(faults.invalid_lines, custom_id) and custom_id not in use.invalidated:
            use.invalidated.add(custom_id)
            return self._errored(custom_id, 400, "injected invalid request (BatchFaults.invalid_lines)")
        problem = self.line_problem(body)
        if problem:
            return self._errored(custom_id, 400, problem)
        request = RecordedRequest(method="POST", path=self.online_path, headers={}, raw=compact_json(body), json=body)
        action = self._next_action(request)
        if action.kind == "http_error":
            return LineResult(custom_id, "errored", self.error_body(action), action.status)
        if action.kind != "reply":  # a dropped connection or garbage has no place in a results file
            return self._errored(custom_id, 500, f"the scripted action {action.kind!r} failed this line")
        reply = {**self.reply_body(action, request), "id": self.line_reply_id()}
        self.lines_billed.append(custom_id)
        return LineResult(custom_id, "succeeded", reply)

    def _errored(self, custom_id: str, status: int, message: str) -> LineResult:
        return LineResult(custom_id, "errored", self.line_error_body(status, message), status)

    def ordered(self, results: list[LineResult]) -> list[LineResult]:
        if not self.shuffle_results:
            return results
        return sorted(results, key=lambda result: hashlib.sha256(result.custom_id.encode()).hexdigest())

    def _download(self, record: BatchRecord, file_key: str) -> None:
        """Counts a results download; raises the injected unavailability while it lasts."""
        with self._batch_lock:
            self.results_downloads += 1
            record.downloads[file_key] += 1
            if record.downloads[file_key] <= self.faults.results_unavailable:
                status = self.faults.results_unavailable_status
                raise ApiError(status, f"results of {record.id} are not available yet (BatchFaults.results_unavailable)")

    # ---- protocol hooks ----

    def status_of(self, record: BatchRecord) -> str:
        raise NotImplementedError

    def results_ready(self, record: BatchRecord) -> None:
        """Called once a batch has ended and its results are set."""

    def line_problem(self, body) -> str | None:
        return None

    def line_reply_id(self) -> str:
        raise NotImplementedError

    def line_error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError

    def api_error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# OpenAI: files + batches
# ---------------------------------------------------------------------------------------------

OPENAI_FILE_PURPOSES = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}
OPENAI_BATCH_ENDPOINT = "/v1/chat/completions"
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was not executed because the batch was cancelled."


def multipart_fields(request: RecordedRequest) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(400, f"expected a multipart/form-data upload, got Content-Type {content_type!r}")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[name] = (part.get_filename(), part.get_payload(decode=True))
    return fields


class BatchOpenAIServer(_BatchAPI, ScriptedOpenAIServer):
    """ScriptedOpenAIServer plus the Files and Batch APIs (see the module docstring)."""

    online_path = "/v1/chat/completions"
    default_max_lines = 50_000
    default_max_bytes = 200 * 1024 * 1024
    routes = (
        ("POST", r"/v1/files", "_upload_file"),
        ("GET", r"/v1/files/(?P<file_id>[^/]+)", "_file_object"),
        ("DELETE", r"/v1/files/(?P<file_id>[^/]+)", "_delete_file"),
        ("GET", r"/v1/files/(?P<file_id>[^/]+)/content", "_file_content"),
        ("POST", r"/v1/batches", "_create_batch"),
        ("GET", r"/v1/batches", "_list_batches"),
        ("GET", r"/v1/batches/(?P<batch_id>[^/]+)", "_retrieve_batch"),
        ("POST", r"/v1/batches/(?P<batch_id>[^/]+)/cancel", "_cancel_batch"),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.files: dict[str, StoredFile] = {}

    # ---- files ----

    def _upload_file(self, request, query) -> Answer:
        fields = multipart_fields(request)
        if "file" not in fields:
            raise ApiError(400, "Missing required parameter: 'file'.")
        purpose = (fields.get("purpose") or (None, b""))[1].decode()
        if purpose not in OPENAI_FILE_PURPOSES:
            raise ApiError(400, f"Invalid value for 'purpose': {purpose!r}.")
        filename, content = fields["file"]
        stored = self._store_file(filename or "upload", purpose, content)
        return self.json_answer(self._file_object_body(stored))

    def _store_file(self, filename: str, purpose: str, content: bytes, batch_id: str | None = None) -> StoredFile:
        with self._batch_lock:
            stored = StoredFile(_new_id("file-"), filename, purpose, content, time.time(), batch_id)
            self.files[stored.id] = stored
            return stored

    def _stored(self, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(404, f"No such File object: {file_id}")
        return stored

    @staticmethod
    def _file_object_body(stored: StoredFile) -> dict:
        return {"id": stored.id, "object": "file", "bytes": len(stored.content), "created_at": int(stored.created_at),
                "filename": stored.filename, "purpose": stored.purpose, "status": "processed",
                "expires_at": int(stored.created_at) + 30 * DAY, "status_details": None}

    def _file_object(self, request, query, file_id) -> Answer:
        return self.json_answer(self._file_object_body(self._stored(file_id)))

    def _delete_file(self, request, query, file_id) -> Answer:
        with self._batch_lock:
            self._stored(file_id)
            del self.files[file_id]
        return self.json_answer({"id": file_id, "object": "file", "deleted": True})

    def _file_content(self, request, query, file_id) -> Answer:
        stored = self._stored(file_id)
        if stored.batch_id is not None:
            self._download(self.batch(stored.batch_id), file_id)
        return 200, {"Content-Type": "application/octet-stream"}, stored.content

    # ---- batches ----

    def _create_batch(self, request, query) -> Answer:
        self._count_submission()
        body = request.json if isinstance(request.json, dict) else {}
        stored = self._batch_input(body)
        rejected = self._take_rejection()
        lines, problems = self._parse_input(stored.content)
        if rejected:
            problems = [self._token_limit_problem(lines)]
        record = BatchRecord(
            id=_new_id("batch_"), custom_ids=tuple(line.get("custom_id", "") for line in lines),
            bodies=tuple(line.get("body") for line in lines), created_at=time.time(), in_progress_polls=0,
            lines_before_expiry=0, metadata=body.get("metadata"), problems=problems, phase="validating",
            input_file_id=stored.id, endpoint=body["endpoint"], completion_window=body["completion_window"])
        lost = self._register(record)
        return None if lost else self.json_answer(self.batch_body(record))

    def _batch_input(self, body: dict) -> StoredFile:
        """The create call's own checks (HTTP 400), before any batch exists."""
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                raise ApiError(400, f"Missing required parameter: '{name}'.")
        if body["endpoint"] != OPENAI_BATCH_ENDPOINT:
            raise ApiError(400, f"this test server batches only {OPENAI_BATCH_ENDPOINT}, not {body['endpoint']!r}")
        if body["completion_window"] != "24h":
            raise ApiError(400, f"Invalid completion_window {body['completion_window']!r}: only '24h' is supported.")
        self._check_metadata(body.get("metadata"))
        stored = self.files.get(body["input_file_id"])
        if stored is None:
            raise ApiError(400, f"No such File object: {body['input_file_id']}")
        if stored.purpose != "batch":
            raise ApiError(400, f"File {stored.id} has purpose {stored.purpose!r}; a batch needs purpose 'batch'.")
        return stored

    @staticmethod
    def _check_metadata(metadata) -> None:
        if metadata is None:
            return
        if not isinstance(metadata, dict) or len(metadata) > 16:
            raise ApiError(400, "metadata must be an object of at most 16 key-value pairs.")
        for key, value in metadata.items():
            if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
                raise ApiError(400, f"metadata {key!r}: keys are at most 64 characters, values strings of at most 512.")

    def _parse_input(self, content: bytes) -> tuple[list[dict], list[dict]]:
        """The input file's lines, and the validation problems that fail the batch."""
        if len(content) > self.max_bytes:
            return [], [_problem("file_too_large", f"The input file is {len(content)} bytes; the limit is "
                                 f"{self.max_bytes}.", None)]
        raw_lines = [line for line in content.splitlines() if line.strip()]
        if len(raw_lines) > self.max_lines:
            return [], [_problem("too_many_lines", f"The input file has {len(raw_lines)} requests; the limit is "
                                 f"{self.max_lines}.", None)]
        lines, problems, seen, model = [], [], set(), None
        for number, raw in enumerate(raw_lines, start=1):
            line, problem = self._check_line(raw, number, seen, model)
            if problem:
                problems.append(problem)
                continue
            model = model or line["body"]["model"]
            seen.add(line["custom_id"])
            lines.append(line)
        return lines, problems

    @staticmethod
    def _check_line(raw: bytes, number: int, seen: set, model: str | None) -> tuple[dict | None, dict | None]:
        try:
            line = json.loads(raw)
        except ValueError:
            return None, _problem("invalid_json_line", "This line is not valid JSON.", None, number)
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
            return None, _problem("missing_custom_id", "Each line needs a non-empty string custom_id.", "custom_id", number)
        if line["custom_id"] in seen:
            return None, _problem("duplicate_custom_id", f"The custom_id {line['custom_id']!r} is used more "
                                  "than once in this file.", "custom_id", number)
        if line.get("method") != "POST":
            return None, _problem("invalid_method", "Only the POST method is supported.", "method", number)
        if line.get("url") != OPENAI_BATCH_ENDPOINT:
            return None, _problem("invalid_url", f"The url must be the batch's endpoint {OPENAI_BATCH_ENDPOINT}.",
                                  "url", number)
        body = line.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return None, _problem("invalid_body", "The body must be an object with a model.", "body", number)
        if model is not None and body["model"] != model:
            return None, _problem("mismatched_model", f"The model {body['model']!r} differs from {model!r}, the "
                                  "model of the file's first request: a batch uses one model.", "body.model", number)
        return line, None

    @staticmethod
    def _token_limit_problem(lines: list[dict]) -> dict:
        model = next((line["body"]["model"] for line in lines), "the model")
        return _problem("token_limit_exceeded", f"Enqueued token limit reached for {model} in organization "
                        "org-test. Limit: 90,000 enqueued tokens. Please try again once some in_progress batches "
                        "have been completed. (BatchFaults.reject_batches)", None)

    def _retrieve_batch(self, request, query, batch_id) -> Answer:
        record = self._poll(batch_id)
        with self._batch_lock:
            return self.json_answer(self.batch_body(record))

    def _cancel_batch(self, request, query, batch_id) -> Answer:
        with self._batch_lock:
            return self.json_answer(self.batch_body(self._cancel(batch_id)))

    def _list_batches(self, request, query) -> Answer:
        limit = _limit(query, 20, 100)
        with self._batch_lock:
            page, has_more = _page(self.batches_created[::-1], limit, after=query.get("after"))
            data = [self.batch_body(record) for record in page]
        return self.json_answer({"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None, "has_more": has_more})

    # ---- rendering ----

    def status_of(self, record: BatchRecord) -> str:
        if record.ended:
            return record.ending
        if record.phase == "in_progress" and record.finalizing_at is not None:
            return "finalizing"
        return record.phase

    def batch_body(self, record: BatchRecord) -> dict:
        status = self.status_of(record)
        ended_at = int(record.ended_at) if record.ended_at else None

        def at(ending: str) -> int | None:
            return ended_at if record.ending == ending else None

        return {
            "id": record.id, "object": "batch", "endpoint": record.endpoint,
            "errors": {"object": "list", "data": record.problems} if status == "failed" else None,
            "input_file_id": record.input_file_id, "completion_window": record.completion_window,
            "status": status, "output_file_id": record.output_file_id, "error_file_id": record.error_file_id,
            "created_at": int(record.created_at),
            "in_progress_at": int(record.in_progress_at) if record.in_progress_at else None,
            "expires_at": int(record.created_at) + DAY,
            "finalizing_at": int(record.finalizing_at) if record.finalizing_at else None,
            "completed_at": at("completed"), "failed_at": at("failed"), "expired_at": at("expired"),
            "cancelling_at": int(record.cancel_initiated_at) if record.cancel_initiated_at else None,
            "cancelled_at": at("cancelled"),
            "request_counts": self._request_counts(record, status),
            "metadata": record.metadata,
            "model": record.bodies[0].get("model") if record.bodies else None,
            "usage": self._usage(record),
        }

    @staticmethod
    def _request_counts(record: BatchRecord, status: str) -> dict:
        total = 0 if status == "failed" else len(record.custom_ids)
        # Lines never run (expired / cancelled) are neither completed nor failed, as the real API counts.
        return {"total": total, "completed": record.count("succeeded"), "failed": record.count("errored")}

    @staticmethod
    def _usage(record: BatchRecord) -> dict:
        usages = [result.body["usage"] for result in record.results if result.outcome == "succeeded"]
        prompt = sum(usage["prompt_tokens"] for usage in usages)
        completion = sum(usage["completion_tokens"] for usage in usages)
        return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": prompt + completion}

    def results_ready(self, record: BatchRecord) -> None:
        outputs, errors = [], []
        for result in self.ordered(record.results):
            if result.outcome == "succeeded":
                outputs.append(self._output_line(result))
            elif result.outcome == "errored":
                errors.append(self._output_line(result))
            elif not self.faults.omit_unrun_lines:
                errors.append(self._unrun_line(result))
        if outputs:
            record.output_file_id = self._store_file(f"{record.id}_output.jsonl", "batch_output",
                                                     _jsonl(outputs), record.id).id
        if errors:
            record.error_file_id = self._store_file(f"{record.id}_error.jsonl", "batch_output",
                                                    _jsonl(errors), record.id).id

    @staticmethod
    def _output_line(result: LineResult) -> dict:
        response = {"status_code": result.status, "request_id": _new_id("req_"), "body": result.body}
        return {"id": _new_id("batch_req_"), "custom_id": result.custom_id, "response": response, "error": None}

    @staticmethod
    def _unrun_line(result: LineResult) -> dict:
        code, message = (("batch_expired", EXPIRED_MESSAGE) if result.outcome == "expired"
                         else ("batch_cancelled", CANCELLED_MESSAGE))
        return {"id": _new_id("batch_req_"), "custom_id": result.custom_id, "response": None,
                "error": {"code": code, "message": message}}

    def line_reply_id(self) -> str:
        return _new_id("chatcmpl-")

    def line_error_body(self, status: int, message: str) -> dict:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def api_error_body(self, status: int, message: str) -> dict:
        kind = {429: "rate_limit_exceeded"}.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _problem(code: str, message: str, param: str | None, line: int | None = None) -> dict:
    return {"code": code, "message": message, "param": param, "line": line}


def _jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


# ---------------------------------------------------------------------------------------------
# Anthropic: message batches
# ---------------------------------------------------------------------------------------------

ANTHROPIC_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
ANTHROPIC_REQUIRED_PARAMS = ("model", "max_tokens", "messages")


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


class BatchAnthropicServer(_BatchAPI, ScriptedAnthropicServer):
    """ScriptedAnthropicServer plus the Message Batches API (see the module docstring)."""

    online_path = "/v1/messages"
    default_max_lines = 100_000
    default_max_bytes = 256 * 1024 * 1024
    routes = (
        ("POST", r"/v1/messages/batches", "_create_batch"),
        ("GET", r"/v1/messages/batches", "_list_batches"),
        ("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", "_retrieve_batch"),
        ("DELETE", r"/v1/messages/batches/(?P<batch_id>[^/]+)", "_delete_batch"),
        ("POST", r"/v1/messages/batches/(?P<batch_id>[^/]+)/cancel", "_cancel_batch"),
        ("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", "_results"),
    )

    def _create_batch(self, request, query) -> Answer:
        self._count_submission()
        requests = self._checked_requests(request)
        if self._take_rejection():
            raise ApiError(400, "requests: injected validation failure (BatchFaults.reject_batches)")
        record = BatchRecord(
            id=_new_id("msgbatch_"), custom_ids=tuple(item["custom_id"] for item in requests),
            bodies=tuple(item["params"] for item in requests), created_at=time.time(), in_progress_polls=0,
            lines_before_expiry=0)
        lost = self._register(record)
        return None if lost else self.json_answer(self.batch_body(record))

    def _checked_requests(self, request: RecordedRequest) -> list[dict]:
        """The create call's checks: HTTP 400 (413 for size) and nothing created."""
        if len(request.raw) > self.max_bytes:
            raise ApiError(413, f"Request body is {len(request.raw)} bytes; a message batch is limited to "
                           f"{self.max_bytes}.")
        requests = (request.json or {}).get("requests") if isinstance(request.json, dict) else None
        if not isinstance(requests, list) or not requests:
            raise ApiError(400, "requests: a non-empty list of {custom_id, params} is required")
        if len(requests) > self.max_lines:
            raise ApiError(400, f"requests: {len(requests)} requests; a message batch holds at most {self.max_lines}")
        seen = set()
        for index, item in enumerate(requests):
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not ANTHROPIC_CUSTOM_ID.fullmatch(custom_id):
                raise ApiError(400, f"requests.{index}.custom_id: String should match pattern "
                               "'^[a-zA-Z0-9_-]{1,64}$'")
            if custom_id in seen:
                raise ApiError(400, f"requests.{index}.custom_id: {custom_id!r} is used more than once; "
                               "custom_id must be unique within a batch")
            if not isinstance(item.get("params"), dict):
                raise ApiError(400, f"requests.{index}.params: Input should be an object")
            seen.add(custom_id)
        return requests

    def _retrieve_batch(self, request, query, batch_id) -> Answer:
        record = self._poll(batch_id)
        with self._batch_lock:
            return self.json_answer(self.batch_body(record))

    def _cancel_batch(self, request, query, batch_id) -> Answer:
        with self._batch_lock:
            return self.json_answer(self.batch_body(self._cancel(batch_id)))

    def _delete_batch(self, request, query, batch_id) -> Answer:
        with self._batch_lock:
            record = self._known(batch_id)
            if not record.ended:
                raise ApiError(400, f"Batch {batch_id} cannot be deleted while it is processing; cancel it first.")
            record.deleted = True  # kept for batches_created: the client's cleanup must not hide what it paid for
        return self.json_answer({"id": batch_id, "type": "message_batch_deleted"})

    def _list_batches(self, request, query) -> Answer:
        limit = _limit(query, 20, 1000)
        with self._batch_lock:
            listed = [record for record in self.batches_created[::-1] if not record.deleted]
            page, has_more = _page(listed, limit, after=query.get("after_id"),
                                   before=query.get("before_id"))
            data = [self.batch_body(record) for record in page]
        return self.json_answer({"data": data, "has_more": has_more, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None})

    def _results(self, request, query, batch_id) -> Answer:
        with self._batch_lock:
            record = self._known(batch_id)
            if not record.ended:
                raise ApiError(404, f"Batch {batch_id} has not ended: its results are not available yet.")
        self._download(record, "results")
        lines = [self._result_line(result) for result in self.ordered(record.results)]
        return 200, {"Content-Type": "application/binary"}, _jsonl(lines)

    # ---- rendering ----

    def status_of(self, record: BatchRecord) -> str:
        return {"cancelling": "canceling", "ended": "ended"}.get(record.phase, "in_progress")

    def batch_body(self, record: BatchRecord) -> dict:
        ended = record.ended
        counts = {"processing": 0 if ended else len(record.custom_ids), "succeeded": record.count("succeeded"),
                  "errored": record.count("errored"), "canceled": record.count("canceled"),
                  "expired": record.count("expired")}
        return {
            "id": record.id, "type": "message_batch", "processing_status": self.status_of(record),
            "request_counts": counts, "ended_at": rfc3339(record.ended_at), "created_at": rfc3339(record.created_at),
            "expires_at": rfc3339(record.created_at + DAY), "archived_at": None,
            "cancel_initiated_at": rfc3339(record.cancel_initiated_at),
            "results_url": f"{self.root_url}/v1/messages/batches/{record.id}/results" if ended else None,
        }

    @staticmethod
    def _result_line(result: LineResult) -> dict:
        if result.outcome == "succeeded":
            outcome = {"type": "succeeded", "message": result.body}
        elif result.outcome == "errored":
            outcome = {"type": "errored", "error": result.body}
        else:
            outcome = {"type": result.outcome}
        return {"custom_id": result.custom_id, "result": outcome}

    def line_problem(self, body) -> str | None:
        missing = [name for name in ANTHROPIC_REQUIRED_PARAMS if name not in body]
        return f"params.{missing[0]}: Field required" if missing else None

    def line_reply_id(self) -> str:
        return _new_id("msg_")

    def line_error_body(self, status: int, message: str) -> dict:
        return self.api_error_body(status, message)

    def api_error_body(self, status: int, message: str) -> dict:
        kind = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error",
                413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
