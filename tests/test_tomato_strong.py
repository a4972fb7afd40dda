"""ToMATO `--n 20` on the strong-model stand-in (tests/support/standin.py), OpenAI and Anthropic.

A capable model gets the natural contract: its turns are Unicode prose at the lengths the original
release has (thoughts of about 25 words, utterances of about 36: builders/tomato/data/original.json),
so both builds release 20 questions with almost no re-asks, and the length figures sit within 20%
of the original's. The stand-in's judges are right nine times in ten, which is "accept" for the
item judges and "compatible" for false beliefs: the builds keep about 80% of the judged items and
label few false beliefs, and still release 20. Both builds run at once (separate processes and
servers); together they take about 15 seconds on two cores (half a minute on a busy machine).
"""

from __future__ import annotations

import json
import re

import pytest

from builders.tomato.invariants import LINE
from builders.tomato.questions import FIRST_PERSON
from tests.support.standin_builds import PROTOCOL_NAMES, build_on_every_protocol, length_figures_outside_tolerance

UNICODE_PUNCTUATION = re.compile(r"[’“”—…]")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return build_on_every_protocol("builders.tomato", tmp_path_factory.mktemp("tomato-strong"), n=20)


def _provenance(row: dict) -> dict:
    """Released provenance: its nested objects are JSON text in the parquet."""
    return {key: json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
            for key, value in row["provenance"].items()}


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_releases_twenty_with_few_reasks_and_lengths_like_the_original(builds, protocol):
    build = builds[protocol]
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    assert build.released == 20
    assert build.reask_share < 0.05, build.calls
    assert length_figures_outside_tolerance(build) == [], build.figures
    figures = {figure["name"]: figure for figure in build.figures}
    assert {"option words (mean)", "conversation words (mean)", "question words (mean)"} <= set(figures)
    assert abs(figures["gold minus distractor words (mean)"]["value"]) < 2  # spec §7: no option stands out
    funnel = build.build_report["funnel"]
    assert funnel["items judged"] > funnel["questions built"] >= 20  # the item judges ran, and dropped some
    assert build.build_report["shortcut_audit"]["flagged"] == [], build.build_report["shortcut_audit"]
    assert figures["combos (distinct)"]["value"] >= 4 and figures["combos (distinct)"]["original"] == 157


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_a_strong_models_prose_reaches_the_release_in_the_published_form(builds, protocol):
    build = builds[protocol]
    rows = build.records("all")
    assert len(rows) == 20
    generator = build.manifest["build_report"]["profiles"]["generator"]
    assert generator["contract"] == "natural"
    options = [row[f"a{i}"] for row in rows for i in range(4)]
    # curly quotes and apostrophes, dashes and ellipses survive into utterances and options
    assert all(UNICODE_PUNCTUATION.search(row["conversation"]) for row in rows)
    assert sum(bool(UNICODE_PUNCTUATION.search(option)) for option in options) > len(options) / 4
    for row in rows:
        assert all(LINE.match(line) for line in row["conversation"].split("\n"))
        assert not any(FIRST_PERSON.search(option) for option in (row[f"a{i}"] for i in range(4)))
        provenance = _provenance(row)
        assert provenance["roleplay_contract"] == "natural"
        # what the published form cannot hold (the stand-in's straight quotes, asides, line breaks) was
        # fitted by the program and recorded, never re-asked
        for change in provenance["normalisations"]:
            assert change["rules"] and change["field"] in ("thought", "utterance") and change["written"]
        assert provenance["turn_retries"] == 0 and provenance["rewrite_method"] == "rules-v2"
        assert provenance["item_judges"]["accepted"] is True
        if row["order"] == 2:
            assert len(provenance["false_belief_check"]["verdicts"]) == 1
    assert any(_provenance(row)["normalisations"] for row in rows), "the stand-in's markup was never fitted"
    card = (build.release / "README.md").read_text()
    assert "option words (mean)" in card and "24.7" in card
