"""Wires the ToMATO steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

generate(ctx) walks an endless, seeded stream of (combo, mental state) jobs. Conversations run
concurrently (builders.pipeline.ordered_map) but come back in job order; each yields one batch of
records (its questions). Answer positions are dealt here, in that order, from one balanced
sequence, so the released file is balanced whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator

from builders.benchmark import Benchmark
from builders.pipeline import Batch, ordered_map
from builders.positions import BalancedPositions
from builders.prompts import template_hash
from builders.tomato import false_belief as false_belief_step
from builders.tomato import llm_check
from builders.tomato.catalog import Combo, iter_combos
from builders.tomato.conversation import Conversation, ConversationFailed, conversation_key, run_conversation
from builders.tomato.export import release_sort_key
from builders.tomato.invariants import checks as record_checks
from builders.tomato.questions import Candidate, Drop, build_candidates
from builders.tomato.records import RunInfo, make_record
from builders.tomato.scenarios import Environment, seed_environment, write_environment
from builders.tomato.seeds import ScenarioSeed, load_seeds
from builders.tomato.vocab import MENTAL_STATES

# the seed namespace of the gold-position shuffles; changing it changes every released position
POSITIONS_NAMESPACE = "tomato-positions"
QUESTIONS_PER_CONVERSATION = 14  # upper bound: one per generated message at 7 exchanges


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
        "false_belief": lambda r: r["order"] == 2 and r["false_belief"],
    },
    splits={"test": 1.0},
    stats_fields=("mental_state", "order", "false_belief", "big_five"),
    answer_field="a_idx",
    sort_key=release_sort_key,
    tags=("theory-of-mind", "role-play", "false-belief", "multiple-choice", "synthetic"),
    checks=record_checks,  # §3.2 invariants, applied by the pipeline after the schema
)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("ToMATO")
    group.add_argument("--exchanges", type=int, default=7, choices=range(4, 8), metavar="{4..7}",
                       help="exchanges per conversation after the greetings (default 7 = the published 14 "
                            "messages and 16-line transcripts; at least 4 so each agent can have 4 distinct "
                            "thoughts, at most 7 because the released u_id stops at 13)")
    group.add_argument("--conversation-attempts", type=int, default=3,
                       help="attempts per conversation (a new sample index each) before it is dropped")
    group.add_argument("--turn-attempts", type=int, default=3,
                       help="tries per message (a new sample index each) before the conversation attempt fails")
    group.add_argument("--scenario-attempts", type=int, default=3,
                       help="LLM attempts per scenario before falling back to the seed's own text")
    group.add_argument("--no-scenario-llm", action="store_true",
                       help="use the scenario seeds' own text instead of LLM-written scenarios")
    group.add_argument("--temperature", type=float, default=0.7, help="role-play sampling temperature")
    group.add_argument("--llm-validate", action="store_true",
                       help="let a model answer every item blind and record (never filter on) the result")
    group.add_argument("--max-conversations", type=int, default=None,
                       help="stop after this many conversations even if --n is not reached "
                            "(default: 10 + 3 * n / 7)")


@dataclass
class Outcome:
    """What one (combo, mental state) job produced, before answer positions are dealt."""

    key: str
    conversation: Conversation | None
    failure: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    false_beliefs: dict[int, tuple[bool, dict]] = field(default_factory=dict)  # u_id -> (label, audit)


def iter_jobs(seed: int) -> Iterator[tuple[Combo, str]]:
    for combo in iter_combos(seed, load_seeds()):
        for state in MENTAL_STATES:
            yield combo, state


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
    """The false-belief judges: ctx.judge (the --judge-model, else the generator); a list means all of them."""
    return list(ctx.judge) if isinstance(ctx.judge, (list, tuple)) else [ctx.judge]


async def generate(ctx) -> AsyncIterator[Batch]:
    """One Batch per conversation, in job order, until the pipeline has its --n records."""
    args = ctx.args
    judges = judges_of(ctx)
    environments = Environments(ctx.llm, use_llm=not args.no_scenario_llm, attempts=args.scenario_attempts)
    run = RunInfo(seed=ctx.seed, scenario_model="" if args.no_scenario_llm else ctx.llm.label,
                  prompt_hashes={name: template_hash(f"tomato/{name}.j2")
                                 for name in ("scenario", "roleplay_system", "false_belief", "answer")})
    positions = BalancedPositions(ctx.seed, namespace=POSITIONS_NAMESPACE)
    limit = args.max_conversations or 10 + math.ceil(3 * args.n / 7)
    jobs = itertools.islice(iter_jobs(ctx.seed), limit)

    async def produce(job: tuple[Combo, str]) -> Outcome:
        return await _run_job(job, ctx.llm, judges, environments, args, ctx.seed)

    conversations = yielded = 0
    per_conversation = QUESTIONS_PER_CONVERSATION * 0.8  # first guess; refined from what comes back
    while ctx.needed() > 0:
        batch = list(itertools.islice(jobs, _batch_size(args.n - yielded, per_conversation, args.concurrency)))
        if not batch:
            ctx.report.notes.append(f"tomato: stopped after {conversations} conversations "
                                    f"(--max-conversations {limit})")
            return
        async for outcome in ordered_map(produce, batch, concurrency=args.concurrency):
            conversations += 1
            result = await _batch(outcome, positions, run, judges, args)
            yielded += len(result.records)
            per_conversation = max(1.0, yielded / conversations)
            yield result


def _batch_size(remaining: int, per_conversation: float, concurrency: int) -> int:
    """Conversations to start next: enough for the records still missing if all pass validation and
    dedup; once that many were yielded, top-up rounds of `concurrency` conversations."""
    if remaining > 0:
        return max(1, math.ceil(remaining / per_conversation))
    return concurrency


async def _run_job(job, llm, judges, environments: Environments, args, seed: int) -> Outcome:
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
    candidates, drops = build_candidates(conversation, seed)
    second_order = [c.u_id for c in candidates if c.order == 2]
    verdicts = await asyncio.gather(*(false_belief_step.judge_false_belief(judges, conversation, u_id)
                                      for u_id in second_order))
    return Outcome(key, conversation, None, candidates, drops, dict(zip(second_order, verdicts)))


async def _batch(outcome: Outcome, positions: BalancedPositions, run: RunInfo, judges: list, args) -> Batch:
    """The records of one conversation (answer positions dealt in order) with its funnel counts."""
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
    rejects = [{"stage": "questions", "reason": drop.reason,
                "record": {"conversation_key": outcome.key, "u_id": drop.u_id}} for drop in outcome.drops]
    records = []
    for candidate in outcome.candidates:
        label, audit = outcome.false_beliefs.get(candidate.u_id, (False, None))
        records.append(make_record(candidate, positions.next(), run, false_belief=label, false_belief_check=audit))
    counts["questions built"] = len(records)
    counts["false-belief questions"] = sum(r["false_belief"] for r in records)
    if args.llm_validate and records:
        results = await asyncio.gather(*(llm_check.answer_blind(judges[0], r) for r in records))
        for record, result in zip(records, results):
            record["provenance"]["llm_validation"] = result
        counts["llm-validation flagged"] = sum(r["flagged"] for r in results)
    return Batch(records, counts, rejects)
