"""The consistency and uniqueness item judges (spec §5 Step 5): rules, provenance, rejects and positions.

Judges here are fakes that answer from the request alone; conversations are built by hand
(tests/test_tomato_questions.py) or role-played by the fake LLM of tests/test_tomato_build.py.
"""

import asyncio
import collections
import hashlib
import json
import types

import jsonschema

from builders.cli import build_parser
from builders.llm import RequestFailed
from builders.pipeline import BuildContext, BuildReport
from builders.resources import load_schema
from builders.tomato import item_judges
from builders.tomato.build import BENCHMARK, add_arguments, generate
from builders.tomato.questions import build_candidates
from builders.tomato.records import RunInfo, make_record
from builders.validate import validate_records
from tests.test_tomato_build import FakeLLM as RolePlayingLLM
from tests.test_tomato_build import FakeReply
from tests.test_tomato_build import build as build_in_process
from tests.test_tomato_questions import make_conversation
from tests.support.profiles import SCRIPTED_NATURAL, SCRIPTED_STRICT, profile_for_label


class FakeJudge:
    """Answers judge requests with `respond(request)`; like the real layer, a reply that fails the
    request's schema raises RequestFailed."""

    @property
    def profile(self):
        return profile_for_label(self.label)

    def __init__(self, respond, label="fake:judge"):
        self.respond, self.label, self.requests = respond, label, []

    async def chat(self, request):
        self.requests.append(request)
        data = self.respond(request)
        try:
            jsonschema.Draft202012Validator(request.schema).validate(data)
        except jsonschema.ValidationError as error:
            raise RequestFailed(f"invalid reply: {error.message}") from None
        digest = hashlib.sha256(request.messages[0]["content"].encode()).hexdigest()[:16]
        return FakeReply(data, json.dumps(data), provenance={"request_hash": digest})


def verdicts(plausible="yes", also_valid=(), label="fake:judge"):
    def respond(request):
        if request.step == "tomato.consistency":
            return {"plausible": plausible, "reason": "because"}
        return {"also_valid": list(also_valid), "reason": "because"}

    return FakeJudge(respond, label)


def a_candidate(u_id=4):
    candidates, _ = build_candidates(make_conversation(), seed=0)
    return next(c for c in candidates if c.u_id == u_id)


def judge(judges, candidate):
    return asyncio.run(item_judges.judge_item(judges, candidate))


# -- the rule --------------------------------------------------------------------------------------


def test_an_item_both_checks_accept_is_kept_with_every_verdict_recorded():
    candidate = a_candidate()
    judge_llm = verdicts()
    audit = judge([judge_llm], candidate)
    assert audit["accepted"] is True and audit["checks"] == ["consistency", "uniqueness"]
    assert [v["check"] for v in audit["verdicts"]] == ["consistency", "uniqueness"]
    consistency, uniqueness = audit["verdicts"]
    assert consistency == {"check": "consistency", "model": "fake:judge", "accepted": True, "verdict": "yes",
                           "also_valid": None, "reason": "because", "error": None,
                           "request_hash": consistency["request_hash"]}
    assert uniqueness["verdict"] == "unique" and uniqueness["also_valid"] == []
    assert len(consistency["request_hash"]) == 16 and consistency["request_hash"] != uniqueness["request_hash"]
    assert [r.step for r in judge_llm.requests] == ["tomato.consistency", "tomato.uniqueness"]  # one each
    assert all(r.max_tokens <= 200 and r.temperature == 0.0 and r.prompt_hash for r in judge_llm.requests)


def test_consistency_no_rejects():
    audit = judge([verdicts(plausible="no")], a_candidate())
    assert audit["accepted"] is False and item_judges.failed_checks(audit) == ["consistency"]
    reason = item_judges.rejection_reason(audit)
    assert reason.startswith("consistency: ") and "fake:judge said 'no' (because)" in reason


def test_uniqueness_names_the_equally_valid_distractors_by_their_source_turn():
    candidate = a_candidate()
    audit = judge([verdicts(also_valid=["C", "A"])], candidate)
    uniqueness = audit["verdicts"][1]
    assert audit["accepted"] is False and item_judges.failed_checks(audit) == ["uniqueness"]
    assert uniqueness["verdict"] == "not unique"
    assert uniqueness["also_valid"] == [candidate.distractors[0].u_id, candidate.distractors[2].u_id]
    # the letters the judge may use are the three distractors only: the answer key cannot be named
    for profile in (SCRIPTED_STRICT, SCRIPTED_NATURAL):
        schema_letters = item_judges.uniqueness_schema(profile)["properties"]["also_valid"]["items"]["enum"]
        assert schema_letters == ["A", "B", "C"]


def test_every_judge_must_accept_both_checks():
    candidate = a_candidate()
    both = judge([verdicts(), verdicts(label="fake:other")], candidate)
    assert both["accepted"] is True and len(both["verdicts"]) == 4
    assert {v["model"] for v in both["verdicts"]} == {"fake:judge", "fake:other"}
    one_objects = judge([verdicts(), verdicts(also_valid=["B"], label="fake:other")], candidate)
    assert one_objects["accepted"] is False and item_judges.failed_checks(one_objects) == ["uniqueness"]
    inconsistent = judge([verdicts(plausible="no"), verdicts(label="fake:other")], candidate)
    assert inconsistent["accepted"] is False and item_judges.failed_checks(inconsistent) == ["consistency"]


def test_uniqueness_is_asked_only_after_every_judge_accepted_consistency():
    candidate = a_candidate()
    doubtful, sure = verdicts(plausible="no"), verdicts(label="fake:other")
    audit = judge([doubtful, sure], candidate)
    assert audit["checks"] == ["consistency"] and [v["check"] for v in audit["verdicts"]] == ["consistency"] * 2
    assert [r.step for r in doubtful.requests + sure.requests] == ["tomato.consistency"] * 2
    assert item_judges.rejection_reason(audit) == "consistency: fake:judge said 'no' (because)"


def test_a_failed_judge_request_does_not_accept_and_says_why():
    def broken(request):
        if request.step == "tomato.uniqueness":
            raise RequestFailed("judge down")
        return {"plausible": "yes", "reason": "fine"}

    audit = judge([FakeJudge(broken)], a_candidate())
    failed = audit["verdicts"][1]
    assert audit["accepted"] is False
    assert failed == {"check": "uniqueness", "model": "fake:judge", "accepted": False, "verdict": None,
                      "also_valid": None, "reason": None, "request_hash": None, "error": "judge down"}
    assert item_judges.rejection_reason(audit) == "uniqueness: request to fake:judge failed (judge down)"

    # a reply outside the schema (a letter that is not a distractor's) fails the same way
    invalid = judge([verdicts(also_valid=["D"])], a_candidate())
    assert invalid["accepted"] is False and "invalid reply" in invalid["verdicts"][1]["error"]


# -- what the judges see -------------------------------------------------------------------------


def test_consistency_sees_the_transcript_up_to_the_utterance_and_the_thought_only():
    candidate = a_candidate(u_id=4)
    conversation = candidate.conversation
    prompt = item_judges.consistency_prompt(candidate)
    assert conversation.environment.scenario in prompt and candidate.gold.thought in prompt
    assert conversation.turns[4].utterance in prompt and conversation.turns[5].utterance not in prompt
    assert "\n".join(conversation.transcript().split("\n")[:7]) in prompt  # greetings + utterances 0-4
    assert all(o.thought not in prompt for o in candidate.distractors)


def test_uniqueness_sees_the_item_with_its_answer_key_apart_from_the_distractors():
    candidate = a_candidate(u_id=5)
    prompt = item_judges.uniqueness_prompt(candidate)
    assert candidate.question in prompt and candidate.conversation.transcript() in prompt
    assert f'Correct answer:\n"{candidate.gold.text}"' in prompt
    for letter, option in zip("ABC", candidate.distractors):
        assert f"[{letter}] {option.text}" in prompt
    assert "[D]" not in prompt


# -- provenance and schema ------------------------------------------------------------------------


def test_records_carry_the_audit_and_validate_with_and_without_judges():
    candidate = a_candidate()
    run = RunInfo(seed=0, scenario_model="fake:model", prompt_hashes={})
    audit = judge([verdicts()], candidate)
    judged = make_record(candidate, run, item_judges=audit)
    unjudged = make_record(candidate, run)
    assert judged["provenance"]["item_judges"] == audit and unjudged["provenance"]["item_judges"] is None
    valid, rejects = validate_records([judged, unjudged], load_schema("tomato"))
    assert len(valid) == 2 and rejects == []
    broken = make_record(candidate, run, item_judges={**audit, "verdicts": [{"check": "consistency"}]})
    assert validate_records([broken], load_schema("tomato"))[1]  # the verdict shape is enforced


# -- through the pipeline -------------------------------------------------------------------------


class PickyLLM(RolePlayingLLM):
    """Role-plays like tests/test_tomato_build.py's fake; its judges reject a fixed share of items,
    decided by a hash of the prompt, so the outcome does not depend on timing."""

    def __init__(self, fail_judge_requests=False):
        super().__init__()
        self.fail_judge_requests = fail_judge_requests
        self.steps = collections.Counter()

    def _respond(self, request):
        self.steps[request.step] += 1
        digest = hashlib.sha256(request.messages[0]["content"].encode()).digest()
        if request.step == "tomato.consistency":
            return {"plausible": "no" if digest[0] % 4 == 0 else "yes", "reason": "hash verdict"}
        if request.step == "tomato.uniqueness":
            if self.fail_judge_requests and digest[1] % 5 == 0:
                raise RequestFailed("judge timed out")
            return {"also_valid": ["A", "C"] if digest[0] % 3 == 0 else [], "reason": "hash verdict"}
        return super()._respond(request)


def dealt_records(argv, llm):
    """Every record generate() yields, in order (before validation and dedup), and the funnel."""
    args = build_parser(BENCHMARK, add_arguments).parse_args(argv)
    report, records = BuildReport(), []
    ctx = BuildContext(args=args, llm=llm, judge=llm, seed=args.seed, report=report, kept=lambda: len(records))

    async def main():
        async for batch in generate(ctx):
            report.add_batch(batch)
            records.extend(batch.records)

    asyncio.run(main())
    return records, report


def rejected_by_judges(report):
    return [r for r in report.rejects if r["stage"] == "questions" and r["reason"].split(":")[0] in item_judges.CHECKS]


def test_rejected_items_are_counted_reported_and_dropped():
    llm = PickyLLM(fail_judge_requests=True)
    records, report = dealt_records(["--n", "40", "--seed", "5", "--concurrency", "3"], llm)
    funnel = report.funnel
    judge_rejects = rejected_by_judges(report)
    assert judge_rejects and funnel["items judged"] == funnel["questions built"] + len(judge_rejects)
    assert funnel["questions built"] == len(records) >= 40
    assert funnel["items rejected: consistency"] > 0 and funnel["items rejected: uniqueness"] > 0
    assert any("request to fake:model failed (judge timed out)" in r["reason"] for r in judge_rejects)
    # one request per check per item, uniqueness only for items consistency kept, and false-belief
    # verdicts only for the order-2 items both kept
    assert llm.steps["tomato.consistency"] == funnel["items judged"]
    assert llm.steps["tomato.uniqueness"] == funnel["items judged"] - funnel["items rejected: consistency"]
    assert llm.steps["tomato.false_belief"] == sum(r["order"] == 2 for r in records)
    rejected = {(r["record"]["conversation_key"], r["record"]["u_id"]) for r in judge_rejects}
    for record in records:
        audit = record["provenance"]["item_judges"]
        assert audit["accepted"] and all(v["accepted"] and v["request_hash"] for v in audit["verdicts"])
        assert (record["provenance"]["conversation_key"], int(record["u_id"])) not in rejected


def test_judged_builds_through_the_pipeline_are_deterministic():
    first, report = build_in_process(["--n", "30", "--seed", "5", "--concurrency", "3"], PickyLLM(True))
    again, _ = build_in_process(["--n", "30", "--seed", "5", "--concurrency", "1"], PickyLLM(True))
    assert len(first.kept) == 30 and report.funnel["items judged"] > report.funnel["questions built"]
    assert json.dumps(again.kept, sort_keys=True) == json.dumps(first.kept, sort_keys=True)


def test_item_judges_auto_skips_only_judges_measured_unfit():
    from builders.llm.profiles import judges_wanted

    def item_judges_wanted(setting, judges, notes):
        return judges_wanted(setting, judges, notes, what="tomato: item judges", flag="--item-judges")

    fit, unfit = types.SimpleNamespace(label="openai:gpt-4o"), types.SimpleNamespace(label="local:smollm2")
    notes = []
    assert item_judges_wanted("auto", [fit], notes) and item_judges_wanted("auto", [unfit, fit], notes) and not notes
    assert not item_judges_wanted("auto", [unfit], notes) and "local:smollm2" in notes[0] and "--judge-model" in notes[0]
    assert "--item-judges on" in notes[0]
    assert item_judges_wanted("on", [unfit], []) and not item_judges_wanted("off", [fit], [])


def test_no_item_judges_asks_no_judge_and_keeps_every_candidate():
    llm = PickyLLM()
    collected, report = build_in_process(["--n", "20", "--item-judges", "off"], llm)
    assert len(collected.kept) == 20
    assert llm.steps["tomato.consistency"] == llm.steps["tomato.uniqueness"] == 0
    assert all(r["provenance"]["item_judges"] is None for r in collected.kept)
    assert "items judged" not in report.funnel and not rejected_by_judges(report)

    hashes = collected.kept[0]["provenance"]["prompt_hashes"]  # the templates that would have judged
    assert hashes["consistency"] and hashes["uniqueness"] and hashes["consistency"] != hashes["uniqueness"]
