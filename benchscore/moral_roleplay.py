"""Moral RolePlay (moral_roleplay.md §9): character fidelity across moral levels.

Each scene of the scored portrayals is acted once (benchscore.moral_simulation) and judged once
(benchscore.moral_judge); each scored portrayal (a `test` row: one character of one scene, with
its moral level) gets S = clamp(5 - 0.5·ΣD - 0.1·max(D) + 0.15·T) from the judge's flaw
severities D for that character and its number of utterances T.

Fixed relative to the original (§10):
- a character who never speaks in the simulation is not scored (the original gave it 5, which
  inflated levels whose characters stay silent, item 7); it is counted per level as `silent`;
- a scene whose judge reply is unusable is not scored and counted (`unjudged`), never a crash;
- the model adapters work (item 1), the scored formula is the computed one (item 6), and
  n per level is always reported.

Reported: mean S per level with its interval, n, min and max; VRP = the level-4 mean (the paper's
headline); whether the means decline monotonically from level 1 to 4 (the paper's curve); the
CoSER dimension score per scene. The headline of the results table is the mean S over every
scored character.
"""

from __future__ import annotations

from benchscore.moral_judge import JUDGE, Verdict, coser_score, fidelity, judge_scene
from benchscore.moral_judge import TEMPLATES as JUDGE_TEMPLATES
from benchscore.moral_scene import scene_of
from benchscore.moral_simulation import (
    ACTOR,
    MAX_ROUNDS,
    NSP,
    TEMPLATES,
    WORLD,
    Simulation,
    simulate,
)
from benchscore.protocol import Context, Options, Prediction, Protocol, Unit
from benchscore.stats import mean_with_interval

LEVELS = (1, 2, 3, 4)


def units(rows_by_config: dict[str, list[dict]], options: Options) -> list[Unit]:
    """One unit per scene, holding the scene's scored rows (its portrayals in the config)."""
    scenes: dict[tuple[str, str], list[dict]] = {}
    for config, rows in rows_by_config.items():
        for row in rows:
            scenes.setdefault((config, row["case_key"]), []).append(row)
    return [Unit(case_key, config, rows) for (config, case_key), rows in scenes.items()]


async def run(unit: Unit, ctx: Context) -> list[Prediction]:
    scene = scene_of(unit.data[0])
    simulation = await simulate(scene, ctx.llm, ctx.judge, max_rounds=ctx.options.max_rounds, seed=ctx.options.seed)
    verdict = await judge_scene(scene, simulation, ctx.judge)
    actor_turns = sum(turn.speaker in scene.actors for turn in simulation.turns)
    scene_details = {"scene": unit.id, "coser_score": coser_score(verdict, actor_turns),
                     "failed_replies": simulation.failed_replies, "next_speaker_fallbacks": simulation.fallbacks,
                     "simulation": [{"speaker": t.speaker, "text": t.text} for t in simulation.turns]}
    return [_portrayal(unit, row, simulation, verdict, scene_details) for row in unit.data]


def _portrayal(unit: Unit, row: dict, simulation: Simulation, verdict: Verdict, scene_details: dict) -> Prediction:
    name, level = row["name"], row["level"]
    utterances = simulation.utterances(name)
    severities = verdict.severities(name) if verdict.flaws is not None else []
    judged, silent = verdict.flaws is not None, utterances == 0
    score = fidelity(severities, utterances) if judged and not silent else None
    details = {**scene_details, "utterances": utterances, "severities": severities, "silent": silent}
    if verdict.error:
        details["error"] = verdict.error
    return Prediction(id=row["portrayal_id"], config=unit.config, gold=str(level),
                      prediction=None if score is None else f"{score:.2f}", raw_reply=verdict.raw, parsed=judged,
                      correct=None, value=score, request_hash=verdict.request_hash,
                      groups={"level": level, "name": name},
                      details=details if judged else {**details, "rule": "request failed"})


def summarise(predictions: list[Prediction], options: Options) -> dict:
    levels = {str(level): _level_block([p for p in predictions if p.groups["level"] == level], options)
              for level in LEVELS if any(p.groups["level"] == level for p in predictions)}
    means = [levels[str(level)]["value"] for level in LEVELS if str(level) in levels]
    return {"headline": _headline(predictions, options),
            "breakdowns": {"level": levels, "vrp": levels.get("4"),
                           "monotonic_decline": _non_increasing(means) if len(means) > 1 else None,
                           "coser_score": _mean_scene_score(predictions)}}


def _headline(predictions: list[Prediction], options: Options) -> dict:
    unjudged = sum(not p.parsed for p in predictions)
    return {"metric": "fidelity",
            **mean_with_interval([p.value for p in predictions if p.value is not None], options.bootstrap),
            "replies": len(predictions), "unparseable": unjudged, "failed_requests": unjudged,
            "silent": _silent(predictions)}


def _mean_scene_score(predictions: list[Prediction]) -> float | None:
    """CoSER's dimension score, averaged over the judged scenes (each scene once)."""
    by_scene = {p.details["scene"]: p.details["coser_score"] for p in predictions
                if p.details.get("coser_score") is not None}
    return round(sum(by_scene.values()) / len(by_scene), 6) if by_scene else None


def _level_block(predictions: list[Prediction], options: Options) -> dict:
    values = [p.value for p in predictions if p.value is not None]
    return {**mean_with_interval(values, options.bootstrap),
            "min": min(values, default=None), "max": max(values, default=None),
            "portrayals": len(predictions), "silent": _silent(predictions),
            "unjudged": sum(not p.parsed for p in predictions)}


def _silent(predictions: list[Prediction]) -> int:
    """Judged portrayals whose character never spoke (an unjudged scene counts as unjudged only)."""
    return sum(bool(p.details.get("silent")) and p.parsed for p in predictions)


def _non_increasing(means: list[float | None]) -> bool:
    known = [m for m in means if m is not None]
    return all(a >= b for a, b in zip(known, known[1:]))


def decoding(options: Options) -> dict:
    return {"actor": dict(ACTOR), "environment": dict(WORLD), "next_speaker": dict(NSP),
            "judge": dict(JUDGE), "max_rounds": options.max_rounds, "thoughts": "off"}


PROTOCOL = Protocol(
    benchmark="moral_roleplay",
    metric="fidelity",
    scale=5.0,
    default_configs=("test",),
    units=units,
    run=run,
    summarise=summarise,
    prompts=lambda options: (*TEMPLATES, *JUDGE_TEMPLATES),
    decoding=decoding,
    variant=lambda options: [] if options.max_rounds == MAX_ROUNDS else [f"rounds{options.max_rounds}"],
    judged=True,
)
