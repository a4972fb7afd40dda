"""The response cache under faults (issue 17, round 2): foreign files, failure verdicts, a full
disk, a read-only folder, damaged entries and two builds asking the same requests at once.

Each test injects the fault for real where it can (an SQLite file of another shape, SQLITE_FULL
through `PRAGMA max_page_count`, SQLITE_READONLY through a read-only connection, a killed claimer)
and checks what was paid: requests counted by the scripted server.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from builders.llm import LLM, ChatRequest, ResponseCache
from builders.llm import cache as cache_module
from builders.llm.cache import fallback_paths
from builders.llm.client import CACHE_FILE
from builders.llm.errors import CacheReadOnly, CacheWriteFailed, ConfigError, RequestFailed
from release.rebuild import ReleaseConfig
from release.rebuild import builder_command as rebuild_command
from tests.support.llm_fixtures import FAST_RETRIES, run_chats
from tests.support.schema_faker import fake_model
from tests.support.scripted_llm import ScriptedOpenAIServer, reply_json, reply_text
from tests.test_reliability_inputs import assert_bad_input
from tests.test_reliability_support import (
    ROOT,
    build,
    build_report,
    builder_command,
    cache_entries,
    chat_bodies,
    clean_env,
    fake_server,
    model_of,
    one_line,
    release_dir,
    release_files,
)

__all__ = ["fake_server"]  # the fixture, re-exported for pytest

SMALL = 5  # records: one conversation, a build of a few seconds
SCHEMA_SAID = {"type": "object", "properties": {"said": {"type": "string"}}, "required": ["said"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}], **{"schema": SCHEMA_SAID, **fields})


def echo(request):
    """Answers each prompt with itself, so a reply shows which request produced it."""
    return reply_json({"said": request.json["messages"][-1]["content"]})


@pytest.fixture
def echo_server(monkeypatch):
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "unused")
    with ScriptedOpenAIServer(responder=echo) as server:
        yield server


def llm_on(server, cache_dir: Path, **options) -> LLM:
    return LLM(f"openai-compatible:{server.base_url}#scripted", cache_dir=cache_dir, **{**FAST_RETRIES, **options})


# ---- item 3: only exactly our format is taken over -----------------------------------------------
# (the refusals are cases of tests/test_reliability_inputs.py's not-ours cache test)


def test_a_version_1_cache_from_before_claims_opens_and_gains_its_inflight_table(echo_server, tmp_path):
    path = tmp_path / CACHE_FILE
    with sqlite3.connect(path) as db:  # exactly what the previous release created
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', '1')")
        db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                   "created REAL NOT NULL)")
    db.close()
    run_chats(llm_on(echo_server, tmp_path), [ask("a")])
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert tables == {"meta", "responses", "inflight", "batches", "batch_lines"}
    (again,) = run_chats(llm_on(echo_server, tmp_path), [ask("a")])
    assert again.cached and len(echo_server.requests) == 1


# ---- item 5: a failure verdict is asked again in a later run, bounded -----------------------------


def test_a_failure_verdict_stands_within_a_run_and_is_asked_again_in_later_runs_up_to_the_bound(
        echo_server, tmp_path):
    echo_server.responder = lambda request: reply_text("not json")  # the provider is broken
    run_one = llm_on(echo_server, tmp_path, max_invalid_retries=2, retry_failed_runs=1)
    failed, again = run_chats(run_one, [ask("a")]) + run_chats(run_one, [ask("a")])
    assert isinstance(failed, RequestFailed) and isinstance(again, RequestFailed)
    assert len(echo_server.requests) == 3  # three attempts once; the same run replays the verdict

    # the next run asks again (still broken): three more attempts, the verdict now counts two runs
    (failed,) = run_chats(llm_on(echo_server, tmp_path, max_invalid_retries=2, retry_failed_runs=1), [ask("a")])
    assert isinstance(failed, RequestFailed) and len(echo_server.requests) == 6
    assert cache_entries(tmp_path)[failed.request_hash]["runs"] == 2
    # the bound (1 later run) is reached: the verdict is replayed even though the server is fixed now
    echo_server.responder = echo
    (replayed,) = run_chats(llm_on(echo_server, tmp_path, retry_failed_runs=1), [ask("a")])
    assert isinstance(replayed, RequestFailed) and len(echo_server.requests) == 6
    # a larger bound asks again, and the reply replaces the verdict for good
    (fixed,) = run_chats(llm_on(echo_server, tmp_path, retry_failed_runs=3), [ask("a")])
    assert fixed.data == {"said": "a"} and not fixed.cached and len(echo_server.requests) == 7
    (cached,) = run_chats(llm_on(echo_server, tmp_path, retry_failed_runs=3), [ask("a")])
    assert cached.cached and len(echo_server.requests) == 7


def test_zero_keeps_verdicts_and_sends_nothing(echo_server, tmp_path):
    echo_server.responder = lambda request: reply_text("not json")
    run_chats(llm_on(echo_server, tmp_path, max_invalid_retries=0), [ask("a"), ask("b")])
    assert len(echo_server.requests) == 2
    echo_server.responder = echo
    replies = run_chats(llm_on(echo_server, tmp_path, retry_failed_runs=0), [ask("a"), ask("b")])
    assert all(isinstance(reply, RequestFailed) for reply in replies) and len(echo_server.requests) == 2


def test_a_negative_bound_is_refused_before_the_cache_is_opened(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "unused")
    with pytest.raises(ConfigError, match="--retry-failed-runs must be 0 or more, got -1"):
        LLM("openai-compatible:http://127.0.0.1:9/v1#m", cache_dir=tmp_path / "cache", retry_failed_runs=-1)
    assert not (tmp_path / "cache").exists()


def test_a_rebuild_replays_failure_verdicts_instead_of_asking_again(tmp_path):
    ours = ReleaseConfig(benchmark="tomato", model="local:smollm2", n=5, seed=0)
    assert rebuild_command(ours)[-2:] == ["--retry-failed-runs", "0"]
    chosen = ReleaseConfig(benchmark="tomato", model="local:smollm2", n=5, seed=0,
                           builder_args={"retry_failed_runs": 2})
    assert rebuild_command(chosen)[-2:] == ["--retry-failed-runs", "2"]
    assert rebuild_command(chosen).count("--retry-failed-runs") == 1
    custom = ReleaseConfig(benchmark="quiz", model="local:smollm2", n=5, seed=0, builder_module="my_builder")
    assert "--retry-failed-runs" not in rebuild_command(custom)  # its own flags are unknown


class HopelessPrompts:
    """fake_model, except that a fixed share of prompts (by their messages) get schema-invalid replies."""

    def __init__(self, percent: int):
        self.percent = percent
        self.broken = True

    def hopeless(self, body: dict) -> bool:
        digest = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
        return digest[0] % 100 < self.percent

    def __call__(self, request):
        if self.broken and self.hopeless(request.json or {}):
            return reply_json({"thought": 12345, "utterance": ["SCHEMA-INVALID"]})
        return fake_model(request)


@pytest.mark.slow
def test_after_the_server_is_fixed_the_same_command_asks_only_the_failed_requests_again(fake_server, tmp_path):
    responder = HopelessPrompts(percent=6)
    fake_server.responder = responder
    first = build(fake_server, tmp_path, n=SMALL)
    assert first.returncode in (0, 1), first.stderr[-3000:]
    failed = build_report(tmp_path / "out")["llm"]["failed_requests"]
    assert failed, "no request failed: raise HopelessPrompts.percent"
    run_one = chat_bodies(fake_server)
    hopeless = {json.dumps(json.loads(body)["messages"]) for body in run_one if responder.hopeless(json.loads(body))}
    answered = {body for body in run_one if not responder.hopeless(json.loads(body))}

    # --retry-failed-runs 0 (what a rebuild passes): nothing is sent, the same release (no new version)
    start = len(fake_server.requests)
    replay = build(fake_server, tmp_path, "--retry-failed-runs", "0", n=SMALL)
    assert replay.returncode == first.returncode, replay.stderr[-3000:]
    assert chat_bodies(fake_server, start) == []
    assert build_report(tmp_path / "out")["llm"]["failed_requests"] == failed
    assert not release_dir(tmp_path / "out", "v1.0.1").exists()

    # the server is fixed: the same command asks the failed requests again and nothing it had a reply for
    responder.broken = False
    start = len(fake_server.requests)
    fixed = build(fake_server, tmp_path, n=SMALL)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    run_three = chat_bodies(fake_server, start)
    asked_again = {json.dumps(json.loads(body)["messages"]) for body in run_three}
    # every failed request the build still needs is asked again (a fixed conversation may reach --n
    # before the build gets to a later one that failed), and nothing that had a valid reply
    assert hopeless & asked_again
    assert not set(run_three) & answered
    report = build_report(tmp_path / "out")
    assert report["status"] == "ok" and report["llm"]["failed_requests"] == []


# ---- item 11: a full disk loses no paid reply ----------------------------------------------------


def fill_up(cache: ResponseCache) -> None:
    """SQLITE_FULL for real: the database may not grow beyond the pages it has now."""
    db = cache._connection()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def big(n: int) -> str:
    return f"prompt {n} " + "x" * 6000  # larger than a page: every new entry needs new pages


def test_replies_sqlite_cannot_store_go_to_the_fallback_file_and_the_next_start_imports_them(
        echo_server, tmp_path):
    llm = llm_on(echo_server, tmp_path)
    run_chats(llm, [ask(big(0))])
    fill_up(llm.cache)
    outcomes = run_chats(llm, [ask(big(n)) for n in (1, 2, 3)])
    assert len(echo_server.requests) == 4
    assert all(isinstance(outcome, CacheWriteFailed) for outcome in outcomes), outcomes
    fallback = fallback_paths(tmp_path / CACHE_FILE)[0]
    message = one_line(str(outcomes[-1]))
    assert "database or disk is full" in message and "free space on the disk holding" in message
    assert f"saved in {fallback}" in message and "run the same command again" in message
    assert outcomes[-1].fallback == fallback
    saved = [json.loads(line) for line in fallback.read_text().splitlines()]
    assert sorted(entry["value"]["data"]["said"] for entry in saved) == [big(n) for n in (1, 2, 3)]
    # nothing more is sent once replies cannot be stored
    (stopped,) = run_chats(llm, [ask(big(4))])
    assert isinstance(stopped, CacheWriteFailed) and len(echo_server.requests) == 4

    again = llm_on(echo_server, tmp_path)  # the next start, with room again
    assert again.cache.imported_from_fallback == 3 and not fallback.exists()
    replies = run_chats(again, [ask(big(n)) for n in range(4)])
    assert [reply.cached for reply in replies] == [True] * 4 and len(echo_server.requests) == 4


def test_when_the_next_start_still_cannot_write_the_fallback_file_waits(echo_server, tmp_path, monkeypatch):
    llm = llm_on(echo_server, tmp_path)
    run_chats(llm, [ask("warm")])
    fill_up(llm.cache)
    run_chats(llm, [ask(big(1))])
    fallback = fallback_paths(tmp_path / CACHE_FILE)[0]
    kept = fallback.read_bytes()
    llm.cache.close()

    real_prepare = ResponseCache._prepare

    def still_full(self, db):
        real_prepare(self, db)
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")

    monkeypatch.setattr(ResponseCache, "_prepare", still_full)
    with pytest.raises(CacheWriteFailed, match="wait there, nothing is lost"):
        ResponseCache(tmp_path / CACHE_FILE)
    assert fallback.read_bytes() == kept


def test_when_the_cache_folder_takes_nothing_the_fallback_goes_to_the_temp_folder(echo_server, tmp_path,
                                                                                   monkeypatch):
    llm = llm_on(echo_server, tmp_path / "cache")
    run_chats(llm, [ask("warm")])
    fill_up(llm.cache)
    beside, in_temp = fallback_paths(llm.cache.path)
    beside.mkdir()  # appending to it fails (a folder is in the way, as a full disk would refuse)
    try:
        (outcome,) = run_chats(llm, [ask(big(1))])
        assert isinstance(outcome, CacheWriteFailed) and outcome.fallback == in_temp
        assert f"saved in {in_temp}" in str(outcome)
        beside.rmdir()
        again = llm_on(echo_server, tmp_path / "cache")
        assert again.cache.imported_from_fallback == 1 and not in_temp.exists()
        (reply,) = run_chats(again, [ask(big(1))])
        assert reply.cached and len(echo_server.requests) == 2
    finally:
        in_temp.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_build_whose_disk_fills_up_keeps_every_paid_reply_and_the_next_run_pays_none_twice(
        fake_server, tmp_path):
    fake_server.latency = 0.01
    cache = tmp_path / "cache"
    command = builder_command(model_of(fake_server), tmp_path / "out", cache, n=SMALL)
    # a real build whose cache stops taking writes after 10 replies (SQLITE_FULL)
    first = subprocess.run([sys.executable, "-m", "tests.support.full_disk_builder", "10", *command[3:]], cwd=ROOT,
                           env=clean_env(), check=False, capture_output=True, text=True, timeout=300)
    assert first.returncode != 0 and "Traceback" not in first.stderr, first.stderr[-3000:]
    fallback = fallback_paths(cache / CACHE_FILE)[0]
    message = one_line(first.stderr)
    assert "database or disk is full" in message and f"saved in {fallback}" in message, message[-2000:]
    assert "run the same command again" in message
    paid = chat_bodies(fake_server)
    in_db, in_fallback = cache_entries(cache), [json.loads(line) for line in fallback.read_text().splitlines()]
    assert in_fallback and len(in_db) + len({e["key"] for e in in_fallback}) == len(paid)  # every paid reply kept

    start = len(fake_server.requests)
    resumed = build(fake_server, tmp_path, n=SMALL)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not fallback.exists()
    assert not set(chat_bodies(fake_server, start)) & set(paid)  # nothing paid twice
    assert build_report(tmp_path / "out")["llm"]["total"]["cache_hits"] >= len(paid)


# ---- item 12: a read-only cache is called read-only ----------------------------------------------


def read_only_connect(real_connect):
    """sqlite3.connect opening the cache file read-only: SQLITE_READONLY for real, even as root."""
    def connect(database, *args, **kwargs):
        if isinstance(database, Path) and database.name == CACHE_FILE:
            return real_connect(f"{database.absolute().as_uri()}?mode=ro", *args, uri=True, **kwargs)
        return real_connect(database, *args, **kwargs)
    return connect


def assert_read_only_message(message: str, path: Path) -> None:
    message = one_line(message)
    assert f"the response cache {path} is read-only" in message
    assert "The cached replies in it are intact" in message and "chmod u+w" in message
    assert "pass a writable --cache-dir" in message and "unreadable" not in message


def test_a_cache_sqlite_cannot_write_is_called_read_only_with_the_fix(echo_server, tmp_path, monkeypatch):
    run_chats(llm_on(echo_server, tmp_path), [ask("paid for")])
    before = sha256(tmp_path / CACHE_FILE)
    monkeypatch.setattr(cache_module.sqlite3, "connect", read_only_connect(sqlite3.connect))
    with pytest.raises(CacheReadOnly) as caught:
        ResponseCache(tmp_path / CACHE_FILE)
    assert_read_only_message(str(caught.value), tmp_path / CACHE_FILE)
    assert "attempt to write a readonly database" in str(caught.value)
    assert sha256(tmp_path / CACHE_FILE) == before


def test_a_cache_that_turns_read_only_mid_build_sends_nothing_more_and_keeps_a_paid_reply(echo_server, tmp_path):
    llm = llm_on(echo_server, tmp_path)
    run_chats(llm, [ask("warm")])
    llm.cache._db = sqlite3.connect(f"{(tmp_path / CACHE_FILE).as_uri()}?mode=ro", uri=True,
                                    check_same_thread=False, isolation_level=None)
    (outcome,) = run_chats(llm, [ask("not yet sent")])  # the claim cannot be written: nothing is sent
    assert isinstance(outcome, CacheReadOnly) and len(echo_server.requests) == 1
    assert_read_only_message(str(outcome), tmp_path / CACHE_FILE)

    llm.cache._db = sqlite3.connect(f"{(tmp_path / CACHE_FILE).as_uri()}?mode=ro", uri=True,
                                    check_same_thread=False, isolation_level=None)
    paid = {"text": '{"said": "paid"}', "data": {"said": "paid"}, "provenance": {"attempts": 1}}
    with pytest.raises(CacheWriteFailed) as caught:  # a reply that arrives after the file turned read-only
        llm.cache.put("k" * 64, paid)
    assert_read_only_message(str(caught.value), tmp_path / CACHE_FILE)
    assert json.loads(caught.value.fallback.read_text()) == {"key": "k" * 64, "value": paid}
    assert llm.cache.get("k" * 64) == paid  # this run still has it


def test_a_folder_this_user_cannot_write_is_named_as_read_only(tmp_path, monkeypatch):
    (tmp_path / CACHE_FILE).touch()
    monkeypatch.setattr(cache_module.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(CacheReadOnly) as caught:
        ResponseCache(tmp_path / CACHE_FILE)
    assert_read_only_message(str(caught.value), tmp_path / CACHE_FILE)
    assert f"this user cannot write {tmp_path}" in one_line(str(caught.value))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod: a read-only folder cannot be made")
def test_a_chmod_read_only_cache_folder_through_the_cli(fake_server, tmp_path):
    cache = tmp_path / "cache"
    assert build(fake_server, tmp_path, n=SMALL).returncode == 0
    before = sha256(cache / CACHE_FILE)
    start = len(fake_server.requests)
    cache.chmod(0o555)
    try:
        result = build(fake_server, tmp_path, "--seed", "1", n=SMALL)
    finally:
        cache.chmod(0o755)
    assert_bad_input(result, f"the response cache {cache / CACHE_FILE} is read-only", "chmod u+w", "intact")
    assert chat_bodies(fake_server, start) == [] and sha256(cache / CACHE_FILE) == before


# ---- item 19: an entry that is JSON but not a reply ------------------------------------------------


@pytest.mark.parametrize("damage", [
    {"data": {"said": "a"}, "provenance": {}},  # no text
    ["a", "list"],
    {"text": 42, "data": {"said": "a"}},
    {"text": "ok", "provenance": "not an object"},
    {"failed": 7},
    {"failed": "no valid reply", "attempts": 3, "runs": "two"},
], ids=["no text", "not an object", "text not a string", "provenance not an object", "verdict without reason",
        "verdict with a bad run count"])
def test_an_entry_that_is_not_a_reply_is_counted_and_only_it_is_asked_again(echo_server, tmp_path, damage):
    llm = llm_on(echo_server, tmp_path)
    replies = run_chats(llm, [ask(text) for text in "abc"])
    key = replies[1].provenance["request_hash"]
    with sqlite3.connect(tmp_path / CACHE_FILE) as db:
        db.execute("UPDATE responses SET value = ? WHERE key = ?", (json.dumps(damage).encode(), key))
    db.close()
    again = llm_on(echo_server, tmp_path)
    replies = run_chats(again, [ask(text) for text in "abc"])
    assert [reply.cached for reply in replies] == [True, False, True], replies
    assert replies[1].data == {"said": "b"} and len(echo_server.requests) == 4
    assert again.cache.report()["corrupt_entries_replaced"] == 1
    assert again.cache.report()["corrupt_entry_keys"] == [key[:16]]
    assert cache_entries(tmp_path)[key]["text"] == replies[1].text  # replaced
    (third,) = run_chats(llm_on(echo_server, tmp_path), [ask("b")])
    assert third.cached and len(echo_server.requests) == 4


# ---- item 10: builds sharing a cache do not pay twice for one request ------------------------------


def foreign_claim(cache_path: Path, key: str, *, pid: int, host: str | None = None, age: float = 0.0) -> None:
    with sqlite3.connect(cache_path) as db:
        db.execute("INSERT INTO inflight VALUES (?, ?, ?, ?, ?)",
                   (key, f"other:{pid}:token", pid, host or socket.gethostname(), time.time() - age))
    db.close()


def key_of(llm: LLM, request: ChatRequest) -> str:
    return llm._key(request)


def test_a_request_another_live_process_is_asking_is_waited_for_not_paid_again(echo_server, tmp_path):
    llm = llm_on(echo_server, tmp_path)
    key = key_of(llm, ask("a"))
    foreign_claim(llm.cache.path, key, pid=os.getppid())  # a live process on this host

    def the_other_build_stores_its_reply():
        time.sleep(0.6)
        other = ResponseCache(tmp_path / CACHE_FILE)
        other.put(key, {"text": '{"said": "from the other build"}', "data": {"said": "from the other build"},
                        "provenance": {"attempts": 1}})
        other.close()

    writer = threading.Thread(target=the_other_build_stores_its_reply)
    writer.start()
    (reply,) = run_chats(llm, [ask("a")])
    writer.join()
    assert echo_server.requests == [] and reply.cached and reply.data == {"said": "from the other build"}


@pytest.mark.parametrize("claim", ["dead process", "too old", "our pid, not our process"])
def test_a_stale_claim_is_taken_over(echo_server, tmp_path, claim):
    llm = llm_on(echo_server, tmp_path)
    key = key_of(llm, ask("a"))
    if claim == "dead process":
        finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True)
        foreign_claim(llm.cache.path, key, pid=int(finished.stdout))
    elif claim == "too old":
        foreign_claim(llm.cache.path, key, pid=os.getppid(), host="another-host",
                      age=cache_module.CLAIM_MAX_AGE + 1)
    else:  # a killed build whose pid this process now has (containers reuse pids)
        foreign_claim(llm.cache.path, key, pid=os.getpid())
    started = time.monotonic()
    (reply,) = run_chats(llm, [ask("a")])
    assert reply.data == {"said": "a"} and len(echo_server.requests) == 1 and time.monotonic() - started < 5
    with sqlite3.connect(llm.cache.path) as db:
        assert db.execute("SELECT COUNT(*) FROM inflight").fetchone()[0] == 0  # the claim ended with the reply
    db.close()


def test_one_build_asking_a_request_twice_at_once_pays_once(echo_server, tmp_path):
    echo_server.latency = 0.3
    replies = run_chats(llm_on(echo_server, tmp_path), [ask("a"), ask("a"), ask("a")])
    assert [reply.data for reply in replies] == [{"said": "a"}] * 3 and len(echo_server.requests) == 1


def test_a_failed_transport_ends_the_claim_so_a_waiter_asks_itself(echo_server, tmp_path):
    from tests.support.scripted_llm import http_error

    echo_server.script(http_error(400, message="bad request"))
    echo_server.latency = 0.2
    outcomes = run_chats(llm_on(echo_server, tmp_path), [ask("a"), ask("a")])
    assert isinstance(outcomes[0], RequestFailed) and outcomes[1].data == {"said": "a"}
    assert len(echo_server.requests) == 2


@pytest.mark.slow
def test_two_identical_builds_on_one_cache_pay_about_once(fake_server, tmp_path):
    fake_server.latency = 0.05  # both builds run side by side
    solo = build(fake_server, tmp_path, n=10, out="solo-out", cache="solo-cache")
    assert solo.returncode == 0, solo.stderr[-3000:]
    one_build = len(chat_bodies(fake_server))

    start = len(fake_server.requests)
    commands = [builder_command(model_of(fake_server), tmp_path / f"out-{n}", tmp_path / "shared", n=10)
                for n in (1, 2)]
    builds = [subprocess.Popen(c, cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for c in commands]
    for process in builds:
        assert process.wait(timeout=300) == 0, process.stderr.read().decode()[-3000:]
        process.stderr.close()
    shared = chat_bodies(fake_server, start)
    print(f"one build: {one_build} requests; two identical builds on one cache: {len(shared)}")
    assert len(shared) == len(set(shared))  # no request paid twice
    assert len(shared) <= one_build * 1.1
    assert release_files(release_dir(tmp_path / "out-1")) == release_files(release_dir(tmp_path / "out-2"))
