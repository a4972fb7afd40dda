"""One scoring run from start to end: release -> protocol -> units -> model -> scores -> results files.

Everything that can be wrong with the input (the release, its benchmark, a config or split, a
model string, a profile, an option that does not apply) is checked before the first request.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchscore import registry
from benchscore.moral_simulation import MAX_ROUNDS
from benchscore.protocol import Context, Options, Prediction, Protocol, ScoringError
from benchscore.results import (
    PREDICTIONS_NAME,
    SCORES_NAME,
    index_entry,
    model_identity,
    predictions_bytes,
    run_name,
    scores_bytes,
    scores_document,
)
from benchscore.runner import run_units
from benchscore.source import Release, open_release
from benchscore.stats import Bootstrap
from builders.llm import LLM, Accounting, ResponseCache, opened
from release.results import record_run

CACHE_FILE = "responses.sqlite"  # the builders' response cache file, so scoring shares its cache


@dataclass
class Outcome:
    release: Release
    protocol: Protocol
    run: str
    document: dict
    predictions: list[Prediction]
    written: bool


@dataclass
class Plan:
    """What a run will score, settled before any model is started."""

    release: Release
    protocol: Protocol
    options: Options
    units: list


def plan(args: argparse.Namespace) -> Plan:
    release = open_release(args.release, revision=args.revision, download_dir=args.download_dir)
    protocol = registry.protocol_for(release.manifest, args.benchmark)
    _check_options_apply(protocol, args)
    configs = registry.chosen_configs(protocol, release.manifest["counts"], args.config, args.split)
    options = Options(configs=configs, split=args.split, limit=args.limit, seed=args.seed, samples=args.samples,
                      triples=args.triples, max_rounds=args.max_rounds or MAX_ROUNDS,
                      bootstrap=Bootstrap(seed=args.seed, resamples=args.resamples))
    rows = {config: release.rows(config, args.split) for config in configs}
    units = registry.limited(protocol.units(rows, options), args.limit, args.seed)
    if not units:
        raise ScoringError(f"{'/'.join(configs)} ({args.split}) holds nothing to score")
    return Plan(release, protocol, options, units)


def _check_options_apply(protocol: Protocol, args: argparse.Namespace) -> None:
    """A benchmark-specific option given for another benchmark is a mistake worth stopping for."""
    for flag, value, owner in (("--samples", args.samples, "tomato"), ("--triples", args.triples, "litchartom"),
                               ("--max-rounds", args.max_rounds, "moral_roleplay"),
                               ("--judge-model", args.judge_model, "moral_roleplay")):
        if value and protocol.benchmark != owner:
            raise ScoringError(f"{flag} applies to {owner} only; this release is {protocol.benchmark}: drop {flag}")


def models(args: argparse.Namespace) -> tuple[LLM, LLM, ResponseCache]:
    """The model under test and the judge (the same client when no other judge is named), sharing
    one response cache and one --max-cost budget; model strings, profiles and keys fail here."""
    cache_dir = Path(args.cache_dir)
    cache = ResponseCache(cache_dir / CACHE_FILE)
    shared = dict(cache=cache, accounting=Accounting(max_cost=args.max_cost), concurrency=args.concurrency,
                  rpm=args.rpm, tpm=args.tpm, seed=args.seed, cache_dir=cache_dir, timeout=args.timeout)
    try:
        llm = LLM(args.model, profile=args.model_profile, **shared)
        same = (not args.judge_model or args.judge_model == args.model) and args.judge_profile is None
        judge = llm if same else LLM(args.judge_model or args.model, profile=args.judge_profile, **shared)
    except BaseException:
        cache.close()
        raise
    return llm, judge, cache


async def score(the_plan: Plan, llm: LLM, judge: LLM, *, write: bool,
                on_progress: Callable[[int], None] = lambda done: None) -> Outcome:
    """Run every unit, summarise, and (unless write is False) store the results in the release."""
    release, protocol, options = the_plan.release, the_plan.protocol, the_plan.options
    ctx = Context(llm=llm, judge=judge, options=options)
    async with opened(llm, judge):
        predictions = await run_units(protocol, the_plan.units, ctx, concurrency=llm.concurrency,
                                      on_progress=on_progress)
    summary = protocol.summarise(predictions, options)
    model, judge_model = model_identity(llm), model_identity(judge)
    document = scores_document(protocol, options, summary, manifest=release.manifest, model=model,
                               model_profile=llm.profile.name, judge=judge_model, judge_profile=judge.profile.name,
                               warnings=warnings_for(summary["headline"], protocol, judge))
    run = run_name(protocol, options, model=model, judge=judge_model, counts=release.manifest["counts"])
    if write:
        record_run(release.path, run, index_entry(document, run, protocol.variant(options)),
                   {SCORES_NAME: scores_bytes(document), PREDICTIONS_NAME: predictions_bytes(predictions)})
    return Outcome(release, protocol, run, document, predictions, write)


def warnings_for(headline: dict, protocol: Protocol, judge: LLM) -> list[str]:
    """What a reader of the scores must know: unreadable replies, a judge unfit to judge."""
    found = []
    replies, unparseable = headline.get("replies", 0), headline.get("unparseable", 0)
    if replies and unparseable == replies:
        found.append(f"none of the {replies} replies could be read (the model did not follow the answer format, "
                     "or every request failed), so nothing counts as right; look at raw_reply in predictions.parquet")
    elif unparseable:
        found.append(f"{unparseable} of {replies} replies could not be read; they count as wrong")
    if protocol.judged and not judge.profile.judge:
        found.append(f"the judge {model_identity(judge)} is not fit to judge by its profile ({judge.profile.name}: "
                     f"{judge.profile.judge_note}); pass a stronger --judge-model for scores worth comparing")
    return found
