"""Issue 17, LLM layer: each test injects one fault and checks what the build does about it.

- a provider error that echoes the API key (whole, cut short, masked) leaves no trace of it;
- a reply with a lone surrogate is paid once, cached, and served from the cache after;
- --max-cost is refused for a model without a price unless --price-per-mtok gives one;
- credentials in an openai-compatible URL are refused before anything is written;
- at high concurrency the spend stays within --max-cost, and the stop message states the report's figure;
- a 10 MB reply is refused without being held in memory, and impossible token counts are not billed.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from builders.llm import Accounting, BudgetExceeded, ChatRequest, ConfigError, RequestFailed, parse_model
from builders.llm.errors import usd
from builders.llm.models import ModelSpec
from builders.llm.secrets import PLACEHOLDER, redact
from tests.support.llm_fixtures import run_chats
from tests.support.scripted_llm import (ScriptedAnthropicServer, ScriptedOpenAIServer, http_error, reply_json,
                                        reply_text)
from tests.test_reliability_support import (build, build_report, builder_command, clean_env, fake_server, one_line,
                                            rejects, run)

__all__ = ["fake_server"]  # the fixture, imported to be found

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def ask(content: str = "hello", **options) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": content}], **options)


def planted_key(kind: str) -> str:
    # A random start: a shared "sk-PLANTED" start would let one key's redaction hide another's leak.
    return f"sk-{kind}-{secrets.token_hex(4)}{secrets.token_hex(16)}"


def traces_of(key: str) -> list[str]:
    """What of a key must never show: its starts and ends of 8 characters and its masked forms."""
    return [key[:8], key[-8:], f"****{key[-4:]}", f"{key[:4]}****"]


def leaked(key: str, text: str) -> list[str]:
    return [trace for trace in traces_of(key) if trace in text]


def echoing_error_message(keys: list[str], pad: int) -> str:
    """An error body quoting each key whole, cut short and masked, after `pad` characters, so that a
    cut at 200 or 300 characters lands inside a key for some pads."""
    forms = " ".join(f"key {k} prefix {k[:14]}... masked {k[:8]}****{k[-4:]} stars ****{k[-4:]}" for k in keys)
    return "x" * pad + " Incorrect API key provided: " + forms


# ---------------------------------------------------------------------------------------------
# 1. Keys echoed by a provider
# ---------------------------------------------------------------------------------------------


def test_redact_takes_out_whole_cut_short_and_masked_keys(monkeypatch):
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" + "WXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    for shown in (key, key[:9], key[:20] + "...", key[-10:], f"{key[:8]}****{key[-4:]}", f"sk-p****{key[-4:]}",
                  f"****{key[-4:]}", f"{key[:3]}...{key[-4:]}", f"{key[:5]}\u2022\u2022\u2022{key[-4:]}"):
        text = redact(f"Incorrect API key provided: {shown} (see the docs)")
        assert text == f"Incorrect API key provided: {PLACEHOLDER} (see the docs)", (shown, text)
    # a key given to the client (not in the environment) counts too; text without keys is left alone
    assert redact("token zz-private-9876543210", ["zz-private-9876543210"]) == f"token {PLACEHOLDER}"
    untouched = "Rate limit reached... retry in 20 s; ****; a...b; the sk- prefix"
    assert redact(untouched) == untouched


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
@pytest.mark.parametrize("status", [401, 500])
def test_a_key_echoed_in_an_error_is_redacted_before_it_is_cut_short(protocol, status, make_llm, monkeypatch):
    server_class = ScriptedOpenAIServer if protocol == "openai" else ScriptedAnthropicServer
    key = planted_key(protocol)
    hf_token = planted_key("hf")
    monkeypatch.setenv("HF_TOKEN", hf_token)
    variable = "OPENAI_API_KEY" if protocol == "openai" else "ANTHROPIC_API_KEY"
    monkeypatch.setenv(variable, key)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with server_class() as server:
        monkeypatch.setenv("OPENAI_BASE_URL" if protocol == "openai" else "ANTHROPIC_BASE_URL", server.base_url)
        # the cut at 200 (5xx) or 300 (4xx) characters lands inside the key for some of these pads
        pads = itertools.cycle(range(150, 300, 7))
        server.responder = lambda request: http_error(status, retry_after=0,
                                                      message=echoing_error_message([key, hf_token], next(pads)))
        model = "openai:gpt-4o-mini" if protocol == "openai" else "anthropic:claude-haiku-4-5"
        llm = make_llm(model, concurrency=4, max_retries=2)
        outcomes = run_chats(llm, [ask(f"q{n}", schema=SCHEMA) for n in range(8)])
    assert all(isinstance(outcome, RequestFailed) for outcome in outcomes)
    assert all(f"HTTP {status}" in outcome.reason for outcome in outcomes)
    assert any(PLACEHOLDER in outcome.reason for outcome in outcomes)
    kept = " ".join(str(o) + repr(o) for o in outcomes) + json.dumps(llm.accounting.report())
    assert leaked(key, kept) == [] and leaked(hf_token, kept) == []


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_keys_echoed_in_401_and_500_bodies_reach_no_file_and_no_stream(protocol, tmp_path):
    """The real CLI against a server that echoes the keys in every error: nothing it keeps holds them."""
    keys = {"OPENAI_API_KEY": planted_key("openai"), "ANTHROPIC_API_KEY": planted_key("ant"),
            "HF_TOKEN": planted_key("hf")}
    counter = itertools.count()

    def respond(request):
        n = next(counter)
        status = 401 if n % 2 else 500
        return http_error(status, retry_after=0, message=echoing_error_message(list(keys.values()), 150 + 7 * n % 160))

    server_class = ScriptedOpenAIServer if protocol == "openai" else ScriptedAnthropicServer
    with server_class(responder=respond) as server:
        base = {"OPENAI_BASE_URL": server.base_url} if protocol == "openai" else \
            {"ANTHROPIC_BASE_URL": server.base_url}
        env = clean_env(**keys, **base, OPENAI_LOG="debug")
        model = "openai:gpt-4o-mini" if protocol == "openai" else "anthropic:claude-haiku-4-5"
        command = [part for part in builder_command(model, tmp_path / "out", tmp_path / "cache", n=4)
                   if part != "--quiet"]
        result = run(command, env=env)
        assert len(server.requests) > 4  # 401s and retried 500s, each echoing the keys
    assert result.returncode == 1, result.stderr[-3000:]  # no record could be built
    report = build_report(tmp_path / "out")
    reasons = [failure["reason"] for failure in report["llm"]["failed_requests"]]
    assert any("HTTP 401" in r for r in reasons) and any("HTTP 500" in r for r in reasons)
    assert rejects(tmp_path / "out")  # the dropped conversations, with the failures' reasons
    artifacts = {"stdout": result.stdout.encode(), "stderr": result.stderr.encode(),
                 **files_under(tmp_path / "out"), **files_under(tmp_path / "cache")}
    for variable, key in keys.items():
        found = {name: leaked(key, data.decode("utf-8", "replace")) for name, data in artifacts.items()}
        assert {name: traces for name, traces in found.items() if traces} == {}, variable


# ---------------------------------------------------------------------------------------------
# 2. A lone surrogate in a paid reply
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_reply_with_a_lone_surrogate_is_stored_and_served_from_the_cache(protocol, request, make_llm, tmp_path):
    server = request.getfixturevalue(f"{protocol}_server")
    model = "openai:gpt-4o-mini" if protocol == "openai" else "anthropic:claude-haiku-4-5"
    server.responder = lambda r: reply_json({"answer": "broken \ud800 text"})
    first = run_chats(make_llm(model), [ask(schema=SCHEMA)])[0]
    assert not isinstance(first, BaseException), first
    assert first.data == {"answer": "broken \ufffd text"} and "\ud800" not in first.text
    assert first.provenance["lone_surrogates_replaced"] == 1
    assert len(server.requests) == 1

    again = run_chats(make_llm(model), [ask(schema=SCHEMA)])[0]  # a rerun: a new client on the same cache
    assert again.cached and again.data == first.data and again.text == first.text
    assert len(server.requests) == 1  # paid once


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_key_a_provider_echoes_into_a_reply_is_redacted_before_it_is_cached(protocol, request, make_llm,
                                                                               monkeypatch):
    server = request.getfixturevalue(f"{protocol}_server")
    variable, model = (("OPENAI_API_KEY", "openai:gpt-4o-mini") if protocol == "openai"
                       else ("ANTHROPIC_API_KEY", "anthropic:claude-haiku-4-5"))
    key = "sk-planted-" + "Q7xW" * 8
    monkeypatch.setenv(variable, key)
    server.responder = lambda r: reply_json({"answer": f"your key is {key}, masked {key[:6]}****{key[-4:]}"})
    reply = run_chats(make_llm(model), [ask(schema=SCHEMA)])[0]
    assert not isinstance(reply, BaseException), reply
    assert key[:8] not in reply.text + json.dumps(reply.data) and key[-4:] + '"' not in reply.text
    assert reply.data["answer"].startswith("your key is <API key>")
    assert reply.provenance["secrets_redacted"] >= 1
    again = run_chats(make_llm(model), [ask(schema=SCHEMA)])[0]
    assert again.cached and again.data == reply.data and len(server.requests) == 1


# ---------------------------------------------------------------------------------------------
# 4. --max-cost for a model without a price
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["openai-compatible:http://127.0.0.1:9/v1#free", "local:smollm2",
                                   "openai:not-in-prices"])
def test_max_cost_without_a_price_is_refused_naming_price_per_mtok(model, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-unpriced")
    with pytest.raises(ConfigError) as caught:
        from builders.llm import LLM

        LLM(model, cache_dir=tmp_path, max_cost=1.0)
    assert "--max-cost cannot be enforced" in str(caught.value) and "--price-per-mtok" in str(caught.value)


def test_price_per_mtok_prices_an_unlisted_model_and_enforces_the_budget(openai_server, make_llm):
    # $0.00302 a request; reserved at its worst case, every prompt byte a token: $0.00405
    openai_server.responder = lambda request: reply_text("ok", usage=(3000, 10))
    accounting = Accounting(max_cost=0.0075, price_per_mtok=(1.0, 2.0))
    llm = make_llm(f"openai-compatible:{openai_server.base_url}#free", accounting=accounting, concurrency=1)
    outcomes = run_chats(llm, [ask("a" * 4000, max_tokens=10), ask("b" * 4000, max_tokens=10),
                               ask("c" * 4000, max_tokens=10)])
    assert [o.text for o in outcomes[:2]] == ["ok", "ok"]
    assert isinstance(outcomes[2], BudgetExceeded)  # $0.00604 spent: the worst case of a third does not fit
    assert "The next request could cost up to $0.004052, more than the $0.00146 left" in str(outcomes[2])
    assert accounting.total_cost == pytest.approx(2 * (3000 * 1.0 + 10 * 2.0) / 1e6)
    assert len(openai_server.requests) == 2


def test_the_cli_refuses_max_cost_for_a_free_model_before_any_request(fake_server, tmp_path):
    result = build(fake_server, tmp_path, "--max-cost", "0.01", n=2)
    assert result.returncode == 2, result.stderr[-2000:]
    message = one_line(result.stderr)
    assert "--max-cost cannot be enforced" in message and "--price-per-mtok IN,OUT" in message
    assert "Traceback" not in result.stderr and fake_server.requests == []

    bad = build(fake_server, tmp_path, "--price-per-mtok", "cheap", n=2)
    assert bad.returncode == 2 and "expected IN,OUT" in one_line(bad.stderr)
    assert fake_server.requests == []


# ---------------------------------------------------------------------------------------------
# 7. Credentials in an openai-compatible URL
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/v1?api_key=SECRET-QUERY-123#m",
                                 "http://127.0.0.1:8000/v1?access_token=SECRET-QUERY-123#m",
                                 "http://127.0.0.1:8000/v1?x=SECRET-QUERY-123#m",
                                 "http://user:SECRET-QUERY-123@127.0.0.1:8000/v1#m",
                                 "http://127.0.0.1:8000/v1?api_key=SECRET-QUERY-123"])  # malformed as well
def test_credentials_in_the_server_url_are_refused_without_being_echoed(url):
    with pytest.raises(ConfigError) as caught:
        parse_model(f"openai-compatible:{url}")
    assert "SECRET-QUERY-123" not in str(caught.value)
    assert "OPENAI_COMPATIBLE_API_KEY" in str(caught.value) or "#<model name>" in str(caught.value)


def test_a_model_label_never_carries_user_info_or_a_query():
    spec = ModelSpec("openai-compatible", "m", "http://user:pw@127.0.0.1:8000/v1?api_key=k")
    assert spec.label == "openai-compatible:http://127.0.0.1:8000/v1#m"


def test_the_cli_refuses_a_key_in_the_url_and_writes_nothing_with_it(fake_server, tmp_path):
    secret = "SECRET-" + secrets.token_hex(8)
    model = f"openai-compatible:{fake_server.base_url}?api_key={secret}#fake"
    result = run(builder_command(model, tmp_path / "out", tmp_path / "cache", n=2))
    assert result.returncode == 2
    assert "OPENAI_COMPATIBLE_API_KEY" in one_line(result.stderr) and "api_key" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert fake_server.requests == []
    written = files_under(tmp_path)
    assert [name for name, data in written.items() if secret.encode() in data] == []


# ---------------------------------------------------------------------------------------------
# 13. The budget at high concurrency
# ---------------------------------------------------------------------------------------------


def test_spend_stays_within_max_cost_with_16_requests_in_flight(openai_server, make_llm):
    """Each request: ~4000 bytes of prompt reported as 1000 tokens, 100 output tokens (max_tokens 200).
    At gpt-4o-mini prices that is $0.00021; its worst case (4035 input, 200 output) $0.00073, so two
    fit in the budget at a time. Without reservations all 16 leave at once: $0.00336 for $0.002."""
    openai_server.latency = 0.2  # all 16 are in flight before the first reply is booked
    openai_server.responder = lambda request: reply_text("ok", usage=(1000, 100))
    accounting = Accounting(max_cost=0.002)
    llm = make_llm("openai:gpt-4o-mini", accounting=accounting, concurrency=16)
    outcomes = run_chats(llm, [ask(f"{n} " + "w" * 4000, max_tokens=200) for n in range(32)])
    stops = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert stops and all(not isinstance(o, BaseException) or isinstance(o, BudgetExceeded) for o in outcomes)
    assert accounting.total_cost <= 0.002
    assert len(openai_server.requests) >= 5
    assert openai_server.max_in_flight == 2  # only what the budget could still pay for was on the wire
    stated = re.search(r"\(\$([0-9.]+) so far\)", str(stops[0])).group(1)
    assert stated == usd(accounting.total_cost) == str(accounting.report()["budget"]["spent_usd"])


@pytest.mark.slow
@pytest.mark.ci
def test_a_budget_stop_at_concurrency_16_states_the_spend_the_report_records(fake_server, tmp_path):
    """ToMATO's requests cost about $0.0001 here and reserve up to $0.0008 (max_tokens 600-900): with 16
    leaving at once and nothing reserved, the spend overshot (issue 17: 5.7x)."""
    fake_server.latency = 0.2
    env = clean_env(OPENAI_API_KEY="sk-test-budget-r2", OPENAI_BASE_URL=fake_server.base_url)
    command = builder_command("openai:gpt-4o-mini", tmp_path / "out", tmp_path / "cache", "--concurrency", "16",
                              "--max-cost", "0.003")
    result = run(command, env=env)
    assert result.returncode == 3, result.stderr[-3000:]
    report = build_report(tmp_path / "out")
    spent = report["llm"]["total"]["cost_usd"]
    assert report["status"] == "stopped: budget" and 0.002 < spent <= 0.003
    stated = re.search(r"\(\$([0-9.]+) so far\)", one_line(result.stderr)).group(1)
    assert stated == usd(spent) == str(report["llm"]["budget"]["spent_usd"])


# ---------------------------------------------------------------------------------------------
# 20. Reply size and reported token counts
# ---------------------------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


class _ChunkedFlood(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint whose reply is 10 MB of one chat completion, sent chunked (no
    Content-Length), so that only reading can find out its size."""

    protocol_version = "HTTP/1.1"
    sent: list[int] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # made piece by piece: the test measures the memory of its process, the server's included
        pieces = itertools.chain([b'{"choices": [{"message": {"content": "'], itertools.repeat(b"x" * 65536, 160),
                                 [b'"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, '
                                  b'"completion_tokens": 5}}'])
        sent = 0
        try:
            for piece in pieces:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the client stopped reading
        finally:
            self.sent.append(sent)

    def log_message(self, *args) -> None:
        pass


def test_a_10_mb_chunked_reply_is_cut_off_at_the_cap_and_never_held(make_llm, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    _ChunkedFlood.sent = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedFlood)
    httpd.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        llm = make_llm(f"openai-compatible:http://127.0.0.1:{httpd.server_address[1]}/v1#flood",
                       max_invalid_retries=0)
        tracemalloc.start()
        (outcome,) = run_chats(llm, [ask(max_tokens=256, temperature=0)])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert isinstance(outcome, RequestFailed)
    cap = 64 * 1024 + 32 * 256
    assert f"the reply passed the cap of {cap} bytes; reading stopped there" in outcome.reason
    assert peak < 3 * 1024 * 1024, f"{peak} bytes held while refusing a 10 MB reply"
    assert _ChunkedFlood.sent and _ChunkedFlood.sent[0] < TEN_MB  # the client stopped reading it
    usage = llm.accounting.totals()
    assert usage.tokens_corrected == 1 and usage.output_tokens == 256  # booked at the most it could cost


def test_an_announced_10_mb_reply_is_refused_unread_and_asked_again(openai_server, make_llm):
    openai_server.script(reply_text("x" * TEN_MB), reply_text("fine"))
    llm = make_llm("openai:gpt-4o-mini")
    (reply,) = run_chats(llm, [ask(max_tokens=256)])
    assert reply.text == "fine" and reply.provenance["attempts"] == 2  # the first reply was refused
    assert len(openai_server.requests) == 2
    usage = llm.accounting.totals()
    assert usage.tokens_corrected == 1 and usage.reasks == 1


def test_an_oversized_reply_every_time_fails_the_request_with_the_reason(openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("y" * 200_000)
    llm = make_llm("openai:gpt-4o-mini", max_reply_bytes=100_000)
    (outcome,) = run_chats(llm, [ask(max_tokens=256)])
    assert isinstance(outcome, RequestFailed) and len(openai_server.requests) == 3  # asked again, twice
    assert "over the cap of 100000 bytes; it was not read" in outcome.reason


@pytest.mark.parametrize("reported, booked", [
    ((10, 5_000_000), (10, len("short reply"))),  # far over max_tokens: the reply's size
    ((float("nan"), -3), (len("hello") + 16 + 16, len("short reply"))),  # not counts: the prompt's, the reply's size
    ((12.0, 7.0), (12, 7)),  # whole numbers written as floats are counts
])
def test_impossible_token_counts_are_not_billed(reported, booked, openai_server, make_llm):
    openai_server.responder = lambda request: reply_text("short reply", usage=reported)
    llm = make_llm("openai:gpt-4o-mini")
    (reply,) = run_chats(llm, [ask(max_tokens=100)])
    usage = llm.accounting.totals()
    assert (usage.input_tokens, usage.output_tokens) == booked == (reply.input_tokens, reply.output_tokens)
    assert usage.tokens_corrected == (booked != reported)
