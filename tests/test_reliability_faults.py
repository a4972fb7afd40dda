"""Provider faults during a whole build, through the real CLI.

tests/test_llm_retries.py and test_llm_structured.py prove each fault on one request. Here a share
of the requests of a full `python -m builders.tomato` run goes wrong (rate limits with and without
Retry-After, 5xx, dropped connections, malformed, truncated, refused and schema-invalid replies, and
prompts that never get a valid reply) and the build must finish, build no record from a failed
reply, and list every request it gave up with its reason.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter

import pytest

from tests.support.scripted_llm import (drop_connection, http_error, malformed_json, refusal, reply_json,
                                        truncated)
from tests.support.schema_faker import fake_model
from tests.test_reliability_support import (N, build, build_report, cache_entries, chat_bodies, decoded,
                                            fake_server, one_line, rejects, release_dir, released_records,
                                            request_hashes)

__all__ = ["fake_server"]  # the fixture, re-exported for pytest

# Faults of one attempt: the client's retry (same body) or re-ask (new seed, new body) gets a good reply.
TRANSIENT = {
    "429 Retry-After": lambda: http_error(429, retry_after=1),
    "429": lambda: http_error(429),
    "500": lambda: http_error(500),
    "502": lambda: http_error(502),
    "503": lambda: http_error(503, retry_after=0),
    "dropped connection": drop_connection,
}
BAD_REPLY = {
    "malformed JSON": malformed_json,
    "truncated": lambda: truncated('{"thought": "I feel an unfinished'),
    "refusal": lambda: refusal("I can't help with that REFUSED-MARKER."),
    "schema-invalid": lambda: reply_json({"thought": 12345, "utterance": ["SCHEMA-INVALID-MARKER"]}),
}
# Strings only a faulty reply contains: none may reach a released record.
FAULT_MARKERS = ("REFUSED-MARKER", "SCHEMA-INVALID-MARKER", "an unfinished", "oops")


class FaultyModel:
    """fake_model behind faults chosen from a hash of each request, so every run injects the same ones.

    One-attempt faults hit a request body the first time it is seen; a "hopeless" prompt (its
    messages, whatever the seed) always gets a schema-invalid reply, so the client gives it up.
    """

    def __init__(self, *, fault_percent: int, hopeless_percent: int):
        self.fault_percent = fault_percent
        self.hopeless_percent = hopeless_percent
        self.injected: Counter[str] = Counter()
        self._seen: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request):
        body = request.json or {}
        prompt = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
        attempt = hashlib.sha256(request.raw).digest()
        with self._lock:
            self._seen[request.raw] += 1
            first_time = self._seen[request.raw] == 1
            if prompt[0] % 100 < self.hopeless_percent:
                return self._inject("hopeless", BAD_REPLY["schema-invalid"])
            if first_time and attempt[0] % 100 < self.fault_percent:
                kinds = list(TRANSIENT.items()) + list(BAD_REPLY.items())
                name, make = kinds[attempt[1] % len(kinds)]
                return self._inject(name, make)
        return fake_model(request)

    def _inject(self, name, make):
        self.injected[name] += 1
        return make()


@pytest.mark.slow
@pytest.mark.ci
def test_a_build_under_provider_faults_finishes_and_builds_nothing_from_a_failed_reply(fake_server, tmp_path):
    faulty = FaultyModel(fault_percent=25, hopeless_percent=4)
    fake_server.responder = faulty
    result = build(fake_server, tmp_path, "--timeout", "10")
    assert result.returncode == 0, result.stderr[-3000:]

    # every kind of fault really happened during this build
    assert set(faulty.injected) >= {"429 Retry-After", "429", "500", "502", "503", "dropped connection",
                                    "malformed JSON", "truncated", "refusal", "schema-invalid", "hopeless"}, \
        faulty.injected

    out = tmp_path / "out"
    records = released_records(release_dir(out))
    assert len(records) == N
    cached = cache_entries(tmp_path / "cache")
    replies = {key for key, entry in cached.items() if "failed" not in entry}
    for record in records:  # each record is built from replies that were validated and cached
        hashes = request_hashes(record["provenance"])
        assert hashes and hashes <= replies, record["q_id"]
    released_text = json.dumps(records)
    assert not [marker for marker in FAULT_MARKERS if marker in released_text]
    # a false belief whose judge request failed is not judged (null), never false by default
    for record in records:
        check = decoded(record["provenance"]["false_belief_check"])
        if record["false_belief"] is None:
            assert check["judged"] is False and "failed" in check["reason"], check
        elif record["order"] == 2:
            assert check["judged"] is True and all("error" not in v for v in check["verdicts"]), check
    unjudged = sum(record["false_belief"] is None for record in records)
    card = " ".join((release_dir(out) / "README.md").read_text().split())
    assert (f"{unjudged} second-order questions were not judged for false belief" in card) == (unjudged > 0)
    assert ("a judge request failed" in card) == (unjudged > 0)

    report = build_report(out)
    llm = report["llm"]
    assert llm["total"]["requests"] == len(chat_bodies(fake_server))  # every attempt the server saw is counted
    one_attempt_faults = sum(n for name, n in faulty.injected.items() if name != "hopeless")
    # transport faults are retried, invalid replies re-asked: together at least one per fault
    assert llm["total"]["retries"] + llm["total"]["reasks"] >= one_attempt_faults
    failed = llm["failed_requests"]
    print(f"injected {dict(faulty.injected)}; {llm['total']}; funnel {report['funnel']}")
    assert failed and llm["total"]["failures"] == len(failed)
    for failure in failed:  # listed with the reason; only the verdict is cached, never an invalid reply
        # three attempts, or two for a greedy request (a judge) whose refused reply came back unchanged
        attempts = failure["attempts"]
        assert f"no valid reply after {attempts} attempts" in failure["reason"]
        assert (attempts == 2) == ("the same reply came back at temperature 0" in failure["reason"]), failure
        assert attempts in (2, 3) and failure["step"].startswith("tomato.")
        assert cached[failure["request_hash"]] == {"failed": failure["reason"], "attempts": attempts}
    # a conversation given up is a reject with every attempt's reason; records beyond --n are rejects too
    for reject in rejects(out):
        assert reject["stage"] in {"conversation", "questions", "validate", "cut at --n"} and reject["reason"]
    if report["funnel"].get("conversations failed"):
        reasons = [r["reason"] for r in rejects(out) if r["stage"] == "conversation"]
        assert len(reasons) == report["funnel"]["conversations failed"]
        assert all("request failed" in reason for reason in reasons)


def test_a_provider_refusing_every_request_stops_with_a_clear_report(fake_server, tmp_path):
    fake_server.responder = lambda request: http_error(400, message="model 'fake' does not exist")
    result = build(fake_server, tmp_path, "--max-conversations", "2", "--conversation-attempts", "1",
                   "--turn-attempts", "1", "--scenario-attempts", "1")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "only 0 of 30 records" in one_line(result.stderr)
    out = tmp_path / "out"
    report = build_report(out)
    assert report["status"] == "failed: no records" and report["release"] is None
    assert not (out / "tomato" / "v1.0.0").exists()
    assert report["funnel"]["conversations failed"] == 2
    failed = report["llm"]["failed_requests"]
    assert len(failed) == len(chat_bodies(fake_server)) == report["llm"]["total"]["failures"]
    assert all("HTTP 400" in f["reason"] and "does not exist" in f["reason"] for f in failed)
    conversation_rejects = [r for r in rejects(out) if r["stage"] == "conversation"]
    assert len(conversation_rejects) == 2 and all("HTTP 400" in r["reason"] for r in conversation_rejects)
