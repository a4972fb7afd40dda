"""Moral RolePlay `--n 20` on the strong-model stand-in (tests/support/standin.py), through the real
command line, for the OpenAI (strict json_schema) and Anthropic (tool use) protocols.

A strong model gets the natural contract: prose at the original's lengths, any Unicode. The build
must release 20 portrayals with fewer than 5% re-asks of its writing and trait steps, every length
figure within 20% of the original's, Unicode punctuation kept, source speeches verbatim and
normalisations listed in provenance.

The stand-in's judge answers are right at its accuracy (0.9) only where "right" is knowable, so the
build passes an oracle that knows it (tests/support/moral_oracle.py). Without it the stand-in says
"yes" to every question, which contradicts itself (test_moral_roleplay_labels.py): nothing is
judged, and the top-up is labelled by design.

The level questions are the exception to the 5% bound. The rule asks one question from both sides
and refuses answers that contradict each other (harm with blameless conduct, both or neither of
"others first" and "self first"), asking such an annotation once more. The stand-in errs on each
yes/no answer independently (10%), so about a quarter of its annotations contradict themselves
where a real model, answering the question and its mirror in one reply, rarely would; its question
re-asks are bounded by that rate instead (QUESTION_REASK_BOUND).
"""

from __future__ import annotations

import json

import pytest

from builders.moral_roleplay.annotate import level_from_answers
from builders.moral_roleplay.coser import is_verbatim
from builders.moral_roleplay.synthetic import SYNTHETIC_BOOK, synthetic_inputs
from builders.moral_roleplay.vocab import LEVELS
from builders.sources import plays
from tests.support.moral_oracle import answers_for, true_level, typical_traits
from tests.support.standin_builds import (
    PROTOCOL_NAMES,
    STANDIN_BUILDS,
    build_on_every_protocol,
    length_figures_outside_tolerance,
)

SPEC = STANDIN_BUILDS["moral_roleplay"]  # the same build as bench.strong_standin's
# Three or four of the six answers, each wrong 10% of the time, can each make an annotation
# contradict itself: 1 - 0.9**3.5 = 0.31 of annotations, each re-asked once (module docstring).
QUESTION_REASK_BOUND = 0.35
WRITING_REASK_BOUND = 0.05
PLAY = SPEC.flags[SPEC.flags.index("--plays") + 1]
UNICODE = set("’‘“”—–…éèêëáàçñöüí£")


def test_the_oracle_knows_levels_and_traits():
    assert {level: level_from_answers({q: a == "yes" for q, a in answers_for(level).items()})[0]
            for level in LEVELS} == {1: 1, 2: 2, 3: 3, 4: 4}
    deed = synthetic_inputs()["deeds"]["3"][0]
    designed, partner = synthetic_inputs()["names"][0]
    assert true_level(designed, f"1. Environment: Night. {designed} {deed}.") == 3
    assert true_level(partner, "") == 2 and true_level("Angelo", "") == 4
    assert true_level("Lucio", "Book: Measure For Measure\nCharacter: Lucio") == 3  # also a top-up partner's name
    assert true_level("Lucio", f"Book: {SYNTHETIC_BOOK}\nCharacter: Lucio") == 2
    assert typical_traits(4)[:2] == ("Cruel", "Manipulative")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return build_on_every_protocol("builders.moral_roleplay", tmp_path_factory.mktemp("moral-strong"), *SPEC.flags,
                                   n=20, standin_options=SPEC.standin_options())


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_strong_model_build_releases_20_at_the_originals_lengths(builds, protocol):
    build = builds[protocol]
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    assert build.released == 20
    steps = build.calls["steps"]
    others = [step for name, step in steps.items() if name != "moral_roleplay.question"]
    assert sum(s["reasks"] for s in others) < WRITING_REASK_BOUND * sum(s["requests"] for s in others), steps
    assert steps["moral_roleplay.question"]["reask_share"] < QUESTION_REASK_BOUND, steps
    assert length_figures_outside_tolerance(build) == []
    profiles = build.manifest["build_report"]["profiles"]["generator"]
    assert profiles["contract"] == "natural" and profiles["name"] == protocol


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_strong_model_release_fills_every_level_through_annotation(builds, protocol):
    test = [r for r in builds[protocol].records("test")]
    assert sorted(r["level"] for r in test) == [level for level in LEVELS for _ in range(5)]
    # a fit annotator: every label is annotated (none by design); a top-up character kept only confirmed
    assert {r["annotation"] for r in test} <= {"agreed", "adjudicated"}
    designed = [r for r in test if r["target_level"] is not None]
    assert designed and all(r["level"] == r["target_level"] for r in designed)
    assert {r["origin"] for r in test} == {"source", "synthetic"}


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_strong_model_text_keeps_unicode_and_source_speech(builds, protocol):
    records = builds[protocol].records("characters")
    profiles = [json.loads(r["character_profiles"])[r["name"]] for r in records]  # a JSON object in parquet
    written = " ".join([r["scenario"] for r in records] + profiles
                       + [k["thought"] for r in records for k in r["key_characters"]])
    assert UNICODE & set(written), "no Unicode punctuation survived into the released text"
    speech_of = {turn.id: turn.text for turn in plays.load_play(PLAY).turns}
    for record in records:
        provenance = json.loads(record["provenance"])["scene"]
        assert isinstance(provenance["normalised"], list)  # what was made to fit the format, listed (often nothing)
        turns = [t for t in record["dialogues"] if t["character"] != "Environment"]
        assert turns and all(t["message"].startswith("[") for t in turns)
        if record["origin"] == "source":  # the play's own words, untouched around the written thoughts
            assert len(provenance["turn_ids"]) == len(turns)
            assert all(is_verbatim(t["message"], speech_of[i]) for t, i in zip(turns, provenance["turn_ids"]))
