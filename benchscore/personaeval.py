"""PersonaEval (personaeval.md §10-11): who is Character2? Probabilities over the candidates.

The row's `prompt` is the only user message, at temperature 0. The reply's last JSON object maps
option names to probabilities (benchscore.answers.parse_probabilities). Metrics per track (the
`track` field) and Combined (rows concatenated), plus the macro average of the tracks:

- top-1 accuracy: the gold has the highest probability. A tie at the top counts as wrong and is
  counted (the original left ties undefined);
- top-2 accuracy and mean rank of the gold (a tie ranks the gold below the options it ties with);
- Brier score (mean squared error over all options) and ECE (20 equal-width bins on the highest
  probability), over the replies that gave probabilities;
- F1 = 2·acc/(1+acc), the original's degenerate F1, for parity only.

Fixed relative to the original (§11 item 1): every option's probability is kept, so an Expertise
item whose gold is option 5 can be right; probabilities are stored per prediction.
An unreadable reply is wrong, ranks the gold last, and is counted.
"""

from __future__ import annotations

import numpy as np

from benchscore.answers import parse_probabilities
from benchscore.multiple_choice import reply_counts
from benchscore.protocol import (
    Context,
    Options,
    Prediction,
    Protocol,
    ScoringError,
    Unit,
)
from benchscore.stats import Bootstrap, mean_with_interval
from builders.llm import ChatRequest, RequestFailed

DECODING = {"temperature": 0.0, "max_tokens": 512}
ECE_BINS = 20
MAX_OPTIONS = 5


def units(rows_by_config: dict[str, list[dict]], options: Options) -> list[Unit]:
    found = [Unit(row["id"], config, row) for config, rows in rows_by_config.items() for row in rows]
    for unit in found:
        if unit.data["gt"] not in option_names(unit.data):
            raise ScoringError(f"PersonaEval row {unit.id!r} ({unit.config}): its gold {unit.data['gt']!r} is not one "
                               "of its options; the release breaks the PersonaEval schema (spec 3.1, invariant 1)")
    return found


def option_names(row: dict) -> list[str]:
    return [row[f"option{i}"] for i in range(1, MAX_OPTIONS + 1) if row.get(f"option{i}")]


async def run(unit: Unit, ctx: Context) -> list[Prediction]:
    row = unit.data
    request = ChatRequest(messages=[{"role": "user", "content": row["prompt"]}], step="benchscore.personaeval",
                          temperature=DECODING["temperature"], max_tokens=DECODING["max_tokens"],
                          prompt_hash="release prompt field")
    try:
        reply = await ctx.llm.chat(request)
    except RequestFailed as error:
        return [_unscored(unit, raw="", request_hash=error.request_hash, problem=f"request failed: {error.reason}")]
    parsed = parse_probabilities(reply.text, option_names(row))
    request_hash = reply.provenance.get("request_hash", "")
    if parsed.values is None:
        return [_unscored(unit, raw=reply.text, request_hash=request_hash, problem=parsed.problem)]
    return [_scored(unit, parsed.values, reply.text, request_hash, parsed.problem)]


def _scored(unit: Unit, probabilities: dict[str, float], raw: str, request_hash: str, problem: str) -> Prediction:
    row, gold = unit.data, unit.data["gt"]
    top = max(probabilities.values())
    leaders = [name for name, p in probabilities.items() if p == top]
    rank = 1 + sum(p >= probabilities[gold] for name, p in probabilities.items() if name != gold)
    brier = sum((p - (name == gold)) ** 2 for name, p in probabilities.items()) / len(probabilities)
    details = {"rank": rank, "tie": len(leaders) > 1, "brier": brier, "confidence": top, "options": len(probabilities)}
    if problem:
        details["repaired"] = problem
    return Prediction(id=unit.id, config=unit.config, gold=gold, prediction=" | ".join(leaders), raw_reply=raw,
                      parsed=True, correct=rank == 1, value=float(rank == 1), request_hash=request_hash,
                      probabilities=probabilities, groups={"track": row["track"]}, details=details)


def _unscored(unit: Unit, *, raw: str, request_hash: str, problem: str) -> Prediction:
    row = unit.data
    failed = problem.startswith("request failed")
    return Prediction(id=unit.id, config=unit.config, gold=row["gt"], prediction=None, raw_reply=raw, parsed=False,
                      correct=False, value=0.0, request_hash=request_hash, groups={"track": row["track"]},
                      details={"rank": len(option_names(row)), "problem": problem,
                               **({"rule": "request failed"} if failed else {})})


def summarise(predictions: list[Prediction], options: Options) -> dict:
    tracks = sorted({p.groups["track"] for p in predictions})
    per_track = {track: metrics([p for p in predictions if p.groups["track"] == track], options.bootstrap)
                 for track in tracks}
    combined = metrics(predictions, options.bootstrap)
    top1s = [block["top1_accuracy"]["value"] for block in per_track.values()]
    headline = {"metric": "top1_accuracy", **combined["top1_accuracy"], **reply_counts(predictions),
                "ties": combined["ties"]}
    return {"headline": headline,
            "breakdowns": {"combined": combined, "track": per_track,
                           "macro_top1_accuracy": round(sum(top1s) / len(top1s), 6) if top1s else None}}


def metrics(predictions: list[Prediction], bootstrap: Bootstrap) -> dict:
    ranks = [p.details["rank"] for p in predictions]
    calibrated = [p for p in predictions if p.parsed]
    top1 = mean_with_interval([float(rank == 1) for rank in ranks], bootstrap)
    return {
        "top1_accuracy": top1,
        "top2_accuracy": mean_with_interval([float(rank <= 2) for rank in ranks], bootstrap),
        "mean_rank": mean_with_interval([float(rank) for rank in ranks], bootstrap),
        "brier_score": mean_with_interval([p.details["brier"] for p in calibrated], bootstrap),
        "ece": expected_calibration_error([p.details["confidence"] for p in calibrated],
                                          [bool(p.correct) for p in calibrated]),
        "f1_score": None if top1["value"] is None else round(2 * top1["value"] / (1 + top1["value"]), 6),
        "n": len(predictions),
        "unparseable": sum(not p.parsed for p in predictions),
        "ties": sum(bool(p.details.get("tie")) for p in predictions),
    }


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = ECE_BINS) -> float | None:
    """Sum over equal-width bins of (share of items in the bin) x |accuracy - mean confidence|."""
    if not confidences:
        return None
    confidence = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)  # a confidence of 1.0 joins the last bin
    error = 0.0
    for b in np.unique(which):
        members = which == b
        error += members.mean() * abs(right[members].mean() - confidence[members].mean())
    return round(float(error), 6)


PROTOCOL = Protocol(
    benchmark="personaeval",
    metric="top1_accuracy",
    scale=1.0,
    default_configs=("Drama", "Literary", "Script", "Expertise"),
    units=units,
    run=run,
    summarise=summarise,
    prompts=lambda options: (),
    decoding=lambda options: dict(DECODING),
    variant=lambda options: [],
)
