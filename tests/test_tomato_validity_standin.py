"""ToMATO `--n 60` on the strong-model stand-in, OpenAI and Anthropic (slow: about 45 seconds).

The issue's small-build figures on the kind of text users publish: a 60-question release spans at
least 8 combos (each its own scenario and pair of characters), every conversation the build paid
for is in its report, and no shortcut baseline scores above chance + 5 points. Run by
`python -m pytest -m slow`; `python -m bench.strong_standin` measures the same builds.
"""

from __future__ import annotations

import pytest

from tests.support.standin_builds import PROTOCOL_NAMES, build_on_every_protocol


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    return build_on_every_protocol("builders.tomato", tmp_path_factory.mktemp("tomato-standin-60"), n=60)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_a_60_question_release_is_varied_fully_reported_and_free_of_shortcuts(builds, protocol):
    build = builds[protocol]
    assert build.result.returncode == 0, build.result.stderr[-3000:]
    assert build.released == 60
    figures = {figure["name"]: figure["value"] for figure in build.figures}
    assert figures["combos (distinct)"] >= 8 and figures["environments (distinct)"] >= 8
    assert figures["mental states (distinct)"] == 5
    report = build.build_report
    funnel = report["funnel"]
    # every question candidate of every conversation: released, or a reject with its reason
    assert 14 * funnel["conversations"] == funnel["released"] + sum(
        count for stage, reasons in report["rejects"].items() for count in reasons.values())
    assert report["calls_run_ahead_unused"]["requests"] == 0
    audit = report["shortcut_audit"]
    assert audit["items"] == 60 and audit["flagged"] == []
    assert all(row["accuracy"] <= audit["chance"] + 0.1 for row in audit["baselines"]), audit
    card = (build.release / "README.md").read_text()
    assert "### Shortcut audit" in card and "| combos (distinct) |" in card
