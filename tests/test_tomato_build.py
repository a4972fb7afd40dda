"""The ToMATO wiring: generate() through the shared pipeline with a fake LLM, and (slow) the real CLI."""

import asyncio
import collections
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from builders.cli import build_parser, latest_build_folder
from builders.llm import RequestFailed
from builders.pipeline import BuildContext, BuildReport, collect, split_by_config
from builders.resources import load_schema
from builders.tomato.build import BENCHMARK, add_arguments, conversation_group, generate
from tests.support.profiles import profile_for_label

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FakeReply:
    data: object
    text: str
    cached: bool = False
    provenance: dict = field(default_factory=dict)


class FakeLLM:
    """Role-plays, judges and answers from the request alone, so results do not depend on timing."""

    label = "fake:model"

    @property
    def profile(self):
        return profile_for_label(self.label)

    def __init__(self, fail_combo_names=()):
        self.fail_combo_names = fail_combo_names
        self.requests = 0

    async def chat(self, request):
        self.requests += 1
        await asyncio.sleep(0)  # let concurrent conversations interleave
        data = self._respond(request)
        jsonschema.Draft202012Validator(request.schema).validate(data)  # no meta-check: fast
        digest = hashlib.sha256(json.dumps([request.messages, request.sample]).encode()).hexdigest()
        return FakeReply(data, json.dumps(data), provenance={"request_hash": digest[:16]})

    def _respond(self, request):
        step = request.step
        if step == "tomato.scenario":
            raise RequestFailed("no scenario writer here")  # exercises the seed fallback
        if step == "tomato.false_belief":
            digest = hashlib.sha256(request.messages[0]["content"].encode()).digest()
            return {"compatible": digest[0] % 3 != 0, "reason": "hash verdict"}
        if step == "tomato.llm_validate":
            return {"answer": "B"}
        if step in ("tomato.consistency", "tomato.uniqueness"):
            digest = hashlib.sha256(request.messages[0]["content"].encode()).digest()
            if step == "tomato.consistency":  # about one item in six is judged inconsistent
                return {"plausible": "no" if digest[0] % 6 == 0 else "yes", "reason": "hash verdict"}
            return {"also_valid": ["C"] if digest[0] % 6 == 0 else [], "reason": "hash verdict"}
        system = request.messages[0]["content"]
        me = re.match(r"You are (\w+ \w+)", system).group(1)
        if me.split()[0] in self.fail_combo_names:
            raise RequestFailed("this agent always fails")
        pattern = request.schema["properties"]["thought"]["pattern"]
        n = sum(1 for m in request.messages if m["role"] == "assistant")
        moods = ["calm", "curious", "tense", "hopeful", "uneasy", "relieved", "proud", "tired", "bold"]
        return {"thought": f"{pattern[1:pattern.index('[')]}{moods[(n + len(me)) % 9]} about turn {n} of the talk.",
                "utterance": f"{me} says line {n} of this talk."}


def build(argv, llm):
    args = build_parser(BENCHMARK, add_arguments).parse_args(argv)
    report = BuildReport()
    kept = [0]
    ctx = BuildContext(args=args, llm=llm, judge=llm, seed=args.seed, report=report, kept=lambda: kept[0])

    async def main():
        return await collect(BENCHMARK, load_schema("tomato"), generate(ctx), report, args.n,
                             on_progress=lambda k: kept.__setitem__(0, k))

    return asyncio.run(main()), report


def test_generate_through_the_pipeline_is_valid_and_deterministic():
    collected, report = build(["--n", "60", "--seed", "3", "--concurrency", "4"], FakeLLM())
    again, _ = build(["--n", "60", "--seed", "3", "--concurrency", "2"], FakeLLM())
    records = collected.kept
    assert len(records) == 60 and not collected.exhausted
    assert json.dumps(records, sort_keys=True) == json.dumps(again.kept, sort_keys=True)
    assert [r for r in report.rejects if r["stage"] == "validate"] == []
    assert report.funnel["scenario fallbacks"] == report.funnel["conversations"]
    assert all(r["provenance"]["environment"]["source"] == "seed" for r in records)
    fb = [r for r in records if r["false_belief"]]
    assert fb and all(r["order"] == 2 and int(r["u_id"]) % 2 == 1 for r in fb)
    assert all(len(r["provenance"]["false_belief_check"]["verdicts"]) == 1 for r in records if r["order"] == 2)
    assert len({r["q_id"] for r in records}) == 60
    configs = split_by_config(BENCHMARK, records, {"test": 1.0}, 3)
    assert len(configs["all"]["test"]) == 60
    assert len(configs["first_order"]["test"]) + len(configs["second_order"]["test"]) == 60
    assert {r["q_id"] for r in configs["false_belief"]["test"]} == {r["q_id"] for r in fb}


def test_a_conversation_stays_in_one_group_and_failures_are_counted():
    llm = FakeLLM(fail_combo_names=())
    collected, report = build(["--n", "30", "--llm-validate", "--conversation-attempts", "1"], llm)
    groups = collections.defaultdict(set)
    for record in collected.kept:
        groups[conversation_group(record)].add(record["provenance"]["conversation_key"])
        assert record["provenance"]["llm_validation"]["answer"] == "B"
    assert all(len(keys) == 1 for keys in groups.values())
    assert report.funnel["conversations"] >= 3


def test_dropped_conversations_are_reported_and_the_build_stops_at_the_limit():
    class AlwaysFailing(FakeLLM):
        def _respond(self, request):
            if request.step == "tomato.turn":
                raise RequestFailed("down")
            return super()._respond(request)

    collected, report = build(["--n", "20", "--max-conversations", "3", "--conversation-attempts", "2",
                               "--turn-attempts", "1"], AlwaysFailing())
    assert collected.kept == [] and collected.exhausted
    assert report.funnel["conversations failed"] == 3
    reasons = [r["reason"] for r in report.rejects if r["stage"] == "conversation"]
    assert len(reasons) == 3 and all("sample 0" in r and "sample 1" in r for r in reasons)


@pytest.mark.slow
@pytest.mark.model
def test_cli_builds_a_small_release_on_the_embedded_model(tmp_path, smollm2_model_dir):
    env = {**os.environ, "TOOLKIT_SMOLLM2_GGUF": str(smollm2_model_dir / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")}
    result = subprocess.run([sys.executable, "-m", "builders.tomato", "--n", "10", "--out", str(tmp_path / "out"),
                             "--cache-dir", str(tmp_path / "cache"), "--quiet"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((latest_build_folder(tmp_path / "out", "tomato") / "build-report.json").read_text())
    assert report["status"] == "ok" and report["funnel"]["released"] == 10


def test_shorter_conversations_validate_and_out_of_range_exchanges_are_refused():
    collected, report = build(["--n", "16", "--exchanges", "4"], FakeLLM())
    assert len(collected.kept) == 16 and [r for r in report.rejects if r["stage"] == "validate"] == []
    assert all(len(r["conversation"].split("\n")) == 10 for r in collected.kept)
    for bad in ("3", "8"):
        with pytest.raises(SystemExit):
            build_parser(BENCHMARK, add_arguments).parse_args(["--exchanges", bad])
