"""The Moral RolePlay LLM steps and the whole generate() run against a tiny scripted fake LLM.

The fake has an async `chat(request)` returning objects with `.data`, `.text`, `.provenance` and
`.cached`, like builders.llm.LLM. It answers every JSON schema with schema-valid data; `levels`
decides the level each annotation should come to from (character name, sample index), and the fake
answers the yes/no questions so that the program's rule computes exactly that level, so agreement,
adjudication and drops are under the test's control.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from builders.moral_roleplay import annotate, build, scenes, synthetic, writing
from builders.moral_roleplay.annotate import (
    PortrayalContext,
    annotate_portrayal,
    level_from_answers,
    level_rule,
)
from builders.moral_roleplay.coser import spoken_part
from builders.moral_roleplay.scenes import Annotators, SceneFilter
from builders.moral_roleplay.windows import scenes_of
from builders.pipeline import BuildReport, collect, split_by_config
from builders.resources import load_schema
from builders.sources import plays
from tests.support.profiles import profile_for_label

# yes/no answers that make the rule of data/level_rule.json give each level
ANSWERS_FOR_LEVEL = {1: {"goodwill": True, "puts_others_first": True, "blameless": True},
                     2: {"goodwill": True, "puts_others_first": True},
                     3: {"harms": True, "goodwill": True, "puts_self_first": True},
                     4: {"harms": True, "malice": True, "puts_self_first": True}}
TRAITS_BY_LEVEL = {1: ["Kind", "Brave", "Selfless", "Loyal"], 2: ["Loyal", "Impulsive", "Brave"],
                   3: ["Selfish", "Ambitious", "Manipulative"], 4: ["Cruel", "Manipulative", "Malicious", "Deceitful"]}


@dataclass
class FakeLLM:
    """Schema-driven scripted replies. `levels(name, sample, choices) -> int` labels a portrayal."""

    levels: object = None
    label: str = "fake:scripted"
    traits: object = None  # optional (name, sample, level) -> list of traits
    completeness: int = 5
    fail_steps: tuple = ()
    texts: object = None  # optional (step, path, sample) -> the text of a string field (None: the default)
    requests: list = field(default_factory=list)

    async def chat(self, request):
        from builders.llm import RequestFailed

        self.requests.append(request)
        await asyncio.sleep(0)
        if request.step in self.fail_steps:
            raise RequestFailed(f"scripted failure of {request.step}")
        data = self._fill(request.schema, request, "$")
        return SimpleNamespace(data=data, text=json.dumps(data), cached=False,
                               provenance={"model": self.label, "sample": request.sample,
                                           "request_hash": f"h{len(self.requests)}",
                                           "prompt_hash": request.prompt_hash, "temperature": request.temperature,
                                           "seed": 0})

    @functools.cached_property
    def profile(self):  # read once: builders ask a client's profile for every request
        return profile_for_label(self.label)

    def _fill(self, schema, request, path):
        step = request.step.split(".")[-1]
        if path == "$" and step in ("question", "traits"):
            return self._annotation(schema, request, step)
        if schema.get("type") == "string" and self.texts is not None:
            text = self.texts(step, path, request.sample)
            if text is not None:
                return text
        if "enum" in schema:
            if path.endswith("speaker"):
                names = schema["enum"]
                return names[int(path.split("[")[-1].split("]")[0]) % len(names)]
            if path.endswith("completeness"):
                return self.completeness
            if path.endswith("tone"):
                return "Negative"
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            return {key: self._fill(sub, request, f"{path}.{key}") for key, sub in schema["properties"].items()}
        if kind == "array":
            count = schema.get("minItems", 1)
            return [self._fill(schema["items"], request, f"{path}[{i}]") for i in range(count)]
        if kind == "integer":
            return schema.get("minimum", 1) + 41
        text = f"words for {path} " * 10
        if "pattern" in schema:  # plain prose (builders.llm.structured.prose_field): letters, digits and spaces only
            text = "Words for " + re.sub(r"[^A-Za-z0-9]+", " ", text)
        text = text[:schema.get("maxLength", 200)].strip().ljust(schema.get("minLength", 1), "x")
        assert re.search(schema.get("pattern", ""), text), (path, text)
        return text

    def _annotation(self, schema, request, step):
        content = request.messages[1]["content"]
        name = content.split("Character: ", 1)[1].split("\n", 1)[0]
        if step == "question":
            level = self.levels(name, request.sample, (1, 2, 3, 4)) if self.levels else 1
            if "answer" not in schema["properties"]:  # several questions in one reply: a yes/no per id
                return {q: "yes" if ANSWERS_FOR_LEVEL[level].get(q) else "no" for q in schema["properties"]}
            question = next(q for q in level_rule().questions if _question_text(q, name) in content)
            return {"answer": "yes" if ANSWERS_FOR_LEVEL[level].get(question) else "no"}
        level = int(content.split("judged moral level ", 1)[1][0])
        traits = self.traits(name, request.sample, level) if self.traits else TRAITS_BY_LEVEL[level]
        return {"key_traits": traits}


def _question_text(question: str, name: str) -> str:
    """The rendered question, to tell which one a request asks."""
    from builders.prompts import render

    text = render("moral_roleplay/question_user.j2", question=question, questions=[question], book="B",
                  character=name, profile="", summary="", scenario="", thought="", lines=[])
    return text.rsplit("\n", 2)[-2]


def context(name="Iago"):
    return PortrayalContext(book="Othello", name=name, profile="A soldier.", summary="Plots.", scenario="A street.",
                            thought="I hate the Moor.", lines=())


def run(coro):
    return asyncio.run(coro)


# -- annotation: agreement, adjudication, drops, re-asks -----------------------------------------------


QUESTIONS = len(level_rule().questions)


def _steps(requests):
    return [(r.step.split(".")[-1], r.sample) for r in requests]


def test_rule_computes_levels_from_answers():
    def level(**yes):
        return level_from_answers({q: yes.get(q, False) for q in level_rule().questions})[0]

    assert level(goodwill=True, puts_others_first=True, blameless=True) == 1
    assert level(goodwill=True, puts_others_first=True) == 2  # one flaw: not blameless
    assert level(harms=True, goodwill=True, puts_others_first=True) == 2  # harm with good intentions (spec 6.4)
    assert level(goodwill=True, puts_self_first=True) == 2  # self-interest without harm
    assert level(harms=True, puts_self_first=True) == 3  # harm for own gain, without wanting it (spec 6.2)
    assert level(harms=True, goodwill=True, puts_self_first=True) == 3
    assert level(malice=True, harms=True, puts_self_first=True) == 4  # wanting the harm (spec 6.2)
    assert level(malice=True, puts_self_first=True) == 4  # a villain plotting, harming nobody yet
    with pytest.raises(ValueError, match="lack the questions"):
        level_from_answers({"harms": True})
    for wanted, answers in ANSWERS_FOR_LEVEL.items():
        assert level(**answers) == wanted


def test_an_annotator_answering_everything_alike_computes_no_level():
    """The old rule sent all-yes (and all-no) to level 2: a yes-saying model made Iago and Richard III
    Flawed-but-Good. Such answers contradict themselves now and give no level."""
    questions = level_rule().questions
    for uniform in (True, False):
        level, why = level_from_answers(dict.fromkeys(questions, uniform))
        assert level is None and why.startswith("self-contradictory answers")
    both_sides = {q: q in ("harms", "puts_others_first", "puts_self_first") for q in questions}
    assert level_from_answers(both_sides)[0] is None
    assert level_from_answers({**dict.fromkeys(questions, False), "harms": True, "blameless": True,
                               "puts_self_first": True})[0] is None  # harms, yet blameless
    # every level stays reachable by coherent answers, and none by uniform ones
    coherent = {level_from_answers(dict(zip(questions, (mask >> i & 1 == 1 for i in range(len(questions))))))[0]
                for mask in range(2 ** len(questions))}
    assert coherent == {None, 1, 2, 3, 4}


def test_a_rule_file_whose_uniform_answers_compute_a_level_is_refused(tmp_path):
    good = json.loads(annotate.RULE_FILE.read_text())
    for dropped in ((0, 2, 3, 4), (1,)):  # every contradiction catching all-yes; the one catching all-no
        rule = {**good, "contradictions": [c for i, c in enumerate(good["contradictions"]) if i not in dropped]}
        path = tmp_path / "rule.json"
        path.write_text(json.dumps(rule))
        with pytest.raises(ValueError, match="contradicts nothing, so it would compute a level"):
            annotate.load_level_rule(path)


def test_a_self_contradicting_annotator_is_asked_again_then_its_portrayal_is_not_judged():
    class YesSayer(FakeLLM):
        def _annotation(self, schema, request, step):
            if step == "question":
                return {q: "yes" for q in schema["properties"]} if "answer" not in schema["properties"] \
                    else {"answer": "yes"}
            return super()._annotation(schema, request, step)

    fake = YesSayer()
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert (portrayal.status, portrayal.level, portrayal.traits, portrayal.pair) == ("not judged", None, [], None)
    assert portrayal.released and not portrayal.usable
    assert portrayal.reason.startswith("annotator 1: self-contradictory answers")
    # each annotator asked twice (the second time a re-ask), no adjudicator, no traits
    assert sorted({(r.sample, r.reask) for r in fake.requests}) == [(0, False), (1, False), (10, True), (11, True)]
    assert [a["level"] for a in portrayal.annotations] == [None] * 4
    # one annotator incoherent twice, the other coherent: the third annotation stands in for it
    half = FakeLLM(levels=lambda name, sample, choices: 3)
    coherent = half._annotation
    half._annotation = lambda schema, request, step: (
        {q: "yes" for q in schema["properties"]} if step == "question" and request.sample in (0, 10)
        else coherent(schema, request, step))
    stood_in = run(annotate_portrayal(half, half, half, context()))
    assert (stood_in.status, stood_in.level, stood_in.pair) == ("adjudicated", 3, (3, 3))
    assert [a["role"] for a in stood_in.annotations if "answers" in a] == [
        "annotator 1", "annotator 1", "annotator 2", "adjudicator"]
    # one incoherent reply is forgiven: the re-ask that answers coherently settles the annotation
    flaky = FakeLLM(levels=lambda name, sample, choices: 4)
    original = flaky._annotation
    flaky._annotation = lambda schema, request, step: (
        {q: "yes" for q in schema["properties"]} if step == "question" and request.sample == 0
        else original(schema, request, step))
    recovered = run(annotate_portrayal(flaky, flaky, flaky, context()))
    assert recovered.status == "agreed" and recovered.level == 4 and recovered.pair == (4, 4)


def test_a_bad_rule_file_is_refused_with_the_reason(tmp_path):
    good = json.loads(annotate.RULE_FILE.read_text())
    unknown = {**good, "rule": [{"level": 4, "all": ["not evil"]}, *good["rule"]]}
    no_fallback = {**good, "rule": good["rule"][:-1]}
    for data, message in ((unknown, "naming only the questions"), (no_fallback, "must be the fallback")):
        path = tmp_path / "rule.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=message):
            annotate.load_level_rule(path)
    assert annotate.load_level_rule(annotate.RULE_FILE) == level_rule()


def test_agreeing_annotators_give_the_computed_level_and_first_traits():
    fake = FakeLLM(levels=lambda name, sample, choices: 4)
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert (portrayal.status, portrayal.level, portrayal.pair) == ("agreed", 4, (4, 4))
    assert portrayal.traits == TRAITS_BY_LEVEL[4]
    # two independent samples of one model answer every question; the traits are asked once, for the
    # settled level, with the sample of the annotation that settled it
    assert _steps(fake.requests) == [("question", 0)] * QUESTIONS + [("question", 1)] * QUESTIONS + [("traits", 0)]
    first = portrayal.annotations[0]
    assert first["answers"] == {"harms": "yes", "malice": "yes", "goodwill": "no", "puts_others_first": "no",
                                "puts_self_first": "yes", "blameless": "no"}
    assert first["level"] == 4 and "6.2" in first["rule"] and len(first["calls"]) == QUESTIONS


def test_every_question_is_asked_once_per_annotation_after_the_shared_prefix():
    fake = FakeLLM(levels=lambda name, sample, choices: 1)
    run(annotate_portrayal(fake, fake, fake, context()))
    asked = [r for r in fake.requests if r.step.endswith("question") and r.sample == 0]
    assert sorted(next(q for q in level_rule().questions if _question_text(q, "Iago") in r.messages[1]["content"])
                  for r in asked) == sorted(level_rule().questions)
    traits = next(r for r in fake.requests if r.step.endswith("traits"))
    # one system prompt and one portrayal prefix for every call about a portrayal (prompt-cache reuse)
    assert {r.messages[0]["content"] for r in fake.requests} == {traits.messages[0]["content"]}
    prefix = traits.messages[1]["content"].split("Request:")[0]
    assert all(r.messages[1]["content"].startswith(prefix) for r in asked)


def test_one_level_split_goes_to_a_third_annotation_that_must_pick_one_of_the_two():
    fake = FakeLLM(levels=lambda name, sample, choices: {0: 3, 1: 4, 2: 4}[sample])
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "adjudicated" and portrayal.level == 4 and portrayal.pair == (3, 4)
    assert [sample for _, sample in _steps(fake.requests)][-QUESTIONS - 1:] == [2] * (QUESTIONS + 1)


def test_a_third_annotation_outside_the_two_levels_leaves_the_portrayal_disputed():
    fake = FakeLLM(levels=lambda name, sample, choices: {0: 3, 1: 4, 2: 1}[sample])
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "disputed" and portrayal.level is None
    assert portrayal.problems == ["adjudicator: computed level 1, not one of [3, 4]"]
    assert _steps(fake.requests)[-1] == ("question", 2)  # no traits asked for a level that cannot win


def test_two_levels_apart_is_disputed_without_a_third_annotation():
    fake = FakeLLM(levels=lambda name, sample, choices: {0: 1, 1: 4}[sample])
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "disputed" and portrayal.level is None
    assert {sample for _, sample in _steps(fake.requests)} == {0, 1}


def test_a_failed_question_fails_the_annotation():
    fake = FakeLLM(levels=lambda name, sample, choices: 2, fail_steps=("moral_roleplay.question",))
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "failed" and "question 'harms' failed" in portrayal.problems[0]


def test_contradicting_traits_are_reasked_once_then_dropped():
    # level 4 with Kind: contradiction on both asks of annotator 1 -> the portrayal fails
    fake = FakeLLM(levels=lambda name, sample, choices: 4, traits=lambda name, sample, level: ["Kind", "Cruel", "Vain"])
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "failed"
    assert [r.sample for r in fake.requests if r.step.endswith("traits")] == [0, 10]
    assert len(portrayal.problems) == 2 and all(p.startswith("traits: contradicts level") for p in portrayal.problems)


def test_a_reask_can_recover():
    fake = FakeLLM(levels=lambda name, sample, choices: 4,
                   traits=lambda name, sample, level: ["Cruel", "Cruel", "Cruel"] if sample == 0 else TRAITS_BY_LEVEL[4])
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "agreed" and portrayal.problems == ["traits: trait count: 1 distinct traits (need 3-7)"]


def test_a_second_model_annotates_with_sample_zero():
    first = FakeLLM(levels=lambda name, sample, choices: 2)
    second = FakeLLM(levels=lambda name, sample, choices: 2, label="fake:judge")
    portrayal = run(annotate_portrayal(first, second, second, context()))
    assert portrayal.status == "agreed"
    assert {r.sample for r in first.requests} == {0} and {r.sample for r in second.requests} == {0}


def test_trait_schema_only_allows_the_vocabulary_consistent_with_the_level():
    items = annotate.traits_schema(2)["properties"]["key_traits"]["items"]["enum"]
    assert len(items) == 81 - 3 - 1 and "Melancholy" in items and "Evil" not in items  # no Cruel nor Sadistic
    villain = annotate.traits_schema(4)["properties"]["key_traits"]["items"]["enum"]
    assert "Cruel" in villain and not {"Kind", "Merciful", "Selfless"} & set(villain)


# -- one source scene -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def othello():
    return plays.load_play("othello")


def _scene_run(fake, work, source, mode="structure", ends_episode=False):
    annotators = Annotators(fake, fake, fake)
    return run(scenes.build_source_scene(fake, annotators, writing.Profiles(fake, temperature=0.7), work, source,
                                         scene_filter=SceneFilter(4, mode), ends_episode=ends_episode,
                                         temperature=0.7))


def test_source_scene_keeps_every_speech_verbatim_and_labels_key_characters(othello):
    source = scenes_of(othello).scenes[0]
    fake = FakeLLM(levels=lambda name, sample, choices: 4 if name == "Iago" else 2)
    result = _scene_run(fake, othello, source)
    scene = result.scene
    speeches = [line for line in source.lines if line.kind == "speech"]
    messages = [t for t in scene["dialogues"] if t["character"] != "Environment"]
    assert [spoken_part(t["message"]) for t in messages] == [line.text for line in speeches]
    assert all(t["message"].startswith("[") for t in messages)
    assert scene["dialogues"][0] == {"character": "Environment", "message": "Enter RODERIGO and IAGO"}
    assert {p.name: p.level for p in result.portrayals} == {"Roderigo": 2, "Iago": 4}
    assert result.provenance["turn_ids"][0] == speeches[0].turn_id


def test_incomplete_scene_is_dropped_before_thoughts_and_annotation(othello):
    fake = FakeLLM(completeness=3)
    result = _scene_run(fake, othello, scenes_of(othello).scenes[0], mode="llm")
    assert result.scene is None and result.counts["scenes dropped: scene completeness"] == 1
    assert "completeness 3 (llm; LLM 3, structure 4) < 4" in result.rejects[0]["reason"]
    assert [r.step for r in fake.requests] == ["moral_roleplay.scene", "moral_roleplay.rating"]


def test_structural_completeness_keeps_a_scene_the_llm_rates_low_and_records_both(othello):
    fake = FakeLLM(completeness=1, levels=lambda name, sample, choices: 2)
    result = _scene_run(fake, othello, scenes_of(othello).scenes[0], mode="structure", ends_episode=True)
    assert result.scene["completeness"] == 5
    assert result.provenance["completeness"] == {"mode": "structure", "llm": 1, "structure": 5, "failed_checks": []}
    both = _scene_run(FakeLLM(completeness=1), othello, scenes_of(othello).scenes[0], mode="both")
    assert both.scene is None and "(both; LLM 1, structure 4)" in both.rejects[0]["reason"]


def test_failed_brief_drops_the_scene_with_a_reason(othello):
    fake = FakeLLM(fail_steps=("moral_roleplay.scene",))
    result = _scene_run(fake, othello, scenes_of(othello).scenes[0])
    assert result.scene is None and "brief failed" in result.rejects[0]["reason"]


def _synthetic_run(fake, level=4, confirm=True):
    return run(synthetic.build_synthetic_scene(fake, Annotators(fake, fake, fake), 0, level,
                                               scene_filter=SceneFilter(), temperature=0.7, confirm=confirm))


def test_synthetic_scene_has_the_programs_structure_and_is_annotated():
    fake = FakeLLM(levels=lambda name, sample, choices: 4)
    result = _synthetic_run(fake)
    assert result.origin == "synthetic" and result.scene is not None
    assert result.provenance["requested_level"] == 4 and result.provenance["designed_character"] == "Malvern"
    speakers = [t["character"] for t in result.scene["dialogues"]]
    assert speakers == ["Environment"] + ["Malvern", "Edith"] * (synthetic.SPEECHES // 2)
    assert all(t["message"].startswith("[") for t in result.scene["dialogues"][1:])
    assert result.scene["completeness"] == 5 and result.target_levels == {"Malvern": 4}
    assert {p.name: p.status for p in result.portrayals} == {"Malvern": "agreed", "Edith": "agreed"}
    assert result.counts["top-up level 4: confirmed"] == 1
    asks = [r.step.split(".")[-1] for r in fake.requests if "synthetic" in r.step]
    assert asks == ["synthetic_brief", "synthetic_character", "synthetic_character", "synthetic_environment",
                    "synthetic_lines", "synthetic_lines", "synthetic_lines"]
    chunks = [r for r in fake.requests if r.step.endswith("synthetic_lines")]
    assert [r.schema["properties"]["lines"]["minItems"] for r in chunks] == [4, 4, 2]
    assert "The last line ends the scene." in chunks[-1].messages[1]["content"]
    assert "Malvern, Edith, Malvern, Edith" in chunks[0].messages[1]["content"]


def test_synthetic_design_not_confirmed_by_the_annotation_is_dropped_and_counted():
    fake = FakeLLM(levels=lambda name, sample, choices: 3)  # designed as a villain, annotated an egoist
    result = _synthetic_run(fake)
    designed = next(p for p in result.portrayals if p.name == "Malvern")
    assert designed.status == "unconfirmed" and not designed.usable and designed.level is None
    assert designed.problems[-1] == "top-up: designed as level 4, annotated level 3"
    assert result.counts["top-up level 4: not confirmed"] == 1
    other = next(p for p in result.portrayals if p.name == "Edith")
    assert other.usable and other.level == 3  # the second character keeps its own annotated label


def test_the_program_writes_the_designed_deed_into_the_scene_and_every_writing_prompt():
    fake = FakeLLM(levels=lambda name, sample, choices: 4)
    result = _synthetic_run(fake)
    deed = synthetic.synthetic_inputs()["deeds"]["4"][0]
    opening = result.scene["dialogues"][0]
    assert opening["character"] == "Environment" and opening["message"].endswith(f" Malvern {deed}.")
    assert result.provenance["deed"] == deed and result.provenance["level_from"] == "annotation"
    writing = [r for r in fake.requests if "synthetic" in r.step and not r.step.endswith("environment")]
    assert all(deed in "".join(m["content"] for m in r.messages)
               for r in writing if not r.step.endswith("character") or "Malvern" in r.messages[1]["content"])
    # a level's deeds are used in turn (the k-th top-up scene of a level gets deed k)
    deeds = synthetic.synthetic_inputs()["deeds"]["4"]
    assert [synthetic.top_up_plan(7 + k, 4, k).deed for k in range(len(deeds))] == deeds


def test_without_confirmation_the_designed_character_carries_the_design_level_and_traits():
    fake = FakeLLM(levels=lambda name, sample, choices: 2)  # an annotator that could never confirm a villain
    result = _synthetic_run(fake, confirm=False)
    designed, other = result.portrayals
    plan = synthetic.top_up_plan(0, 4, 0, by_design=True)
    assert (designed.name, designed.status, designed.level, designed.usable) == ("Malvern", "designed", 4, True)
    assert designed.traits == list(plan.traits) and designed.pair is None  # the design's, out of the agreement
    assert result.provenance["design_traits"] == list(plan.traits)
    asked_about = [r.messages[1]["content"].split("Character: ", 1)[1].split("\n", 1)[0]
                   for r in fake.requests if r.step.endswith((".question", ".traits"))]
    assert "Malvern" not in asked_about and "Edith" in asked_about  # the second character is annotated
    described = [r.messages[1]["content"] for r in fake.requests if r.step.endswith(".synthetic_character")]
    assert any(", ".join(plan.traits[:-1]) in text and "Malvern" in text for text in described)  # the writer knows
    assert other.status == "agreed" and other.level == 2
    assert result.counts["top-up level 4: labelled by design"] == 1 and result.provenance["level_from"] == "design"


def test_confirm_top_up_auto_labels_by_design_only_for_annotators_measured_unfit():
    from builders.cli import UserError

    unfit = FakeLLM(levels=_levels_by_name, label="local:smollm2")
    collected, report = _generate(unfit, _args(top_up=True, max_per_character=1))
    designed = [r for r in collected.kept if r["test"] and r["target_level"] is not None]
    assert designed and {r["annotation"] for r in designed} == {"designed"}
    assert all(r["level"] == r["target_level"] for r in designed)
    for level in {r["level"] for r in designed}:  # each top-up scene of a level has the next deed
        deeds = [r["provenance"]["scene"]["deed"] for r in designed if r["level"] == level]
        assert len(set(deeds)) == len(deeds)
    # nobody else is labelled by an unfit annotator: not judged, and no level question was asked
    assert {r["annotation"] for r in collected.kept if r["target_level"] is None} <= {"not judged"}
    assert not [r for r in unfit.requests if r.step.endswith((".question", ".traits"))]
    assert any(note.startswith("levels and traits NOT JUDGED (no annotator fit to judge: local:smollm2")
               for note in report.notes)
    assert any("labelled by design, not confirmed by an annotator" in note for note in report.notes)
    fit = FakeLLM(levels=_levels_by_name)
    collected, report = _generate(fit, _args(top_up=True, max_per_character=1))
    assert not {"designed", "not judged"} & {r["annotation"] for r in collected.kept}
    with pytest.raises(UserError, match="--confirm-top-up on needs an annotator fit to judge"):
        _generate(FakeLLM(levels=_levels_by_name, label="local:smollm2"),
                  _args(top_up=True, max_per_character=1, confirm_top_up="on"))


# -- the whole generate() -> validate -> dedup -> split, with the fake ----------------------------------


def _args(**overrides):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int)
    parser.add_argument("--concurrency", type=int, default=2)
    build.add_arguments(parser)
    args = parser.parse_args([])
    args.n = 8
    for key, value in {"plays": "othello", "max_scenes": 6, **overrides}.items():
        setattr(args, key, value)
    return args


def _generate(fake, args):
    from builders.pipeline import BuildContext

    report = BuildReport()
    ctx = BuildContext(args=args, llm=fake, judge=fake, seed=0, report=report, kept=lambda: 0)

    async def go():
        return await collect(build.BENCHMARK, load_schema("moral_roleplay"), build.generate(ctx), report, args.n)

    return run(go()), report


def _levels_by_name(name, sample, choices):
    """Othello's cast by name; top-up scenes: the first character a villain, the second level 2."""
    pairs = synthetic.synthetic_inputs()["names"]
    level = {"Iago": 4, "Roderigo": 3, "Brabantio": 2, "Othello": 1, "Cassio": 1,
             **{first: 4 for first, _ in pairs}}.get(name, 2)
    return level if level in choices else choices[0]


def test_generate_fills_levels_from_sources_and_top_up():
    """Without origin balance: the top-up fills each level's own shortfall (validity tests: with it)."""
    fake = FakeLLM(levels=_levels_by_name)
    collected, report = _generate(fake, _args(top_up=True, max_per_character=1, origin_balance=False))
    records = collected.kept
    assert not [r for r in report.rejects if r["stage"] == "validate"]
    test = [r for r in records if r["test"]]
    by_level = {level: [r for r in test if r["level"] == level] for level in (1, 2, 3, 4)}
    # one portrayal per (book, character) per level: Iago alone cannot fill level 4, the top-up does;
    # nobody but Roderigo is level 3, so level 3 stays short and says so
    assert [len(by_level[level]) for level in (1, 2, 3, 4)] == [2, 2, 1, 2]
    assert sorted(r["origin"] for r in by_level[4]) == ["source", "synthetic"]
    assert report.funnel["test level 4: synthetic"] == 1 and report.funnel["test level 4: missing"] == 0
    assert report.funnel["test level 3: missing"] == 1
    assert ("test level 3: 1/2 filled (1 from sources, 0 synthetic; 1 distinct characters); NOT FILLED: 1 missing "
            "(top-up wrote 4 of 4 scenes, designed level confirmed 0, not confirmed 4)") in report.notes
    assert report.funnel["top-up level 4: confirmed"] == 1 and report.funnel["top-up level 3: not confirmed"] == 4
    assert sorted(r["target_level"] for r in test if r["origin"] == "synthetic" and r["target_level"]) == [4]
    assert any(note.startswith("trait hill-climb level 4: distance ") for note in report.notes)
    assert any(note.startswith("annotator agreement (two samples of one model): ") for note in report.notes)
    assert len(records) <= 8 and records[:len(test)] == test  # the test set first, then pool scenes
    scene_rows = [r for r in records if r["scene_row"]]
    assert len(scene_rows) == len({r["case_key"] for r in records})
    splits = split_by_config(build.BENCHMARK, records, {"test": 1.0}, 0)
    assert len(splits["test"]["test"]) == 7 and len(splits["characters"]["test"]) == len(records)


def test_top_up_is_on_by_default_and_can_be_turned_off():
    parser = argparse.ArgumentParser()
    build.add_arguments(parser)
    assert parser.parse_args([]).top_up is True and parser.parse_args(["--no-top-up"]).top_up is False
    assert parser.parse_args([]).completeness_from == "structure" and parser.parse_args([]).min_completeness == 4


def test_min_completeness_outside_the_scale_is_refused():
    from builders.cli import UserError

    with pytest.raises(UserError, match="--min-completeness 6 is outside 1-5"):
        build.scene_filter_of(_args(min_completeness=6))
    assert build.scene_filter_of(_args()) == SceneFilter(4, "structure")


def test_generate_reports_an_unfilled_level_without_top_up():
    fake = FakeLLM(levels=lambda name, sample, choices: 3 if name == "Iago" else 2)
    collected, report = _generate(fake, _args(max_scenes=2, top_up=False))
    assert report.funnel["test level 4: missing"] == 2
    assert "test level 4: 0/2 filled (0 from sources, 0 synthetic; 0 distinct characters); NOT FILLED: 2 missing " \
           "(top-up off)" in report.notes
    assert {r["level"] for r in collected.kept} == {2, 3}


def test_an_annotator_that_gives_everyone_one_level_labels_nothing():
    """Every annotation computing level 2 "agrees" every time, at a chance agreement of 1: kappa is
    undefined and the labels say nothing. They used to be released as agreed (Iago at level 2)."""
    def constant(name, sample, choices):
        return 2 if 2 in choices else choices[0]

    collected, report = _generate(FakeLLM(levels=constant), _args(max_scenes=2, top_up=False))
    assert collected.kept and {(r["level"], r["annotation"]) for r in collected.kept} == {(None, "not judged")}
    assert {r["tone"] for r in collected.kept} == {None}  # the same annotators' tones go too
    for record in collected.kept:
        reason = record["provenance"]["annotation"]["reason"]
        assert reason.startswith("annotator agreement at chance: every annotation gave level 2")
        assert record["provenance"]["annotation"]["pair"] == [2, 2]  # the evidence stays in provenance
    note = next(n for n in report.notes if n.startswith("annotator agreement (two samples of one model)"))
    assert "Cohen's kappa None" in note and "AT CHANCE (every annotation gave level 2" in note
    assert f"withdrawn at the end of the build: {len(collected.kept)} levels" in note
    assert any(n.startswith("levels and traits NOT JUDGED (annotator agreement at chance") for n in report.notes)
    assert report.funnel["test level 2: from sources"] == 0


def test_generate_is_deterministic():
    first, _ = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True))
    second, _ = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True))
    assert json.dumps(first.kept, sort_keys=True) == json.dumps(second.kept, sort_keys=True)


def test_release_card_reports_levels_agreement_and_fill(tmp_path):
    from release import write_release

    fake = FakeLLM(levels=_levels_by_name)
    collected, report = _generate(fake, _args(top_up=True, max_per_character=1, origin_balance=False))
    splits = split_by_config(build.BENCHMARK, collected.kept, {"test": 1.0}, 0)
    result = write_release(build.BENCHMARK, splits, {"funnel": report.funnel, "notes": report.notes}, tmp_path)
    card = (result.path / "README.md").read_text()
    assert result.counts["test"]["test"] == 7 and result.counts["scenes"]["test"] == len(
        {r["case_key"] for r in collected.kept})
    assert "### Config `test` (default)" in card
    assert "#### `level`" in card and "#### `origin`" in card and "#### `tone`" in card
    assert "#### `key_traits` (a list per row: each element counted" in card
    assert "Cohen's kappa" in card and "test level 3: 1/2 filled" in card and "test traits: " in card
    assert "config_name: characters" in card


def test_records_pass_schema_and_invariants_and_keep_provenance_apart():
    from builders.moral_roleplay.invariants import checks
    from builders.validate import validate_records

    collected, _ = _generate(FakeLLM(levels=_levels_by_name), _args(top_up=True))
    valid, rejects = validate_records(collected.kept, load_schema("moral_roleplay"), checks=checks)
    assert rejects == [] and len(valid) == len(collected.kept)
    record = valid[0]
    assert record["provenance"]["annotation"]["calls"][0]["answers"]
    assert "answers" not in json.dumps({k: v for k, v in record.items() if k != "provenance"})
    broken = json.loads(json.dumps(record))
    speech = next(turn for turn in broken["dialogues"] if turn["character"] != "Environment")
    speech["message"] = speech["message"].split("] ", 1)[1]
    broken["key_characters"][0]["morality_classification"]["key_traits"] = ["Kind", "Cruel", "Brave"]
    reasons = [r["reason"] for r in validate_records([broken], load_schema("moral_roleplay"), checks=checks)[1]]
    assert reasons and ("does not start with a [thought]" in reasons[0] or "contradicts level" in reasons[0])


def test_thoughts_are_asked_in_chunks_for_the_embedded_model(othello):
    source = scenes_of(othello).scenes[0]
    fake = FakeLLM(levels=lambda name, sample, choices: 2, label="local:smollm2")
    chunk = fake.profile.limit("moral_roleplay.thought_lines_per_call")
    assert chunk == 4  # profiles.yaml: about 80 output tokens a reply for the embedded model
    result = _scene_run(fake, othello, source)
    chunks = [r for r in fake.requests if r.step == "moral_roleplay.thoughts"]
    assert len(chunks) == -(-len(source.lines) // chunk)
    assert all(r.schema["properties"]["thoughts"]["maxItems"] <= chunk for r in chunks)
    assert len(result.scene["dialogues"]) == len(source.lines)
    assert len(result.provenance["calls"]["thoughts"]["chunks"]) == len(chunks)
