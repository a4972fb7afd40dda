"""Scoring Moral RolePlay: simulation, judge, the fidelity formula, silent characters, levels."""

from __future__ import annotations

import json

import pytest

from benchscore.moral_judge import fidelity
from benchscore.moral_simulation import cleaned
from tests.support.scripted_llm import (
    ScriptedOpenAIServer,
    malformed_json,
    reply_json,
    reply_text,
)
from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    model,
    moral_roleplay_release,
    predictions_of,
    rows_of,
    score,
    scores_of,
)

RUN = "openai-compatible_actor--judge-openai-compatible_judge"
ROUNDS = "6"  # replies per scene: enough for every character to be picked, and quick


def _schema(request) -> dict:
    return ((request.json.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}


def scene_server(severity: int | None, *, judge_fails: bool = False) -> ScriptedOpenAIServer:
    """Actors and the environment say one line; the next-speaker agent always says "random"; the
    judge finds no flaw (severity None) or two flaws of `severity` for every major character."""
    def respond(request):
        properties = _schema(request).get("properties", {})
        if "next_speaker" in properties:
            return reply_json({"next_speaker": "random"})
        if "Character Fidelity" in properties:
            if judge_fails:
                return malformed_json()
            names = properties["Character Fidelity"]["properties"]["flaws"]["items"]["properties"]["character"]["enum"]
            flaws = [] if severity is None else [
                {"instance": "(laughs)", "type": "Personality Trait Inconsistency", "character": name,
                 "traits": ["Kind"], "severity": severity} for name in names for _ in range(2)]
            return reply_json({"Character Fidelity": {"flaws": flaws}})
        return reply_text("[I must be careful.] (nods slowly) So be it. So be it.")

    return ScriptedOpenAIServer(responder=respond)


def _score(release, server, cache, *extra, rounds: str = ROUNDS):
    return score(release, model(server, "actor"), cache, "--judge-model", model(server, "judge"),
                 "--max-rounds", rounds, "--concurrency", "8", *extra)


def test_a_judge_that_finds_no_flaw_gives_5_to_every_character_who_speaks(moral_roleplay_release, tmp_path):
    release = copy_release(moral_roleplay_release, tmp_path)
    with scene_server(severity=None) as server:
        assert _score(release, server, tmp_path / "cache") == 0
    predictions = predictions_of(release, RUN + "--rounds6")
    test_rows = rows_of(release, "test")
    assert {p["id"] for p in predictions} == {row["portrayal_id"] for row in test_rows}
    spoke = [p for p in predictions if json.loads(p["details"])["utterances"] > 0]
    assert spoke and all(p["value"] == 5.0 for p in spoke)
    assert all(p["value"] is None for p in predictions if p not in spoke)  # silent: not scored
    document = scores_of(release, RUN + "--rounds6")
    assert document["headline"]["value"] == 5.0 and document["headline"]["n"] == len(spoke)
    assert document["headline"]["silent"] == len(predictions) - len(spoke)
    levels = document["breakdowns"]["level"]
    assert set(levels) == {str(row["level"]) for row in test_rows}
    assert document["breakdowns"]["vrp"] == levels.get("4")
    assert document["judge"] == "openai-compatible:judge" and document["model"] == "openai-compatible:actor"


def test_fixed_severity_flaws_give_the_formulas_value(moral_roleplay_release, tmp_path):
    release = copy_release(moral_roleplay_release, tmp_path)
    with scene_server(severity=3) as server:
        assert _score(release, server, tmp_path / "cache") == 0
    scored = [p for p in predictions_of(release, RUN + "--rounds6") if p["value"] is not None]
    assert scored
    for prediction in scored:
        details = json.loads(prediction["details"])
        assert details["severities"] == [3, 3]
        expected = max(0.0, min(5.0, 5 - 0.5 * 6 - 0.1 * 3 + 0.15 * details["utterances"]))
        assert prediction["value"] == pytest.approx(expected)
    levels = scores_of(release, RUN + "--rounds6")["breakdowns"]["level"]
    for level, block in levels.items():
        values = [p["value"] for p in scored if json.loads(p["groups"])["level"] == int(level)]
        assert block["n"] == len(values) and block["min"] == pytest.approx(min(values, default=None))


def test_a_character_who_never_speaks_is_not_scored_5(moral_roleplay_release, tmp_path):
    release = copy_release(moral_roleplay_release, tmp_path)
    with scene_server(severity=None) as server:  # one reply per scene: only its first speaker speaks
        assert _score(release, server, tmp_path / "cache", rounds="1") == 0
    run = RUN + "--rounds1"
    predictions = predictions_of(release, run)
    first_speakers = {row["portrayal_id"] for row in rows_of(release, "test")
                      if row["speaking_characters_w_env"][0] == row["name"]}
    assert {p["id"] for p in predictions if p["value"] is not None} == first_speakers
    assert all(json.loads(p["details"])["silent"] for p in predictions if p["id"] not in first_speakers)
    assert scores_of(release, run)["headline"]["silent"] == len(predictions) - len(first_speakers)


def test_an_unusable_judge_reply_leaves_the_scene_unjudged_and_counted(moral_roleplay_release, tmp_path, capsys):
    release = copy_release(moral_roleplay_release, tmp_path)
    with scene_server(severity=None, judge_fails=True) as server:
        assert _score(release, server, tmp_path / "cache", rounds="2") == 0
    document = scores_of(release, RUN + "--rounds2")
    assert document["headline"]["n"] == 0 and document["headline"]["value"] is None
    assert document["headline"]["unparseable"] == len(rows_of(release, "test"))
    assert "none of the" in capsys.readouterr().err


def test_the_formula_and_reply_cleaning():
    assert fidelity([], 3) == 5.0  # clamped
    assert fidelity([5, 5, 5], 0) == 0.0
    assert fidelity([2, 1], 4) == pytest.approx(5 - 1.5 - 0.2 + 0.6)
    assert cleaned("Iago: [He plots.] (smiles) Good day. Good day. Well met.", "Iago") == "(smiles) Good day. Well met."
