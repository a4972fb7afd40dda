"""Calibration across versions: is a new release as hard as the one before it?

A rebuild regenerates the items, so a model's score can move because the model changed or
because the benchmark did. Scoring the same reference model(s) on the new version and on the
previous one separates the two: the difference of the reference's scores is the benchmark's
drift. The two versions hold different items, so its interval comes from an unpaired bootstrap
(each version's items resampled on their own). A difference beyond the tolerance, in points
(percent of the metric's full scale: accuracy points, or 1/20 of the 0-5 fidelity scale), is
flagged.

Both runs are ordinary scoring runs: their results are written into each release folder, and
the comparison goes into the new release's results index and card.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from benchscore.cli import build_parser
from benchscore.display import score_text
from benchscore.protocol import Prediction, ScoringError
from benchscore.scoring import Outcome, models, plan, score
from benchscore.stats import Bootstrap, difference_with_interval
from builders.llm import BudgetExceeded
from builders.llm.errors import LLMError
from release.manifest import read_manifest
from release.results import record_calibration

DEFAULT_TOLERANCE = 2.0  # points


def calibrate(new_dir: Path, previous_dir: Path, reference_models: list[str], *, benchmark: str,
              tolerance: float = DEFAULT_TOLERANCE, scoring_flags: list[str] = (),
              report: Callable[[str], None] = print) -> dict:
    """Score each reference model on both versions, record the comparison in the new release."""
    references = []
    for model in reference_models:
        new = score_release(new_dir, model, benchmark, scoring_flags)
        old = score_release(previous_dir, model, benchmark, scoring_flags)
        reference = compare(new, old, tolerance)
        report(describe(reference, old.release.version, new.release.version, tolerance))
        references.append(reference)
    calibration = {"previous_version": read_manifest(previous_dir)["version"], "tolerance_points": tolerance,
                   "references": references}
    record_calibration(new_dir, calibration)
    return calibration


def score_release(release_dir: Path, model: str, benchmark: str, flags: list[str]) -> Outcome:
    """One ordinary scoring run (results written into the release); any failure is a RuntimeError
    naming the model and the release, so the rebuild reports it on one line."""
    args = build_parser().parse_args([str(release_dir), "--model", model, "--benchmark", benchmark, "--quiet",
                                      *flags])
    try:
        llm, judge, cache = models(args)
    except LLMError as error:
        raise RuntimeError(f"calibration: cannot score with {model}: {error}") from None
    try:
        return asyncio.run(score(plan(args), llm, judge, write=True))
    except (ScoringError, LLMError) as error:
        raise RuntimeError(f"calibration: cannot score {release_dir} with {model}: {error}") from None
    except BudgetExceeded as error:
        raise RuntimeError(f"calibration stopped scoring {release_dir} with {model}: {error}") from None
    finally:
        cache.close()


def compare(new: Outcome, old: Outcome, tolerance: float) -> dict:
    scale = new.document["protocol"]["scale"]
    bootstrap = Bootstrap(**{k: new.document["bootstrap"][k] for k in ("seed", "resamples")})
    difference = difference_with_interval(unit_values(new.predictions), unit_values(old.predictions), bootstrap)
    points = None if difference["value"] is None else round(100 * difference["value"] / scale, 6)
    interval_points = None if difference["interval"] is None else [round(100 * v / scale, 6)
                                                                   for v in difference["interval"]]
    return {"model": new.document["model"], "metric": new.document["protocol"]["metric"], "scale": scale,
            "run": new.run, "previous": _brief(old), "current": _brief(new), "difference": difference,
            "difference_points": points, "difference_interval_points": interval_points,
            "flagged": points is not None and abs(points) > tolerance}


def unit_values(predictions: list[Prediction]) -> list[float]:
    """One value per scored unit, the same the headline averages: an item's mean over its samples;
    units never scored (a silent or unjudged character) are left out."""
    values: dict[str, list[float]] = {}
    for prediction in predictions:
        if prediction.value is not None:
            values.setdefault(prediction.id, []).append(prediction.value)
    return [sum(v) / len(v) for v in values.values()]


def describe(reference: dict, old_version: str, new_version: str, tolerance: float) -> str:
    scale = reference["scale"]
    line = (f"calibration {reference['model']} ({reference['metric']}): v{old_version} "
            f"{score_text(reference['previous']['value'], scale)} -> v{new_version} "
            f"{score_text(reference['current']['value'], scale)}")
    if reference["difference_points"] is None:
        return line + ": no difference (nothing scored on one side)"
    low, high = reference["difference_interval_points"]
    line += f", {reference['difference_points']:+.1f} points (95% CI {low:+.1f} to {high:+.1f})"
    noise = " (its interval includes 0: more items would tell drift from chance)" if low <= 0 <= high else ""
    if reference["flagged"]:
        return line + f": FLAGGED, beyond the {tolerance:g}-point tolerance{noise}"
    return line + f": within the {tolerance:g}-point tolerance"


def _brief(outcome: Outcome) -> dict:
    headline = outcome.document["headline"]
    return {"version": outcome.release.version, "value": headline["value"], "interval": headline["interval"],
            "n": headline["n"], "unparseable": headline["unparseable"]}
