"""PersonaEval `--n 20` on the strong-model stand-in (tests/support/standin.py), OpenAI and Anthropic.

A capable model gets the natural contract: its profiles are natural Unicode prose at the stated
lengths, so a Drama build over one play releases 20 items with almost no re-asks, and the
release's figures sit next to the original's. Both builds run at once (separate processes and
servers): 23 s for both on the 2-core machine at load 6, mostly process start-up.
"""

from __future__ import annotations

import re

import pytest

from builders.personaeval import profiles, records
from tests.support.standin_builds import (
    PROTOCOL_NAMES,
    STANDIN_BUILDS,
    build_on_every_protocol,
    length_figures_outside_tolerance,
)

pytest.importorskip("builders.sources.plays")

FLAGS = STANDIN_BUILDS["personaeval"].flags  # one play (Macbeth): 41 instances after the filters, enough for --n 20
UNICODE_PUNCTUATION = re.compile(r"[’“”—…]")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return build_on_every_protocol("builders.personaeval", tmp_path_factory.mktemp("personaeval-strong"), *FLAGS, n=20)


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_releases_twenty_with_few_reasks_and_lengths_like_the_original(builds, protocol):
    build = builds[protocol]
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    assert build.released == 20
    assert build.reask_share < 0.05, build.calls
    assert length_figures_outside_tolerance(build) == [], build.figures
    names = {figure["name"] for figure in build.figures}
    assert {"profile words (mean)", "turn words (mean over shown turns)", "items per scene (mean)"} <= names


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_natural_profiles_keep_their_unicode_and_their_provenance(builds, protocol):
    build = builds[protocol]
    rows = build.records("Drama")
    assert len(rows) == 20
    model = build.manifest["build_report"]["models"]["generator"]
    shown = [row[f"option{slot}_profile"] for row in rows for slot in range(1, 5)]
    # a strong model's curly quotes, dashes and ellipses reach the published profiles and prompts
    assert sum(bool(UNICODE_PUNCTUATION.search(text)) for text in shown) > len(shown) / 2
    longest: dict[str, int] = {}  # a character's profile is written once; uncut, it is its longest showing
    for row in rows:
        for option in row["provenance"]["options"]:
            longest[option["name"]] = max(longest.get(option["name"], 0), option["profile_words"])
    for row in rows:
        assert row["provenance"]["profile"] == {"model": model, "contract": "natural",
                                                "prompt_hash": profiles.prompt_hash("natural"),
                                                "temperature": 0.7, "max_tokens": 1500}
        assert records.render_prompt_from(row) == row["prompt"]
        assert records.check_profiles(row) is None  # 1.25 length ratio
        shown_turns = set().union(*(profiles.ngrams(profiles.tokens(t["text"])) for t in row["provenance"]["dialogue"]))
        for slot, option in enumerate(row["provenance"]["options"], start=1):
            text = row[f"option{slot}_profile"]
            published = len(text.split())
            assert profiles.MIN_WORDS <= published <= profiles.MAX_WORDS and option["profile_words"] == published
            assert option["profile_request_hash"] and not profiles.ngrams(profiles.tokens(text)) & shown_turns
            # a profile shown shorter than elsewhere was cut to match, and its provenance says so
            cuts = [re.fullmatch(r"cut from (\d+) to (\d+) words .*", note) for note in option["profile_normalised"]
                    if note.startswith("cut from")]
            assert all(cuts) and (cuts or published == longest[option["name"]]), option
            assert not cuts or (int(cuts[-1].group(2)) == published and int(cuts[-1].group(1)) >= longest[option["name"]])
