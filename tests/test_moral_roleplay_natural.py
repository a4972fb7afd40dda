"""The natural contract (a capable model's profile): what its requests ask, what the builder re-asks,
and what it normalises instead. In process, with the scripted fake of test_moral_roleplay_llm_steps.py
labelled `openai:gpt-4o` (the `openai` profile: contract natural). The strict contract's requests
are pinned in test_moral_roleplay_contract.py.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from builders.llm import RequestFailed
from builders.moral_roleplay import scenes, steps, synthetic, writing
from builders.moral_roleplay.annotate import annotate_portrayal, level_rule
from builders.moral_roleplay.coser import spoken_part
from builders.moral_roleplay.normalise import Normaliser
from builders.moral_roleplay.scenes import Annotators, SceneFilter
from builders.moral_roleplay.windows import scenes_of
from builders.resources import load_schema
from builders.sources import plays
from tests.support.profiles import SCRIPTED_NATURAL, SCRIPTED_STRICT
from tests.test_moral_roleplay_llm_steps import (
    FakeLLM,
    _args,
    _generate,
    _levels_by_name,
    context,
    run,
)

NATURAL = "openai:gpt-4o"
TARGETS = steps.writing_targets()


def string_fields(schema: dict) -> list[dict]:
    """Every string sub-schema of a reply schema."""
    if schema.get("type") == "string":
        return [schema]
    found = []
    for sub in list(schema.get("properties", {}).values()) + ([schema["items"]] if "items" in schema else []):
        found += string_fields(sub)
    return found


@pytest.fixture(scope="module")
def othello():
    return plays.load_play("othello")


def test_natural_fields_ask_structure_only_and_describe_their_length():
    contract = steps.Contract(SCRIPTED_NATURAL)
    brief = writing.brief_schema(contract, ["Iago", "Roderigo"])
    fields = string_fields(brief)
    assert len(fields) == 5 and all(f["pattern"] == r"\S" and f["minLength"] == 1 for f in fields)
    scenario = brief["properties"]["scenario"]
    assert f"About {TARGETS['scenario']} words" in scenario["description"]
    # the bound is only against runaway output: several times the target, in characters
    assert scenario["maxLength"] >= 4 * 6 * TARGETS["scenario"]
    iago = brief["properties"]["thoughts"]["properties"]["Iago"]
    assert "What Iago wants" in iago["description"] and f"about {TARGETS['thought']} words" in iago["description"]
    profile = writing.profile_schema(contract, "Iago")["properties"]["profile"]
    assert f"about {TARGETS['profile']} words" in profile["description"]
    line = synthetic.lines_schema(contract, 3)["properties"]["lines"]["items"]["properties"]
    assert f"about {TARGETS['speech']} words" in line["text"]["description"]


def test_strict_fields_keep_the_grammars_plain_prose_and_send_no_description():
    contract = steps.Contract(SCRIPTED_STRICT)
    fields = string_fields(writing.brief_schema(contract, ["Iago"]))
    assert fields and all(f["pattern"].startswith("^[A-Za-z]") and "description" not in f for f in fields)
    assert writing.brief_schema(contract, ["Iago"])["properties"]["scenario"]["minLength"] == 90


def test_natural_prompts_state_the_targets_the_descriptions_state():
    natural = steps.messages("scene", **steps.Contract(SCRIPTED_NATURAL).variables(), kind_word="the play",
                             book="Othello", author="W", chapter="A street", names=["Iago"], lines=[])
    strict = steps.messages("scene", **steps.Contract(SCRIPTED_STRICT).variables(), kind_word="the play",
                            book="Othello", author="W", chapter="A street", names=["Iago"], lines=[])
    assert f"about {TARGETS['scenario']} words" in natural[0]["content"]
    assert f"about {TARGETS['thought']} words" in natural[0]["content"]
    assert "in 2-4 sentences" in strict[0]["content"] and "about 95 words" not in strict[0]["content"]


def test_targets_are_the_originals_figures():
    original = json.loads(steps.ORIGINAL.read_text())
    for field in ("scenario", "thought"):
        assert TARGETS[field] == original[f"{field}_words"]["mean"]
    assert abs(TARGETS["profile"] - original["profile_words"]["mean"]) <= 5
    # a written message: [line thought] speech, near the original's message length
    assert abs(TARGETS["line_thought"] + TARGETS["speech"] - original["message_words"]["mean"]) <= 1


def test_a_capable_model_sees_whole_speeches_and_answers_all_questions_at_once():
    fake = FakeLLM(levels=lambda name, sample, choices: 4, label=NATURAL)
    long_line = type("Line", (), {"speaker": "Iago", "text": "word " * 100})()
    portrayal = run(annotate_portrayal(fake, fake, fake, dataclasses.replace(context(), lines=(long_line,))))
    assert (portrayal.status, portrayal.level) == ("agreed", 4)
    questions = [r for r in fake.requests if r.step.endswith("question")]
    assert len(questions) == 2  # one reply per annotation, all six questions in it
    assert set(questions[0].schema["properties"]) == set(level_rule().questions)
    assert "word " * 99 in questions[0].messages[1]["content"]  # not cut at the embedded model's 120 characters
    assert portrayal.annotations[0]["calls"][0]["questions"] == list(level_rule().questions)


def _brief_texts(long_samples: set[int]):
    def texts(step, path, sample):
        if step == "scene" and path == "$.scenario":
            return "A crowded street at night. " * (60 if sample in long_samples else 10)
        return None
    return texts


def test_a_brief_past_the_benchmarks_word_limits_is_reasked_once_marked_as_a_reask(othello):
    source = scenes_of(othello).scenes[0]
    fake = FakeLLM(label=NATURAL, texts=_brief_texts({0}))
    reply = run(writing.write_brief(fake, source, ["Iago", "Roderigo"], temperature=0.7))
    asked = [(r.sample, r.reask) for r in fake.requests]
    assert asked == [(0, False), (steps.REASK_OFFSET, True)]
    assert len(reply.data["scenario"].split()) < 200
    stubborn = FakeLLM(label=NATURAL, texts=_brief_texts({0, steps.REASK_OFFSET}))
    with pytest.raises(RequestFailed, match="scenario has 300 words .limit 200.; scenario has 300 words"):
        run(writing.write_brief(stubborn, source, ["Iago", "Roderigo"], temperature=0.7))


def test_what_the_format_cannot_hold_is_normalised_and_listed(othello):
    def texts(step, path, sample):
        if step == "thoughts" and path.endswith("[1]"):
            return "He trusts me [fool]\nstill (for now)"
        if step == "scene" and path == "$.topic":
            return "Two men\nplot by night"
        return None

    fake = FakeLLM(levels=lambda name, sample, choices: 2, label=NATURAL, texts=texts)
    source = scenes_of(othello).scenes[0]
    result = run(scenes.build_source_scene(fake, Annotators(fake, fake, fake), writing.Profiles(fake, temperature=0.7),
                                           othello, source, scene_filter=SceneFilter(), ends_episode=False,
                                           temperature=0.7))
    assert result.scene["topic"] == "Two men plot by night"
    assert result.scene["dialogues"][1]["message"].startswith("[He trusts me fool still for now] ")
    assert spoken_part(result.scene["dialogues"][1]["message"]) == source.lines[1].text  # the source, untouched
    assert result.provenance["normalised"] == ["dialogues[1] thought: line breaks and runs of spaces joined",
                                               "dialogues[1] thought: brackets and parentheses removed",
                                               "topic: line breaks and runs of spaces joined"]
    thoughts = [r for r in fake.requests if r.step.endswith("thoughts")]
    assert len(thoughts) == 1  # a capable model gives every line its thought in one reply


def test_a_written_speech_loses_square_brackets_only():
    notes = Normaliser()
    assert notes.speech("You [sneering] fool —\n“go”!", "dialogues[2] speech") == "You sneering fool — “go”!"
    assert notes.notes == ["dialogues[2] speech: line breaks and runs of spaces joined",
                           "dialogues[2] speech: square brackets removed"]
    assert Normaliser().speech("Zoë’s £40 (at 3:30) — fine…", "x") == "Zoë’s £40 (at 3:30) — fine…"


def test_natural_generate_writes_valid_records_with_their_contract():
    from builders.moral_roleplay.invariants import checks
    from builders.validate import validate_records

    fake = FakeLLM(levels=_levels_by_name, label=NATURAL)
    collected, _ = _generate(fake, _args(top_up=True, max_per_character=1))
    valid, rejects = validate_records(collected.kept, load_schema("moral_roleplay"), checks=checks)
    assert valid and rejects == []
    assert valid[0]["provenance"]["contracts"] == {"writer": "openai: natural", "judge": "openai: natural"}
    lines = [r for r in fake.requests if r.step.endswith("synthetic_lines")]
    assert lines and all(r.schema["properties"]["lines"]["minItems"] == synthetic.SPEECHES for r in lines)
    assert not [r for r in fake.requests if r.reask]
