"""Nothing lost, nothing paid twice: a killed build, a spent budget and two builds sharing one cache.

All builds here run the real CLI as subprocesses against one fake-model server per test. The model
string holds the server's URL and lands in provenance, so releases compared with each other come
from builds that talked to the same server (the same port).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time

import pytest

from tests.support.schema_faker import fake_model, reply_for
from tests.test_reliability_support import (CACHE_FILE, ROOT, build, build_report, builder_command,
                                            cache_count, cache_entries, chat_bodies, clean_env, fake_server,
                                            model_of, one_line, release_dir, release_files)

__all__ = ["fake_server"]

KILL_AFTER = 20  # replies answered before the first run is killed (a whole build makes a few hundred)


class Gate:
    """fake_model for the first `open_for` requests; later ones wait until `release()` (or 60 s)."""

    def __init__(self, open_for: int):
        self.open_for = open_for
        self.answered: list[bytes] = []
        self._count = 0
        self._lock = threading.Lock()
        self._released = threading.Event()

    def __call__(self, request):
        with self._lock:
            self._count += 1
            admitted = self._count <= self.open_for
            if admitted:
                self.answered.append(request.raw)
        if not admitted:
            self._released.wait(60)
        return fake_model(request)

    def release(self) -> None:
        self._released.set()


def wait_for(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.ci
def test_a_killed_build_resumes_without_repeating_a_call_and_releases_the_same_bytes(fake_server, tmp_path):
    gate = Gate(open_for=KILL_AFTER)
    fake_server.responder = gate
    # the answer key's salt is the owner's: one salt for both caches, so both builds deal the same positions
    salt = tmp_path / "team.salt"
    salt.write_text("5a" * 32 + "\n")
    command = builder_command(model_of(fake_server), tmp_path / "out", tmp_path / "cache",
                              "--answer-key-salt-file", str(salt))
    first = subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # every reply the server answered is in the cache, more requests are waiting at the gate: kill -9
        wait_for(lambda: cache_count(tmp_path / "cache") >= KILL_AFTER and len(chat_bodies(fake_server)) > KILL_AFTER,
                 timeout=60, what=f"{KILL_AFTER} cached replies")
        first.kill()
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        gate.release()
    assert first.returncode == -9
    first_seen = len(chat_bodies(fake_server))
    assert cache_count(tmp_path / "cache") == KILL_AFTER
    assert not (tmp_path / "out" / "tomato" / "v1.0.0").exists()  # nothing that looks like a release

    fake_server.responder = fake_model
    start = len(fake_server.requests)
    resumed = subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    resumed_bodies = chat_bodies(fake_server, start)

    start = len(fake_server.requests)
    whole = build(fake_server, tmp_path, "--answer-key-salt-file", str(salt), out="out-whole", cache="cache-whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    whole_bodies = chat_bodies(fake_server, start)

    # no completed call is made again, and nothing else is missing or extra
    assert not set(gate.answered) & set(resumed_bodies)
    assert len(resumed_bodies) + KILL_AFTER == len(whole_bodies)
    assert sorted(gate.answered + resumed_bodies) == sorted(whole_bodies)
    assert build_report(tmp_path / "out")["llm"]["total"]["cache_hits"] == KILL_AFTER
    # the same release, byte for byte
    resumed_release = release_files(release_dir(tmp_path / "out"))
    whole_release = release_files(release_dir(tmp_path / "out-whole"))
    assert resumed_release.keys() == whole_release.keys()
    assert [p for p in resumed_release if resumed_release[p] != whole_release[p]] == []
    print(f"killed run: {first_seen} requests, {KILL_AFTER} answered; resumed run: {len(resumed_bodies)} requests; "
          f"uninterrupted run: {len(whole_bodies)} requests")


@pytest.mark.slow
@pytest.mark.ci
def test_a_spent_budget_stops_with_exit_3_and_a_higher_budget_resumes_without_paying_twice(fake_server, tmp_path):
    fake_server.latency = 0.1  # requests are in flight when the budget runs out
    env = clean_env(OPENAI_API_KEY="sk-PLANTED-budget", OPENAI_BASE_URL=fake_server.base_url)
    command = builder_command("openai:gpt-4o-mini", tmp_path / "out", tmp_path / "cache")

    stopped = subprocess.run([*command, "--max-cost", "0.002"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    message = one_line(stopped.stderr)
    assert "--max-cost budget of $0.002 is spent" in message
    assert "run the same command with a higher --max-cost to continue" in message
    assert build_report(tmp_path / "out")["status"] == "stopped: budget"
    assert not (tmp_path / "out" / "tomato" / "v1.0.0").exists()
    paid = chat_bodies(fake_server)
    # every request that left was paid for: all of them are cached, in-flight ones included
    assert len(paid) > 4 and cache_count(tmp_path / "cache") == len(paid)

    start = len(fake_server.requests)
    resumed = subprocess.run([*command, "--max-cost", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not set(paid) & set(chat_bodies(fake_server, start))
    report = build_report(tmp_path / "out")
    assert report["status"] == "ok" and report["llm"]["total"]["cache_hits"] == len(paid)
    assert (tmp_path / "out" / "tomato" / "v1.0.0" / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.ci
def test_two_builds_sharing_one_cache_at_once_lose_nothing(fake_server, tmp_path):
    fake_server.latency = 0.02  # keeps both builds running side by side for a few seconds
    cache = tmp_path / "cache"
    commands = [builder_command(model_of(fake_server), tmp_path / f"out-{seed}", cache, "--seed", str(seed))
                for seed in (0, 1)]
    builds = [subprocess.Popen(c, cwd=ROOT, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for c in commands]
    results = [(b.wait(timeout=120), b.stderr.read().decode()) for b in builds]
    for code, stderr in results:
        assert code == 0, stderr[-3000:]

    with sqlite3.connect(cache / CACHE_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the fake model's reply is a function of the body: every reply either build got is in the cache
    answered = {fake_model_text(body) for body in chat_bodies(fake_server)}
    cached_texts = {entry["text"] for entry in cache_entries(cache).values()}
    assert answered <= cached_texts
    assert len(cached_texts) == len(answered) == len(cache_entries(cache))
    for seed in (0, 1):
        assert (release_dir(tmp_path / f"out-{seed}") / "manifest.json").is_file()


def fake_model_text(raw: bytes) -> str:
    """The reply text fake_model gave to this request body."""
    return reply_for(json.loads(raw))
