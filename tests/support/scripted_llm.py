"""Scripted OpenAI- and Anthropic-compatible HTTP servers on 127.0.0.1, for tests and benchmarks.

    ScriptedOpenAIServer      POST /v1/chat/completions, GET /v1/models
    ScriptedAnthropicServer   POST /v1/messages (a tool_use block when the request has tools)

Each server answers every request with the next action of its script (`server.script(...)`), and,
once the script is used up, with its `responder` (a callable from the recorded request to an
action). With neither, it answers HTTP 418, which the client treats as fatal, so a test that
sends more requests than it scripted fails at once instead of retrying.

Actions (module-level constructors):
    reply_json(obj)            the object as the reply (OpenAI: message content; Anthropic: tool input)
    reply_text(text)           free text
    truncated(text)            finish_reason "length" / stop_reason "max_tokens"
    refusal(text)              OpenAI message.refusal / Anthropic stop_reason "refusal"
    malformed_json()           text that is not JSON
    http_error(status, retry_after=None)
    delayed(seconds, action)   answer after a delay (longer than the client timeout: a timeout)
    drop_connection()          close the socket without answering
    garbage_body()             HTTP 200 whose body is not JSON

`latency` (seconds) delays every answer, for benchmarks. Every request is recorded
(`server.requests`: method, path, headers, raw body, parsed JSON) so tests can assert what was
sent; `server.max_in_flight` is the largest number of requests the server held at once.

`answer_the_schema` is a responder that answers each request with an instance of the JSON schema
it sent (response_format or tool input_schema).

Manual use (the benchmark runs it in its own process so it does not share the client's GIL):
    python -m tests.support.scripted_llm --protocol openai --latency 1 [--reply-json '{"answer": "yes"}']
prints `PORT <n>` on stdout once listening and serves until stdin closes; without --reply-json
it answers every request with an instance of its schema.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_base import TrackingHTTPServer

# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    kind: str  # "reply" | "http_error" | "drop" | "garbage"
    text: str = ""  # the reply text (for "reply"), or the error message
    data: Any = None  # the reply object for reply_json (Anthropic sends it as tool input)
    finish: str = "stop"  # "stop" | "length" | "refusal"
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    usage: tuple[int, int] | None = None  # (input, output) tokens; default: ~4 characters a token


def reply_json(obj: Any, *, usage: tuple[int, int] | None = None) -> Action:
    return Action("reply", text=json.dumps(obj), data=obj, usage=usage)


def reply_text(text: str, *, usage: tuple[int, int] | None = None) -> Action:
    return Action("reply", text=text, usage=usage)


def truncated(text: str = '{"answer": "an unfinished') -> Action:
    return Action("reply", text=text, finish="length")


def refusal(text: str = "I can't help with that.") -> Action:
    return Action("reply", text=text, finish="refusal")


def malformed_json() -> Action:
    return Action("reply", text='{"answer": "yes",, oops')


def http_error(status: int, retry_after: float | str | None = None, message: str = "scripted error") -> Action:
    return Action(
        "http_error", text=message, status=status, retry_after=None if retry_after is None else str(retry_after)
    )


def delayed(seconds: float, action: Action) -> Action:
    return Action(**{**action.__dict__, "delay": seconds})


def drop_connection() -> Action:
    return Action("drop")


def garbage_body() -> Action:
    return Action("garbage")


NO_ACTION_LEFT = http_error(418, message="the scripted server has no action left for this request")


def example_for(schema: Any) -> Any:
    """A small instance of a JSON schema: the first enum value, "yes" for strings, 1 for numbers."""
    if not isinstance(schema, dict):
        return "yes"
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example_for(schema["anyOf"][0])
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {name: example_for(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_for(schema.get("items"))] * schema.get("minItems", 0)
    return {"string": "yes", "integer": 1, "number": 1, "boolean": True, "null": None}.get(kind, "yes")


def answer_the_schema(request: RecordedRequest) -> Action:
    """A responder that answers every request with an instance of the schema it asked for."""
    body = request.json or {}
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if schema is None and body.get("tools"):
        schema = body["tools"][0].get("input_schema")
    return reply_json(example_for(schema), usage=(20, 5)) if schema is not None else reply_text("yes", usage=(20, 1))


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    json: Any = None
    received: float = field(default_factory=time.monotonic)
    answered: float | None = None  # when the answer was sent (or the connection dropped)


Responder = Callable[[RecordedRequest], Action]


# ---------------------------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------------------------


class ScriptedServer:
    """Shared machinery: the script, the recording, the in-flight count, start and stop."""

    protocol = ""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: float = 0.0,
        port: int = 0,
        model: str = "scripted-model",
        record: bool = True,
    ):
        self.responder = responder
        self.latency = latency
        self.model = model
        self.record = record  # off in benchmarks: 100k recorded bodies are memory nobody reads
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self.served = 0
        self._in_flight = 0
        self._script: list[Action] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- script and recording ----

    def script(self, *actions: Action) -> ScriptedServer:
        with self._lock:
            self._script.extend(actions)
        return self

    @property
    def pending(self) -> int:
        """Scripted actions not yet used."""
        with self._lock:
            return len(self._script)

    def bodies(self, path_suffix: str = "") -> list[Any]:
        with self._lock:
            return [r.json for r in self.requests if r.path.endswith(path_suffix)]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0
            self.served = 0

    def _next_action(self, request: RecordedRequest) -> Action:
        with self._lock:
            if self._script:
                return self._script.pop(0)
        return self.responder(request) if self.responder else NO_ACTION_LEFT

    # ---- lifecycle ----

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the scripted server is not started: use it as a context manager")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ScriptedServer:
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", self._requested_port), _Handler, scripted=self)
        # A short poll interval: stop() then returns in milliseconds, which adds up over many tests.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"scripted-{self.protocol}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping on a delay
        self._httpd.shutdown()
        self._httpd.close_open_connections()
        self._httpd.server_close()  # joins the handler threads
        self._thread.join()
        self._httpd = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- one request ----

    def handle(self, request: RecordedRequest) -> tuple[Action, tuple[int, dict, bytes] | None]:
        """The action taken and the (status, headers, body) to send; None for a dropped connection."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self.record:
                self.requests.append(request)
        try:
            if request.method == "GET":
                return Action("reply"), self.render_get(request)
            action = self._next_action(request)
            if self._stopping.wait(self.latency + action.delay):
                return action, None
            return action, self._render(action, request)
        finally:
            request.answered = time.monotonic()
            with self._lock:
                self._in_flight -= 1
                self.served += 1

    def _render(self, action: Action, request: RecordedRequest) -> tuple[int, dict, bytes] | None:
        if action.kind == "drop":
            return None
        if action.kind == "garbage":
            return 200, {"Content-Type": "application/json"}, b"<html>502 upstream hiccup</html>"
        if action.kind == "http_error":
            headers = {"Content-Type": "application/json"}
            if action.retry_after is not None:
                headers["Retry-After"] = action.retry_after
            return action.status, headers, json.dumps(self.error_body(action)).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(self.reply_body(action, request)).encode()

    def render_get(self, request: RecordedRequest) -> tuple[int, dict, bytes]:
        return 404, {"Content-Type": "application/json"}, b'{"error": "not found"}'

    def reply_body(self, action: Action, request: RecordedRequest) -> dict:
        raise NotImplementedError

    def error_body(self, action: Action) -> dict:
        raise NotImplementedError


def max_overlap(requests: list[RecordedRequest]) -> int:
    """The largest number of these requests the server held at the same time."""
    events = sorted([(r.received, 1) for r in requests] + [(r.answered or r.received, -1) for r in requests],
                    key=lambda event: (event[0], event[1]))  # an answer before a start at the same instant
    held = peak = 0
    for _, change in events:
        held += change
        peak = max(peak, held)
    return peak


def _usage(action: Action, request: RecordedRequest) -> tuple[int, int]:
    if action.usage is not None:
        return action.usage
    return len(request.raw) // 4 + 1, len(action.text) // 4 + 1


class ScriptedOpenAIServer(ScriptedServer):
    protocol = "openai"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    def render_get(self, request: RecordedRequest) -> tuple[int, dict, bytes]:
        if request.path.rstrip("/") != "/v1/models":
            return super().render_get(request)
        body = {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "tests"}]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def reply_body(self, action: Action, request: RecordedRequest) -> dict:
        prompt_tokens, completion_tokens = _usage(action, request)
        refused = action.finish == "refusal"
        message = {
            "role": "assistant",
            "content": None if refused else action.text,
            "refusal": action.text if refused else None,
        }
        return {
            "id": f"chatcmpl-{self.served}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": (request.json or {}).get("model", self.model),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "stop" if refused else action.finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def error_body(self, action: Action) -> dict:
        kind = "rate_limit_exceeded" if action.status == 429 else "scripted_error"
        return {"error": {"message": action.text, "type": kind, "param": None, "code": kind}}


class ScriptedAnthropicServer(ScriptedServer):
    protocol = "anthropic"

    @property
    def base_url(self) -> str:
        return self.root_url  # the SDK appends /v1/messages

    def reply_body(self, action: Action, request: RecordedRequest) -> dict:
        body = request.json or {}
        input_tokens, output_tokens = _usage(action, request)
        tools = body.get("tools") or []
        if action.finish == "refusal":
            content, stop = [{"type": "text", "text": action.text}], "refusal"
        elif tools and action.data is not None:
            content = [
                {"type": "tool_use", "id": f"toolu_{self.served}", "name": tools[0]["name"], "input": action.data}
            ]
            stop = "max_tokens" if action.finish == "length" else "tool_use"
        else:
            content = [{"type": "text", "text": action.text}]
            stop = "max_tokens" if action.finish == "length" else "end_turn"
        return {
            "id": f"msg_{self.served}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", self.model),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }

    def error_body(self, action: Action) -> dict:
        kind = {
            429: "rate_limit_error",
            401: "authentication_error",
            400: "invalid_request_error",
            529: "overloaded_error",
        }.get(action.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": action.text}}


# ---------------------------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------------------------


class _HTTPServer(TrackingHTTPServer):
    request_queue_size = 512  # the default backlog of 5 drops connections when 64 clients connect at once

    def __init__(self, address, handler_class, *, scripted: ScriptedServer):
        super().__init__(address, handler_class)
        self.scripted = scripted


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
    server_version = "ScriptedLLM"
    timeout = 60

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the client went away (timeouts, dropped connections)
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_GET

    def log_message(self, format: str, *args) -> None:
        pass  # quiet; requests are recorded instead

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            raw=raw,
            json=parsed,
        )
        _, response = self.server.scripted.handle(request)
        if response is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, headers, body = response
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client timed out and left


SERVERS = {"openai": ScriptedOpenAIServer, "anthropic": ScriptedAnthropicServer}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.scripted_llm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(SERVERS), default="openai")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--reply-json", help="the JSON every request gets (default: an instance of its schema)")
    args = parser.parse_args(argv)
    responder = answer_the_schema
    if args.reply_json is not None:
        fixed = reply_json(json.loads(args.reply_json), usage=(20, 5))
        responder = lambda request: fixed
    with SERVERS[args.protocol](responder=responder, latency=args.latency, port=args.port, record=False) as server:
        print(f"PORT {server.port}", flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or exits)
        print(f"SERVED {server.served} MAX_IN_FLIGHT {server.max_in_flight}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
