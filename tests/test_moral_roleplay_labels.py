"""Moral RolePlay labels that a release may call agreed (issue 20).

A real build on novels and plays released level 2 for every source scene (the annotator said yes to
everything and the level rule sent that to 2), Iago and Richard III among them, as "agreed" though
the build measured chance agreement; its villains were Loyal and Brave but never Cruel; every tone
was "Positive", poisoning and torture included; and level 2 came only from the plays, levels 1, 3
and 4 only from model-written scenes. The tests here, one group per item:
1. source scenes (a PDNC novel no list in the code names) fill every level under a coherent
   annotator, and a yes-saying one computes no level at all instead of level 2;
2. labels from annotators agreeing only at chance are withdrawn (not judged), and the card says so;
3. a villain's traits hold its malice and mostly negative traits; the tone is the annotators', not
   the writer's, and a tone the scene's deed rules out is not judged;
4. the card and the build report give level by origin, and say when one origin alone fills a level.
In-process builds use the scripted fakes of test_moral_roleplay_llm_steps.py; one build goes through
the real command line on the strong-model stand-in without its oracle (it says yes to everything).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from builders.moral_roleplay import build, synthetic
from builders.moral_roleplay.agreement import chance_verdict, cohen_kappa
from builders.moral_roleplay.annotate import annotate_portrayal, traits_schema
from builders.moral_roleplay.figures import (
    confounded_levels,
    level_origin_counts,
    level_origin_note,
)
from builders.moral_roleplay.scenes import Annotators, SceneFilter
from builders.moral_roleplay.vocab import check_traits, level_requirement
from builders.moral_roleplay.windows import scenes_of
from builders.pipeline import split_by_config
from builders.scenes.corpus import load_works
from tests.support.pdnc_synthetic import write_synthetic_novel
from tests.support.standin_builds import (
    STANDIN_BUILDS,
    run_standin_build,
    standin_server,
)
from tests.test_moral_roleplay_llm_steps import (
    TRAITS_BY_LEVEL,
    FakeLLM,
    _args,
    _generate,
    _scene_run,
    context,
    run,
)
from tests.test_moral_roleplay_validity import VariedFake, two_or_three

NOVEL = "TheLanternAtHarrowCross"
# The novel's cast by PDNC character id (whatever name the loader gives them): one per level, so a
# coherent annotator finds every level in the novel's own scenes.
NOVEL_LEVELS = {"0": 4, "1": 1, "2": 3, "3": 2, "4": 2, "5": 3, "6": 1}


class YesSayer(VariedFake):
    """An annotator that answers "yes" to every question: what the real build's annotator did."""

    def _annotation(self, schema, request, step):
        if step == "question":
            return {q: "yes" for q in schema["properties"]} if "answer" not in schema["properties"] \
                else {"answer": "yes"}
        return super()._annotation(schema, request, step)


@pytest.fixture(scope="module")
def novel(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A PDNC novel absent from every list, and its cast's levels by the names the loader gives."""
    root = tmp_path_factory.mktemp("pdnc")
    write_synthetic_novel(root / NOVEL)
    work = load_works(pdnc_dir=root, novels=[NOVEL])[0]
    return root, {work.characters[i].name: level for i, level in NOVEL_LEVELS.items()}


def _novel_args(root: Path, **overrides):
    return _args(plays=None, pdnc_dir=root, novels=NOVEL, **overrides)


# -- 1. source scenes can fill every level ----------------------------------------------------------------


def test_the_scenes_of_an_unseen_novel_fill_every_level_under_a_coherent_annotator(novel):
    root, levels = novel
    fake = VariedFake(levels=lambda name, sample, choices: levels[name] if levels[name] in choices else choices[0])
    collected, report = _generate(fake, _novel_args(root, n=8, per_level=2, max_scenes=12, top_up=False))
    test = [r for r in collected.kept if r["test"]]
    assert sorted(r["level"] for r in test) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert {r["origin"] for r in test} == {"source"} and {r["annotation"] for r in test} == {"agreed"}
    assert all(r["level"] == levels[r["name"]] for r in collected.kept)
    assert "level by origin (test portrayals): level 1: 2 source + 0 top-up; level 2: 2 source + 0 top-up; " \
           "level 3: 2 source + 0 top-up; level 4: 2 source + 0 top-up; not judged: 0 source + 0 top-up " \
           "(every labelled portrayal from source works: origin does not vary with level)" in report.notes


def test_a_yes_saying_annotator_leaves_the_novels_characters_not_judged_instead_of_level_2(novel):
    root, _ = novel
    fake = YesSayer()
    collected, report = _generate(fake, _novel_args(root, n=16, per_level=2, max_scenes=12, top_up=True))
    sources = [r for r in collected.kept if r["origin"] == "source"]
    assert sources and {(r["level"], r["annotation"]) for r in sources} == {(None, "not judged")}
    reasons = Counter(r["provenance"]["annotation"]["reason"].split(":")[0] for r in sources)
    # contradicted itself (asked twice, both times all yes) until the build stopped asking: then the
    # rest of the sources are not judged for the measured agreement (none computed a level)
    assert reasons["annotator 1"] >= 5 and set(reasons) <= {"annotator 1", "annotator agreement at chance"}
    first = next(r for r in sources if r["provenance"]["annotation"]["calls"])
    assert {a["level"] for a in first["provenance"]["annotation"]["calls"]} == {None}
    assert "self-contradictory answers" in first["provenance"]["annotation"]["reason"]
    assert report.funnel["annotation: portrayals not judged for self-contradictory answers"] >= 10
    # no coherent annotation at all: the annotators label nothing more; the top-up fills every level by design
    assert any("AT CHANCE" in n and "no two annotations both gave a level" in n for n in report.notes)
    test = [r for r in collected.kept if r["test"]]
    assert sorted(r["level"] for r in test) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert {r["annotation"] for r in test} == {"designed"}
    assert any(" released portrayals NOT JUDGED because an annotator's yes/no answers contradicted each other "
               "twice" in n for n in report.notes)


# -- 2. labels need a fit annotator whose agreement is above chance ----------------------------------------


def test_chance_agreement_is_measured_not_assumed():
    assert not chance_verdict([(2, 2)] * 20).above_chance  # one level for everyone: chance agreement 1
    assert cohen_kappa([2] * 20, [2] * 20) is None
    assert not chance_verdict([]).above_chance
    levels = [1, 2, 3, 4] * 10
    rotated = levels[1:] + levels[:1]
    assert not chance_verdict(list(zip(levels, rotated))).above_chance  # never agree: kappa below 0
    coin = [1 + int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % 4 for i in range(80)]
    random_pairs = list(zip(coin[:40], coin[40:]))
    verdict = chance_verdict(random_pairs)
    assert not verdict.above_chance and verdict.reason.startswith("agreement at chance")
    assert chance_verdict(list(zip(levels, levels))).above_chance
    assert not chance_verdict([(1, 1), (2, 2)]).above_chance  # perfect, but two pairs cannot show it
    weak = [(a, a) for a in levels] + random_pairs * 10  # significant, but kappa far below 0.2
    stats = chance_verdict(weak).stats
    assert stats["p_value_vs_chance"] < 0.05 and stats["cohen_kappa"] < 0.2 and not chance_verdict(weak).above_chance


def _random_levels(name, sample, choices):
    """Each annotation draws its level from a hash: two annotators agree only by chance."""
    level = 1 + int(hashlib.sha256(f"{name}:{sample}".encode()).hexdigest(), 16) % 4
    return level if level in choices else choices[level % len(choices)]


@pytest.fixture(scope="module")
def at_chance():
    fake = VariedFake(levels=_random_levels)
    collected, report = _generate(fake, _args(n=24, per_level=2, max_scenes=30, top_up=True))
    return fake, collected, report


def test_annotators_at_chance_are_stopped_and_their_labels_released_not_judged(at_chance):
    _, collected, report = at_chance
    note = next(n for n in report.notes if n.startswith("annotator agreement (two samples of one model)"))
    assert "AT CHANCE" in note and "withdrawn after " in note and "source scenes" in note
    sources = [r for r in collected.kept if r["origin"] == "source"]
    assert sources and {(r["level"], r["annotation"]) for r in sources} == {(None, "not judged")}
    withdrawn = [r for r in sources if r["provenance"]["annotation"]["pair"]]
    assert withdrawn and all(r["provenance"]["annotation"]["reason"].startswith("annotator agreement at chance")
                             for r in withdrawn)
    never_asked = [r for r in sources if not r["provenance"]["annotation"]["calls"]]
    assert never_asked  # after the verdict no source portrayal was annotated
    assert report.funnel["source scenes not tried"] > 0
    test = [r for r in collected.kept if r["test"]]
    assert sorted(r["level"] for r in test) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert {(r["annotation"], r["origin"]) for r in test} == {("designed", "synthetic")}
    assert all(r["provenance"]["scene"]["level_from"] == "design" for r in test)
    assert {r["tone"] for r in collected.kept} == {None}


def test_the_card_says_labels_were_withdrawn_for_chance_agreement(at_chance, tmp_path):
    from release import write_release

    _, collected, report = at_chance
    records = collected.kept
    splits = split_by_config(build.BENCHMARK, records, {"test": 1.0}, 0)
    build_report = {"funnel": report.funnel, "notes": report.notes,
                    "original_comparison": [f.as_dict() for f in build.BENCHMARK.figures(records)]}
    card = " ".join((write_release(build.BENCHMARK, splits, build_report, tmp_path).path / "README.md").read_text()
                    .split())
    not_judged = sum(r["annotation"] == "not judged" for r in records)
    assert (f"**In this release {not_judged} of the {len(records)} released portrayals are not judged** (the "
            "annotators of this build agreed only at chance, so every label they gave was withdrawn; the Notes "
            "give the reason)") in card
    assert "(**this release**: see the Notes)" in card
    assert "levels and traits NOT JUDGED (annotator agreement at chance" in card


def test_an_unfit_profile_still_labels_nothing_and_its_scenes_have_no_tone():
    fake = VariedFake(label="local:smollm2")
    collected, _ = _generate(fake, _args(n=12, per_level=2, max_scenes=3, top_up=True))
    assert not [r for r in fake.requests if r.step.endswith((".question", ".traits", ".tone"))]
    assert {r["tone"] for r in collected.kept} == {None}
    assert all(r["provenance"]["scene"]["tone"]["status"] == "not judged" for r in collected.kept)


# -- 3. traits and tone ------------------------------------------------------------------------------------


def test_a_villains_traits_hold_its_malice_and_mostly_negative_traits():
    assert check_traits(["Loyal", "Brave", "Ambitious", "Cruel"], 4).problem == \
        "contradicts level: level 4 cannot hold Brave"
    assert "needs one of Cruel, Malicious, Violent" in check_traits(["Loyal", "Ambitious", "Manipulative"], 4).problem
    assert "at least half of its traits negative, has 1 of 4" in \
        check_traits(["Loyal", "Ambitious", "Cruel", "Confident"], 4).problem
    assert check_traits(["Cruel", "Manipulative", "Ambitious", "Loyal"], 4).problem is None  # Loyal: 23 of 200
    assert "cannot hold Kind" in check_traits(["Kind", "Ambitious", "Selfish"], 3).problem
    assert "negative" in check_traits(["Ambitious", "Confident", "Loyal"], 3).problem
    villain = set(traits_schema(4)["properties"]["key_traits"]["items"]["enum"])
    assert not {"Brave", "Kind", "Upright", "Just", "Merciful", "Selfless"} & villain and "Loyal" in villain
    assert level_requirement(4).startswith("at least one of Cruel, Malicious or Violent and at least half")
    for level, deeds in synthetic.synthetic_inputs()["design_traits"].items():  # the designs pass the same checks
        assert all(check_traits(traits, int(level)).problem is None for traits in deeds.values())


def test_a_villain_named_loyal_and_brave_is_asked_again_and_the_prompt_says_why():
    asked = []

    def traits(name, sample, level):
        asked.append(sample)
        return ["Loyal", "Ambitious", "Confident", "Manipulative"] if sample == 0 else TRAITS_BY_LEVEL[4]

    fake = FakeLLM(levels=lambda name, sample, choices: 4, traits=traits)
    portrayal = run(annotate_portrayal(fake, fake, fake, context()))
    assert portrayal.status == "agreed" and portrayal.traits == TRAITS_BY_LEVEL[4] and asked == [0, 10]
    assert portrayal.problems == ["traits: contradicts level: level 4 needs one of Cruel, Malicious, Violent"]
    prompt = next(r for r in fake.requests if r.step.endswith(".traits")).messages[1]["content"]
    assert "A level 4 character's traits must have at least one of Cruel, Malicious or Violent and at least half " \
           "of them negative (Frivolous, " in prompt


class ToneSplit(FakeLLM):
    """The writer rates its own scenes Positive; the annotators' tone step answers `tone`."""

    tone: str = "Negative"

    def _fill(self, schema, request, path):
        if path == "$.tone":
            return "Positive" if request.step.endswith(".rating") else self.tone
        return super()._fill(schema, request, path)


@pytest.fixture(scope="module")
def othello():
    from builders.sources import plays

    return plays.load_play("othello")


def test_the_scene_tone_is_the_annotators_never_the_writers(othello):
    fake = ToneSplit(levels=lambda name, sample, choices: 2)
    result = _scene_run(fake, othello, scenes_of(othello).scenes[0])
    assert result.scene["tone"] == "Negative"
    tone = result.provenance["tone"]
    assert tone["writer_rating"] == "Positive" and tone["status"] == "agreed" and tone["pair"] == ["Negative"] * 2
    asked = [(r.step.rsplit(".", 1)[-1], r.sample) for r in fake.requests if r.step.endswith((".tone", ".rating"))]
    assert sorted(asked) == [("rating", 0), ("tone", 0), ("tone", 1)]


def test_a_villains_deed_rated_positive_leaves_the_tone_not_judged():
    positive = ToneSplit(levels=lambda name, sample, choices: 4)
    positive.tone = "Positive"
    result = run(synthetic.build_synthetic_scene(positive, Annotators(positive, positive, positive), 0, 4,
                                                 scene_filter=SceneFilter(), temperature=0.7))
    deed = result.provenance["deed"]
    assert result.scene["tone"] is None and "poisons" in deed
    assert result.provenance["tone"]["status"] == "not judged"
    assert "rules out" in result.provenance["tone"]["reason"]
    paragon = ToneSplit(levels=lambda name, sample, choices: 1)
    paragon.tone = "Positive"
    kept = run(synthetic.build_synthetic_scene(paragon, Annotators(paragon, paragon, paragon), 0, 1,
                                               scene_filter=SceneFilter(), temperature=0.7))
    assert kept.scene["tone"] == "Positive"


# -- 4. level by origin ------------------------------------------------------------------------------------


def _record(level, origin, test=True):
    return {"level": level, "origin": origin, "test": test}


def test_level_by_origin_counts_and_names_the_confound():
    issue = ([_record(2, "source")] * 5 + [_record(level, "synthetic") for level in (1, 3, 4) for _ in range(5)]
             + [_record(None, "source", test=False)] * 3)
    counts = level_origin_counts(issue, test=False)
    assert counts[2] == {"source": 5, "synthetic": 0} and counts[None] == {"source": 3, "synthetic": 0}
    assert confounded_levels(level_origin_counts(issue, test=True)) == {1: "synthetic", 2: "source", 3: "synthetic",
                                                                         4: "synthetic"}
    assert "(CONFOUNDED: level 1 only from top-up scenes, level 2 only from source works, level 3 only from " \
           "top-up scenes, level 4 only from top-up scenes)" in level_origin_note(issue, test=True)
    mixed = [_record(level, origin) for level in (1, 2, 3, 4) for origin in ("source", "synthetic")]
    assert confounded_levels(level_origin_counts(mixed, test=True)) == {}
    assert "(no level filled by one origin alone)" in level_origin_note(mixed, test=True)
    one_origin = [_record(level, "synthetic") for level in (1, 2, 3, 4)]
    assert confounded_levels(level_origin_counts(one_origin, test=True)) == {}


def _card(collected, report, tmp_path) -> str:
    from release import write_release

    records = collected.kept
    splits = split_by_config(build.BENCHMARK, records, {"test": 1.0}, 0)
    build_report = {"funnel": report.funnel, "notes": report.notes,
                    "original_comparison": [f.as_dict() for f in build.BENCHMARK.figures(records)]}
    return (write_release(build.BENCHMARK, splits, build_report, tmp_path).path / "README.md").read_text()


@pytest.fixture(scope="module")
def unbalanced():
    """Levels 2 and 3 from the play, 1 and 4 from the top-up: origin names the level."""
    return _generate(VariedFake(levels=two_or_three), _args(n=16, per_level=4, max_scenes=10, top_up=True,
                                                            confirm_top_up="off", origin_balance=False))


def test_the_card_tables_level_by_origin_from_the_records_and_says_they_are_confounded(unbalanced, tmp_path):
    collected, report = unbalanced
    card = _card(collected, report, tmp_path)
    test = Counter((r["level"], r["origin"]) for r in collected.kept if r["test"])
    everyone = Counter((r["level"], r["origin"]) for r in collected.kept)
    assert ("| 1 Moral Paragon | 0 | 4 | 0 | 4 |" in card and
            f"| 2 Flawed-but-Good | {test[2, 'source']} | 0 | {everyone[2, 'source']} | 0 |" in card)
    assert f"| not judged | - | - | {everyone[None, 'source']} | {everyone[None, 'synthetic']} |" in card
    flat = " ".join(card.split())
    assert ("**Level and origin are confounded in the test set**: level 1 only from top-up scenes; level 2 only "
            "from source works;") in flat
    assert "do not read a difference between these levels as a difference of moral level" in flat
    note = next(n for n in report.notes if n.startswith("level by origin (test portrayals)"))
    assert "CONFOUNDED: level 1 only from top-up scenes, level 2 only from source works" in note
    assert any(n.startswith("level by origin (released portrayals)") for n in report.notes)


def test_a_card_whose_levels_mix_origins_says_so(tmp_path):
    from tests.test_moral_roleplay_llm_steps import _levels_by_name

    collected, report = _generate(VariedFake(levels=_levels_by_name),
                                  _args(n=8, per_level=2, max_scenes=8, top_up=True, max_per_character=1))
    counts = level_origin_counts(collected.kept, test=True)
    flat = " ".join(_card(collected, report, tmp_path).split())
    if confounded_levels(counts):
        assert "**Level and origin are confounded in the test set**" in flat
    else:
        assert "In the test set every level holds both origins" in flat or \
            "In the test set every labelled portrayal comes from" in flat
        assert "confounded in the test set" not in flat


# -- through the command line: a model said to be fit that answers yes to everything -----------------------


@pytest.mark.slow
def test_a_yes_saying_model_profiled_fit_releases_no_level_as_agreed(tmp_path):
    """The issue's build: a model whose profile says it can judge, answering yes to every question.
    The stand-in without its oracle does exactly that."""
    spec = STANDIN_BUILDS["moral_roleplay"]
    with standin_server("openai") as server:  # no oracle: yes to every yes/no question
        result = run_standin_build("builders.moral_roleplay", server, tmp_path, *spec.flags, "--per-level", "2",
                                   n=12)
    assert result.result.returncode == 0, result.result.stderr[-3000:]
    characters = result.records("characters")
    sources = [r for r in characters if r["origin"] == "source"]
    assert sources and {(r["level"], r["annotation"]) for r in sources} == {(None, "not judged")}
    assert all("self-contradictory" in json.loads(r["provenance"])["annotation"]["reason"]
               or "agreement at chance" in json.loads(r["provenance"])["annotation"]["reason"] for r in sources)
    test = result.records("test")
    assert test and {r["annotation"] for r in test} == {"designed"}
    card = " ".join((result.release / "README.md").read_text().split())
    assert "are not judged**" in card and "**Level by origin.**" in card
