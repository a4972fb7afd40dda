"""Scoring PersonaEval: probabilities over candidates, per track and combined, every option kept."""

from __future__ import annotations

import asyncio
import json

import pytest

from benchscore import personaeval
from benchscore.protocol import Context, Options, Prediction, ScoringError, Unit
from benchscore.stats import Bootstrap
from tests.test_benchscore_support import (  # noqa: F401  (fixtures)
    copy_release,
    model,
    personaeval_release,
    personaeval_server,
    predictions_of,
    rows_of,
    score,
    scores_of,
    share_of,
)


def test_an_oracle_scores_1_on_every_metric(personaeval_release, tmp_path):
    release = copy_release(personaeval_release, tmp_path)
    with personaeval_server(release) as server:
        assert score(release, model(server, "oracle"), tmp_path / "cache") == 0
        (body, *_) = [r.json for r in server.requests]
    assert body["messages"] == [{"role": "user", "content": body["messages"][0]["content"]}]
    assert body["temperature"] == 0.0
    document = scores_of(release, "openai-compatible_oracle")
    combined = document["breakdowns"]["combined"]
    assert document["headline"]["value"] == 1.0 and document["headline"]["n"] == 16
    assert combined["top2_accuracy"]["value"] == 1.0 and combined["mean_rank"]["value"] == 1.0
    assert combined["brier_score"]["value"] == 0.0 and combined["ece"] == 0.0 and combined["f1_score"] == 1.0
    assert document["breakdowns"]["track"]["Drama"]["top1_accuracy"]["value"] == 1.0
    assert document["breakdowns"]["macro_top1_accuracy"] == 1.0
    predictions = predictions_of(release, "openai-compatible_oracle")
    row = {r["id"]: r for r in rows_of(release, "Drama")}
    for prediction in predictions:  # every option's probability is kept
        assert set(json.loads(prediction["probabilities"])) == set(personaeval.option_names(row[prediction["id"]]))


def test_always_the_first_option_scores_the_share_of_golds_in_first_place(personaeval_release, tmp_path):
    release = copy_release(personaeval_release, tmp_path)
    with personaeval_server(release, always_first=True) as server:
        assert score(release, model(server, "first"), tmp_path / "cache") == 0
    document = scores_of(release, "openai-compatible_first")
    expected = share_of([row["gold_index"] for row in rows_of(release, "Drama")], 0)
    assert 0 < expected < 1 and document["headline"]["value"] == round(expected, 6)


def test_a_tie_at_the_top_counts_wrong_and_is_reported(personaeval_release, tmp_path):
    release = copy_release(personaeval_release, tmp_path)
    with personaeval_server(release, tie=True) as server:
        assert score(release, model(server, "tie"), tmp_path / "cache") == 0
    document = scores_of(release, "openai-compatible_tie")
    assert document["headline"]["value"] == 0.0 and document["headline"]["ties"] == 16
    assert document["breakdowns"]["combined"]["top2_accuracy"]["value"] == 1.0
    assert document["breakdowns"]["combined"]["mean_rank"]["value"] == 2.0  # a tie ranks the gold below


def _row(gold: int, options: int = 5) -> dict:
    names = [f"Person {i}" for i in range(1, options + 1)]
    row = {"id": f"r{gold}", "track": "Expertise", "prompt": "who?", "gt": names[gold]}
    row.update({f"option{i}": name for i, name in enumerate(names, start=1)})
    return row


class _Replies:
    """A model double: the reply text for each prompt's row, by row id."""

    def __init__(self, texts: dict[str, str]):
        self.texts = texts
        self.current = None

    async def chat(self, request):
        from types import SimpleNamespace

        return SimpleNamespace(text=self.texts[self.current], provenance={"request_hash": "h"})


def _predict(row: dict, reply: str) -> Prediction:
    llm = _Replies({row["id"]: reply})
    llm.current = row["id"]
    ctx = Context(llm=llm, judge=llm, options=Options(configs=("Expertise",)))
    (prediction,) = asyncio.run(personaeval.run(Unit(row["id"], "Expertise", row), ctx))
    return prediction


def test_a_gold_in_option_5_can_be_right_and_all_five_probabilities_are_kept():
    row = _row(gold=4)
    prediction = _predict(row, json.dumps({f"Person {i}": p for i, p in enumerate([0.1, 0.1, 0.1, 0.1, 0.6], 1)}))
    assert prediction.correct and prediction.details["rank"] == 1 and len(prediction.probabilities) == 5
    assert prediction.probabilities["Person 5"] == 0.6


def test_metrics_on_known_predictions():
    right = _predict(_row(gold=0, options=4), '{"Person 1": 0.7, "Person 2": 0.1, "Person 3": 0.1, "Person 4": 0.1}')
    wrong = _predict(_row(gold=1, options=4), 'text {"Person 1": 0.9, "Person 2": 0.1} more text')
    unreadable = _predict(_row(gold=2, options=4), "I cannot tell.")
    block = personaeval.metrics([right, wrong, unreadable], Bootstrap())
    assert block["top1_accuracy"]["value"] == round(1 / 3, 6)
    assert block["top2_accuracy"]["value"] == round(2 / 3, 6)
    assert block["mean_rank"]["value"] == round((1 + 2 + 4) / 3, 6)  # unreadable: the gold ranks last
    brier_right = (0.3 ** 2 + 3 * 0.1 ** 2) / 4
    brier_wrong = (0.9 ** 2 + 0.9 ** 2) / 4  # the options the reply left out count as 0
    assert block["brier_score"]["value"] == round((brier_right + brier_wrong) / 2, 6)
    assert block["brier_score"]["n"] == 2 and block["unparseable"] == 1
    # bins of width 0.05: confidence 0.7 (right) and 0.9 (wrong) fall in separate bins
    assert block["ece"] == round(0.5 * abs(1 - 0.7) + 0.5 * abs(0 - 0.9), 6)
    assert unreadable.details["problem"] == "no JSON object in the reply"


def test_a_gold_that_is_not_an_option_is_a_clear_error():
    row = {**_row(gold=0), "gt": "Somebody Else"}
    with pytest.raises(ScoringError, match="not one of its options"):
        personaeval.units({"Expertise": [row]}, Options(configs=("Expertise",)))
