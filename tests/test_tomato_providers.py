"""A whole ToMATO build with an Anthropic model string runs the same code path as any other model.

`python -m builders.tomato --model anthropic:<model>` runs against a ScriptedAnthropicServer whose
responder is the schema faker. The Anthropic provider moves the keywords a tool schema cannot
carry (the thought's Inner-Speech prefix `pattern`, lengths) into descriptions, and the faker
reads them there, as a real model would; without that no turn would pass the builder's checks.
The `openai-compatible:<url>#<model>` path is built the same way by tests/test_reliability_*.py
and tests/test_release_tomato_roundtrip.py.
"""

from __future__ import annotations

import secrets

import jsonschema

from builders.resources import load_schema
from builders.tomato.vocab import PRONOUNS, thought_prefix
from tests.support.scripted_llm import ScriptedAnthropicServer
from tests.support.schema_faker import fake_model
from tests.test_reliability_support import (builder_command, build_report, clean_env, decoded, release_dir,
                                            release_files, released_records, run)

MODEL = "anthropic:claude-haiku-4-5"
N = 14


def test_an_anthropic_model_string_builds_a_valid_release(tmp_path):
    key = f"sk-ant-PLANTED-{secrets.token_hex(12)}"
    with ScriptedAnthropicServer(responder=fake_model) as server:
        completed = run(builder_command(MODEL, tmp_path / "out", tmp_path / "cache", n=N),
                        env=clean_env(ANTHROPIC_API_KEY=key, ANTHROPIC_BASE_URL=server.base_url), timeout=300)
        bodies = [r.json for r in server.requests if r.path.endswith("/v1/messages")]
    assert completed.returncode == 0, completed.stderr[-3000:]

    # every step went through the Messages API with a forced tool; the thought's prefix travelled
    # in the tool schema's description, since `pattern` itself is not sent
    steps = {next(iter(body["tools"][0]["input_schema"]["properties"])) for body in bodies}  # first field
    assert {"thought", "plausible", "also_valid", "compatible"} <= steps
    turn = next(b for b in bodies if "thought" in b["tools"][0]["input_schema"]["properties"])
    thought_schema = turn["tools"][0]["input_schema"]["properties"]["thought"]
    assert "pattern" not in thought_schema and '"pattern": "^I ' in thought_schema["description"]

    records = released_records(release_dir(tmp_path / "out"))
    assert len(records) == N
    schema = load_schema("tomato")
    for record in records:
        provenance = record["provenance"]
        jsonschema.validate({**record, "provenance": _decoded(provenance)}, schema)
        assert provenance["models"]["roleplay"] == MODEL
        a_card = _decoded(provenance["agent_cards"])[0]  # B thinks about A; A thinks about itself
        partner = next(p for p in PRONOUNS.values() if p.label == a_card["gender_pronoun"])
        prefix = thought_prefix(record["mental_state"], record["order"], partner)
        assert provenance["gold"]["thought"].startswith(prefix)
        audit = provenance["item_judges"]
        assert audit["accepted"] and {v["model"] for v in audit["verdicts"]} == {MODEL}

    report = build_report(tmp_path / "out")
    assert report["status"] == "ok" and report["funnel"]["items judged"] > report["funnel"]["questions built"]
    card = (release_dir(tmp_path / "out") / "README.md").read_text()
    kept, judged = report["funnel"]["questions built"], report["funnel"]["items judged"]
    assert f"**{kept} of {judged} judged candidates kept ({100 * kept / judged:.1f}%)**" in card
    assert f"`{MODEL}` checked every" in card
    assert all(key.encode() not in data for data in release_files(release_dir(tmp_path / "out")).values())


def _decoded(value):
    """Released provenance: free-form objects are JSON text in the parquet, typed ones are dicts."""
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return decoded(value)


def test_a_sub_schema_used_twice_is_described_once_in_each_place():
    from builders.llm.providers.anthropic_api import CONSTRAINTS_NOTE, describe_constraints

    line = {"type": "string", "maxLength": 80}
    described = describe_constraints({"type": "object", "properties": {"first": line, "last": line}})
    for name in ("first", "last"):
        assert described["properties"][name]["description"].count(CONSTRAINTS_NOTE) == 1
    assert "description" not in line  # the caller's schema is left alone
