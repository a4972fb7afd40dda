"""Wires the ToMATO steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

generate(ctx) walks an endless, seeded stream of (combo, mental state) jobs dealt round-robin over
combos (schedule.py), in rounds sized by how many records are still missing at the yield seen so
far (the first round is a few conversations, to measure it). The conversations of a round run
concurrently and all run to the end; the round is then yielded as one batch, its conversations'
records in job order. So the requests a build makes depend only on its configuration, not on when
the pipeline stopped reading (a resumed or repeated build asks exactly what the first one asked and
finds it all in the response cache), and every conversation a build paid for reaches its report:
when --n is reached inside a round, the pipeline reports the records beyond it as "cut at --n".

From each conversation a build keeps at most `schedule.question_cap(n)` questions (the others are
rejects saying so), so a small build spans many combos. Items the judges reject (item_judges.py)
are removed; false beliefs are labelled only by a fit judge, else released as not judged
(false_belief.py). Gold positions are dealt after the build, over the whole release, from the
owner's private salt (answer_key.py); the shortcut audit reads the same records (builders/audit.py).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass, field
from typing import AsyncIterator

from builders.benchmark import Benchmark
from builders.cli import positive_int, temperature
from builders.llm.profiles import judges_wanted
from builders.pipeline import Batch
from builders.prompts import template_hash
from builders.tomato import false_belief as false_belief_step
from builders.tomato import item_judges, llm_check, schedule
from builders.tomato.answer_key import ANSWER_KEY, mc_items
from builders.tomato.catalog import Combo
from builders.tomato.conversation import Conversation, ConversationFailed, conversation_key, run_conversation
from builders.tomato.export import release_sort_key
from builders.tomato.figures import figures
from builders.tomato.invariants import checks as record_checks
from builders.tomato.questions import Candidate, Drop, build_candidates
from builders.tomato.records import RunInfo, make_record
from builders.tomato.scenarios import Environment, seed_environment, write_environment
from builders.tomato.seeds import ScenarioSeed

EXPECTED_VALID_SHARE = 0.8  # first guess of the candidates that pass form checks, validation and dedup
EXPECTED_JUDGE_RETENTION = 0.5  # first guess of what the item judges keep (spec §8 target: 45-60%)


def conversation_group(record: dict) -> str:
    """Split group: environment + both agents + mental state, i.e. one conversation."""
    return conversation_key(record["sotopia_environment"], *record["sotopia_agents"], record["mental_state"])


def dedup_text(record: dict) -> str:
    """Question + gold answer.

    All 14 questions of a conversation share its transcript, so the transcript cannot be the dedup
    text. The question alone is mostly template words around a short quoted utterance, so two
    different moments ("Sure!" in two conversations) would look alike. Question + gold answer is
    what makes an item an item: the same moment asked with the same answer is a true duplicate.
    """
    return f"{record['q']}\n{record['a_str']}"


BENCHMARK = Benchmark(
    name="tomato",
    pretty_name="ToMATO (regenerated)",
    id_field="q_id",
    group=conversation_group,
    dedup_text=dedup_text,
    configs={
        "all": lambda r: True,
        "first_order": lambda r: r["order"] == 1,
        "second_order": lambda r: r["order"] == 2,
        # empty, hence not released, when no fit judge decided false beliefs (false_belief.py)
        "false_belief": lambda r: r["order"] == 2 and r["false_belief"] is True,
    },
    splits={"test": 1.0},
    stats_fields=("mental_state", "order", "false_belief", "big_five"),
    answer_field="a_idx",
    sort_key=release_sort_key,
    tags=("theory-of-mind", "role-play", "false-belief", "multiple-choice", "synthetic"),
    checks=record_checks,  # §3.2 invariants, applied by the pipeline after the schema
    figures=figures,  # the original's statistics (spec §8) next to this release's
    answer_key=ANSWER_KEY,  # gold positions dealt from the owner's private salt (answer_key.py)
    mc_items=mc_items,  # the shortcut audit's view of a record
)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("ToMATO")
    group.add_argument("--exchanges", type=int, default=7, choices=range(4, 8), metavar="{4..7}",
                       help="exchanges per conversation after the greetings (default 7 = the published 14 "
                            "messages and 16-line transcripts; at least 4 so each agent can have 4 distinct "
                            "thoughts, at most 7 because the released u_id stops at 13)")
    group.add_argument("--conversation-attempts", type=positive_int, default=3,
                       help="attempts per conversation (a new sample index each) before it is dropped")
    group.add_argument("--turn-attempts", type=positive_int, default=3,
                       help="tries per message (a new sample index each) before the conversation attempt fails")
    group.add_argument("--scenario-attempts", type=positive_int, default=3,
                       help="LLM attempts per scenario before falling back to the seed's own text")
    group.add_argument("--no-scenario-llm", action="store_true",
                       help="use the scenario seeds' own text instead of LLM-written scenarios")
    group.add_argument("--temperature", type=temperature, default=0.7, help="role-play sampling temperature")
    group.add_argument("--item-judges", choices=("auto", "on", "off"), default="auto",
                       help="consistency and uniqueness judges (spec §5 Step 5) that drop weak items. auto "
                            "(default): on, unless every judge model is one measured unable to judge "
                            "(the embedded local:smollm2); the build report says when they were skipped")
    group.add_argument("--llm-validate", action="store_true",
                       help="let a model answer every item blind and record (never filter on) the result")
    group.add_argument("--max-conversations", type=positive_int, default=None,
                       help="stop after this many conversations even if --n is not reached "
                            "(default: 10 + 3 * n / 7)")


@dataclass
class Outcome:
    """What one (combo, mental state) job produced, before answer positions are dealt."""

    key: str
    conversation: Conversation | None
    failure: str | None = None
    candidates: list[Candidate] = field(default_factory=list)  # within the cap, in u_id order
    drops: list[Drop] = field(default_factory=list)
    over_cap: list[Candidate] = field(default_factory=list)  # built, but beyond the conversation's cap
    false_beliefs: dict[int, tuple[bool | None, dict]] = field(default_factory=dict)  # u_id -> (label, audit)
    item_audits: dict[int, dict] = field(default_factory=dict)  # u_id -> item judges' audit (empty: not judged)


class Environments:
    """One environment per scenario seed, written once and shared by every conversation that uses it."""

    def __init__(self, llm, *, use_llm: bool, attempts: int):
        self._llm, self._use_llm, self._attempts = llm, use_llm, attempts
        self._tasks: dict[str, asyncio.Task] = {}

    async def get(self, seed: ScenarioSeed) -> Environment:
        if not self._use_llm:
            return seed_environment(seed)
        if seed.id not in self._tasks:
            self._tasks[seed.id] = asyncio.ensure_future(
                write_environment(self._llm, seed, max_attempts=self._attempts))
        return await self._tasks[seed.id]


def judges_of(ctx) -> list:
    """The false-belief and item judges: ctx.judge (the --judge-model, else the generator); a list
    means all of them."""
    return list(ctx.judge) if isinstance(ctx.judge, (list, tuple)) else [ctx.judge]


async def generate(ctx) -> AsyncIterator[Batch]:
    """One Batch per round of conversations, in job order, until the pipeline has its --n records."""
    args = ctx.args
    judges = judges_of(ctx)
    environments = Environments(ctx.llm, use_llm=not args.no_scenario_llm, attempts=args.scenario_attempts)
    run = RunInfo(seed=ctx.seed, scenario_model="" if args.no_scenario_llm else ctx.llm.label,
                  prompt_hashes={name: template_hash(f"tomato/{name}.j2")
                                 for name in ("scenario", "roleplay_system", "false_belief", "answer",
                                              *item_judges.CHECKS)})
    args.use_item_judges = judges_wanted(args.item_judges, judges, ctx.report.notes, what="tomato: item judges",
                                         flag="--item-judges")
    _note_false_beliefs_not_judged(judges, ctx.report.notes)
    cap = schedule.question_cap(args.n)
    ctx.report.notes.append(f"tomato: a build of --n {args.n} keeps at most {cap} questions of one conversation, "
                            "so that it spans more combos; the others are rejects 'over the per-conversation cap'")
    limit = args.max_conversations or 10 + math.ceil(3 * args.n / 7)
    jobs = itertools.islice(schedule.iter_jobs(ctx.seed), limit)

    async def produce(job: tuple[Combo, str]) -> Outcome:
        return await _run_job(job, ctx.llm, judges, environments, args, ctx.seed, cap)

    conversations = yielded = 0
    per_conversation = _first_guess(cap, args.use_item_judges)  # refined from what comes back
    while ctx.needed() > 0:
        missing = schedule.still_missing(args.n, yielded, ctx.needed())
        size = schedule.round_size(missing, per_conversation, first=conversations == 0)
        round_jobs = list(itertools.islice(jobs, size))
        if not round_jobs:
            ctx.report.notes.append(f"tomato: stopped after {conversations} conversations "
                                    f"(--max-conversations {limit})")
            return
        outcomes = await _run_round(produce, round_jobs)
        batches = [await _batch(outcome, run, judges, args, cap) for outcome in outcomes]
        conversations += len(batches)
        yielded += sum(len(batch.records) for batch in batches)
        per_conversation = max(1.0, yielded / conversations)
        yield _merged(batches)


def _first_guess(cap: int, use_item_judges: bool) -> float:
    """Records one conversation is expected to give before any came back."""
    guess = min(cap, schedule.QUESTIONS_PER_CONVERSATION) * EXPECTED_VALID_SHARE
    return guess * EXPECTED_JUDGE_RETENTION if use_item_judges else guess


def _note_false_beliefs_not_judged(judges: list, notes: list[str]) -> None:
    reason = false_belief_step.unfit_judges(judges)
    if reason is not None:
        notes.append(f"tomato: false beliefs not judged ({reason}): order-2 questions are released with "
                     "false_belief null, and there is no false_belief config. Pass a --judge-model fit to judge "
                     "(or a --judge-profile file saying judge: true) to label them.")


async def _run_round(produce, jobs: list) -> list[Outcome]:
    """Every job of a round, concurrently and to the end, in job order; if one raises (a spent
    budget), the others are cancelled (their paid replies are already cached)."""
    tasks = [asyncio.ensure_future(produce(job)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # a no-op for the finished ones
        await asyncio.gather(*tasks, return_exceptions=True)


def _merged(batches: list[Batch]) -> Batch:
    """A round's batches as one: records and rejects in job order, counts summed."""
    counts: dict[str, int] = {}
    for batch in batches:
        for stage, k in batch.counts.items():
            counts[stage] = counts.get(stage, 0) + k
    return Batch([r for b in batches for r in b.records], counts, [r for b in batches for r in b.rejects])


async def _run_job(job, llm, judges, environments: Environments, args, seed: int, cap: int) -> Outcome:
    combo, state = job
    environment = await environments.get(combo.scenario_seed)
    key = conversation_key(environment.id, combo.agent_a.id, combo.agent_b.id, state)
    try:
        conversation = await run_conversation(llm, combo, environment, state, exchanges=args.exchanges,
                                              max_attempts=args.conversation_attempts,
                                              turn_attempts=args.turn_attempts,
                                              temperature=args.temperature)
    except ConversationFailed as error:
        return Outcome(key, None, failure=str(error))
    built, drops = build_candidates(conversation, seed)
    candidates, over_cap = schedule.within_cap(built, cap, seed=seed, key=key)  # only these are judged
    judged = await asyncio.gather(*(_judge_candidate(judges, candidate, use_item_judges=args.use_item_judges)
                                    for candidate in candidates))
    item_audits = {c.u_id: audit for c, (audit, _) in zip(candidates, judged) if audit is not None}
    false_beliefs = {c.u_id: verdict for c, (_, verdict) in zip(candidates, judged) if verdict is not None}
    return Outcome(key, conversation, None, candidates, drops, over_cap, false_beliefs, item_audits)


async def _judge_candidate(judges, candidate: Candidate, *, use_item_judges: bool):
    """(item judges' audit or None, false-belief (label, audit) or None) of one candidate.

    Candidates are judged concurrently; within one, the false-belief judges (order 2 only) are
    asked only if the item judges kept it, so a rejected item costs no false-belief requests."""
    audit = await item_judges.judge_item(judges, candidate) if use_item_judges else None
    if candidate.order == 1 or (audit is not None and not audit["accepted"]):
        return audit, None
    return audit, await false_belief_step.judge_false_belief(judges, candidate.conversation, candidate.u_id)


async def _batch(outcome: Outcome, run: RunInfo, judges: list, args, cap: int) -> Batch:
    """The records of one conversation with its funnel counts and rejects."""
    counts = {"conversations": 1}
    if outcome.conversation is None:
        counts["conversations failed"] = 1
        return Batch([], counts, [{"stage": "conversation", "reason": outcome.failure,
                                   "record": {"conversation_key": outcome.key}}])
    conversation = outcome.conversation
    counts["conversation re-generations"] = conversation.sample
    if conversation.environment.source == "seed" and not args.no_scenario_llm:
        counts["scenario fallbacks"] = 1
    counts["messages"] = len(conversation.turns)
    counts["message re-asks"] = sum(t.retries for t in conversation.turns)
    # natural contract: messages whose text was fitted into the published form (line_format.py)
    counts["messages normalised"] = sum(1 for t in conversation.turns if t.normalisations)
    counts["questions over the per-conversation cap"] = len(outcome.over_cap)
    rejects = _unasked(outcome, f"over the per-conversation cap: a build of --n {args.n} keeps at most {cap} "
                                "questions of one conversation")
    records = []
    for candidate in _judged_items(outcome, counts, rejects):
        label, audit = outcome.false_beliefs.get(candidate.u_id, (False, None))
        records.append(make_record(candidate, run, false_belief=label, false_belief_check=audit,
                                   item_judges=outcome.item_audits.get(candidate.u_id)))
    counts["questions built"] = len(records)
    counts["false-belief questions"] = sum(r["false_belief"] is True for r in records)
    counts["order-2 questions not judged for false belief"] = sum(r["false_belief"] is None for r in records)
    if args.llm_validate and records:
        results = await asyncio.gather(*(llm_check.answer_blind(judges[0], r) for r in records))
        for record, result in zip(records, results):
            record["provenance"]["llm_validation"] = result
        counts["llm-validation flagged"] = sum(r["flagged"] for r in results)
    return Batch(records, counts, rejects)


def _unasked(outcome: Outcome, over_cap_reason: str) -> list[dict]:
    """Rejects for the candidates a conversation gave no question for: form checks, then the cap."""
    drops = [(drop.u_id, drop.reason) for drop in outcome.drops]
    drops += [(candidate.u_id, over_cap_reason) for candidate in outcome.over_cap]
    return [{"stage": "questions", "reason": reason, "record": {"conversation_key": outcome.key, "u_id": u_id}}
            for u_id, reason in drops]


def _judged_items(outcome: Outcome, counts: dict, rejects: list) -> list[Candidate]:
    """The candidates the item judges kept (all of them when none were asked); the others become
    rejects, counted per failed check."""
    if not outcome.item_audits:
        return list(outcome.candidates)
    counts["items judged"] = len(outcome.candidates)
    for check in item_judges.CHECKS:  # present even when zero, so the funnel always lists them in order
        counts[f"items rejected: {check}"] = 0
    kept = []
    for candidate in outcome.candidates:
        audit = outcome.item_audits[candidate.u_id]
        if audit["accepted"]:
            kept.append(candidate)
            continue
        for check in item_judges.failed_checks(audit):
            counts[f"items rejected: {check}"] += 1
        # stage "questions", like the form checks: both drop question candidates (spec §6 "item")
        rejects.append({"stage": "questions", "reason": item_judges.rejection_reason(audit),
                        "record": {"conversation_key": outcome.key, "u_id": candidate.u_id}})
    return kept
