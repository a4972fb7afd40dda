"""The one command line every builder shares, and the driver that runs a build end to end.

    python -m builders.<benchmark> --n 200 [--model ...] [--judge-model ...] [--seed ...] [--out ...]

Re-running the same command after an interruption resumes it: every reply already paid for
comes back from the response cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import AsyncIterator, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__
from .answer_key import SaltError, deal, fingerprint, load_salt
from .audit import audit
from .benchmark import Benchmark
from .llm import LLM, Accounting, BudgetExceeded, ResponseCache, opened
from .llm.errors import LLMError
from .llm.ledger import Ledger
from .llm.profiles import check_fits_prompts, known_profile_names
from .pipeline import BuildContext, BuildReport, Stopwatch, collect, split_by_config
from .resources import PROMPTS, load_schema, prompt_hashes
from .validate import RecordValidator, validate_records

DEFAULT_MODEL = "local:smollm2"
CACHE_FILE = "responses.sqlite"

# Exit codes a scheduler can act on.
EXIT_OK, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_BUDGET = 0, 2, 1, 3


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "roleplay-tom-toolkit"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def split_ratios(text: str) -> dict[str, float]:
    """"test" or "train=0.8,validation=0.1,test=0.1"."""
    ratios = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        try:
            ratios[name] = float(value) if value else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad split ratio {part!r}; write e.g. train=0.8,test=0.2") from None
    if abs(sum(ratios.values()) - 1.0) > 1e-6 or any(v < 0 for v in ratios.values()):
        raise argparse.ArgumentTypeError(f"split ratios must be non-negative and sum to 1, got {text!r}")
    return ratios


def build_parser(benchmark: Benchmark, add_arguments: Callable | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m builders.{benchmark.name}",
                                     description=f"Build a {benchmark.pretty_name} release.")
    parser.add_argument("--n", type=positive_int, default=100, help="records to release (default 100)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="provider:model, e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, "
                             "openai-compatible:http://127.0.0.1:8000/v1#name, local:smollm2 (default)")
    parser.add_argument("--judge-model", default=None, help="model for judging steps (default: --model)")
    parser.add_argument("--model-profile", default=None, metavar="NAME|FILE.yaml",
                        help="what the model can do (context, grammar, text contract, fitness to judge, limits): a "
                             f"known profile ({', '.join(known_profile_names())}) or a YAML file overriding "
                             "fields; default: the profile matching --model")
    parser.add_argument("--judge-profile", default=None, metavar="NAME|FILE.yaml",
                        help="the judge model's profile (default: the one matching --judge-model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("releases"),
                        help="releases root; the release goes to <out>/<benchmark>/vX.Y.Z (default ./releases)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"response cache and model files (default {default_cache_dir()})")
    parser.add_argument("--max-cost", type=positive_float, default=None, help="stop cleanly after this many USD")
    parser.add_argument("--concurrency", type=positive_int, default=None,
                        help="requests in flight per model (default: the model profile's)")
    parser.add_argument("--rpm", type=positive_float, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=positive_float, default=None, help="tokens per minute limit")
    parser.add_argument("--timeout", type=positive_float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--splits", type=split_ratios, default=dict(benchmark.splits),
                        help="e.g. test, or train=0.8,validation=0.1,test=0.1 (grouped, seeded)")
    parser.add_argument("--release-version", dest="release_version", default=None, help="release version (default: bump)")
    parser.add_argument("--bump", choices=("patch", "minor", "major"), default="patch")
    parser.add_argument("--repo-id", default=None, help="Hub repo (org/name) the card's load_dataset snippet names")
    parser.add_argument("--answer-key-salt-file", type=Path, default=None, metavar="FILE",
                        help="the private salt gold positions are dealt from (default: answer-key.salt in the "
                             "cache dir, created on first use); keep it private and back it up")
    parser.add_argument("--quiet", action="store_true", help="no live progress")
    if add_arguments:
        add_arguments(parser)
    return parser


def run_builder(benchmark: Benchmark, generate: Callable[[BuildContext], AsyncIterator],
                argv: list[str] | None = None, add_arguments: Callable | None = None) -> int:
    args = build_parser(benchmark, add_arguments).parse_args(argv)
    console = Console(stderr=True, quiet=args.quiet)
    try:
        return asyncio.run(_build(benchmark, generate, args, console))
    except (UserError, LLMError) as error:  # LLMError here: ConfigError (bad model string, missing key), CacheError
        _tell(f"[red]error:[/red] {error}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _tell("interrupted: run the same command again to resume from the response cache")
        return 130


def _tell(message: str) -> None:
    """Errors and stops are printed even with --quiet, unwrapped so that paths stay whole."""
    Console(stderr=True, soft_wrap=True).print(message, highlight=False)


async def _build(benchmark: Benchmark, generate, args, console: Console) -> int:
    from release import write_release
    from release.versioning import VersionError

    _check_output(args.out)
    _check_requested_version(args, benchmark)
    cache_dir = args.cache_dir or default_cache_dir()
    cache = ResponseCache(cache_dir / CACHE_FILE)
    salt = _answer_key_salt(benchmark, cache_dir, args.answer_key_salt_file)  # a bad salt fails before any request
    accounting = Accounting(max_cost=args.max_cost)
    options = dict(cache=cache, accounting=accounting, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
                   seed=args.seed, cache_dir=cache_dir, timeout=args.timeout)
    # Model strings, profiles and API keys are checked here, before any work.
    llm = LLM(args.model, profile=args.model_profile, **options)
    same_judge = (not args.judge_model or args.judge_model == args.model) and args.judge_profile is None
    judge = llm if same_judge else LLM(args.judge_model or args.model, profile=args.judge_profile, **options)
    for model in {id(m): m for m in (llm, judge)}.values():
        check_fits_prompts(model.profile, PROMPTS / benchmark.name, model=model.label)
    args.concurrency = llm.concurrency  # builders size their work by it
    schema = load_schema(benchmark.name)
    report = BuildReport()
    watch = Stopwatch()
    console.print(f"Building {benchmark.pretty_name}: n={args.n} model={llm.label} (profile {llm.profile.name}) "
                  f"judge={judge.label} (profile {judge.profile.name}) seed={args.seed} cache={cache.path}",
                  highlight=False)

    kept_so_far = [0]
    stopped: BudgetExceeded | None = None
    async with opened(llm, judge):  # on exit, replies already asked for arrive and are cached
        watch.lap("start models")
        ctx = BuildContext(args=args, llm=llm, judge=judge, seed=args.seed, report=report,
                           kept=lambda: kept_so_far[0])
        with _progress(console, args.n) as progress:
            task = progress.add_task("records kept", total=args.n)

            def on_progress(kept: int) -> None:
                kept_so_far[0] = kept
                totals = accounting.totals()
                progress.update(task, completed=kept, description=(
                    f"kept · {totals.requests} requests, {totals.cache_hits} cached, "
                    f"{totals.input_tokens + totals.output_tokens} tokens, ${accounting.total_cost:.4f}"))

            try:
                collected = await collect(benchmark, schema, generate(ctx), report, args.n, on_progress)
            except BudgetExceeded as error:
                stopped = error
    watch.lap("generate")
    if stopped is not None:
        _write_build_report(args, benchmark, report, accounting, watch, status="stopped: budget")
        _tell(f"[yellow]stopped:[/yellow] {stopped}")
        return EXIT_BUDGET

    records = _deal_answer_positions(benchmark, collected.kept, salt, schema)
    if collected.exhausted and len(records) < args.n:
        _tell(f"[yellow]only {len(records)} of {args.n} records[/yellow]: the builder ran out of attempts "
              f"(the funnel, every reject and every failed request are in {_builds_folder(args, benchmark)}).")
    if not records:
        _write_build_report(args, benchmark, report, accounting, watch, status="failed: no records",
                            calls=collected.calls)
        _print_summary(console, report, accounting, None, collected.calls)
        return EXIT_FAILED
    report.count("released", len(records))
    splits = split_by_config(benchmark, records, args.splits, args.seed)
    release_report = _release_report(args, benchmark, llm, judge, report, collected, records, salt)
    try:
        result = write_release(benchmark, splits, release_report, args.out, version=args.release_version,
                               bump=args.bump, repo_id=args.repo_id)
    except VersionError as error:  # e.g. another build took the requested version meanwhile
        raise UserError(f"{error} Everything paid for is in the response cache: re-running costs nothing.") \
            from None
    watch.lap("release")
    _write_build_report(args, benchmark, report, accounting, watch, status="ok", release=result,
                        calls=collected.calls, audit=release_report.get("shortcut_audit"))
    _print_summary(console, report, accounting, result, collected.calls, release_report)
    return EXIT_OK


def _check_output(out: Path) -> None:
    target = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder (releases go to <out>/<benchmark>/vX.Y.Z)")
    if not target.is_dir():
        raise UserError(f"--out {out} cannot be created: {target} is a file; give a folder path")
    if not os.access(target, os.W_OK):
        raise UserError(f"--out {out} is not writable (checked {target}); choose a folder you can write to")


def _check_requested_version(args, benchmark: Benchmark) -> None:
    """A --release-version that cannot be written fails now, before anything is paid for."""
    from release.versioning import VersionError, next_version, released_versions

    benchmark_dir = args.out / benchmark.name
    existing = released_versions(benchmark_dir)
    try:
        version = next_version(max(existing) if existing else None, set(existing),
                               requested=args.release_version, bump=args.bump)
    except VersionError as error:
        raise UserError(f"--release-version: {error}") from None
    target = benchmark_dir / version.tag
    if target.exists():  # a folder without manifest.json: an interrupted copy, or not ours
        raise UserError(f"{target} exists but is not a complete release (no manifest.json); "
                        "move it aside (or delete it) and run the same command again")


def _progress(console: Console, total: int) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False, disable=console.quiet)


def _config(args, benchmark: Benchmark) -> dict:
    """The build's configuration: everything that determines the release, nothing machine-specific."""
    # Profiles are recorded by content (the release report's "profiles"), not by the name or path typed.
    skip = {"out", "cache_dir", "quiet", "concurrency", "rpm", "tpm", "timeout", "max_cost", "release_version", "bump",
            "repo_id", "model_profile", "judge_profile", "answer_key_salt_file"}
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items()) if k not in skip}
    config["judge_model"] = args.judge_model or args.model
    return {"benchmark": benchmark.name, **config}


def _print_audit(console: Console, report: dict | None) -> None:
    """The shortcut audit as a table; flagged baselines are also told on stderr, even with --quiet."""
    if not report or not report.get("items"):
        return
    table = Table(title=f"Shortcut audit: {report['items']} {report.get('unit') or 'questions'}, "
                        f"chance {100 * report['chance']:.1f}%", show_header=True)
    for column in ("baseline", "accuracy", "95% interval", ""):
        table.add_column(column, justify="left" if column in ("baseline", "") else "right")
    for row in report["baselines"]:
        if row["accuracy"] is None:
            table.add_row(row["baseline"], "n/a", row.get("note", ""), "")
            continue
        table.add_row(row["baseline"], f"{100 * row['accuracy']:.1f}%",
                      f"{100 * row['low']:.1f}-{100 * row['high']:.1f}%", "FLAGGED" if row["flagged"] else "")
    console.print(table)
    for baseline in report.get("flagged", []):
        _tell(f"[yellow]shortcut:[/yellow] '{baseline}' scores above chance + 5 points on this release "
              "(the card's shortcut audit table has the figures)")


def _answer_key_salt(benchmark: Benchmark, cache_dir: Path, salt_file: Path | None) -> bytes | None:
    if benchmark.answer_key is None:
        return None
    try:
        return load_salt(cache_dir, salt_file)
    except SaltError as error:
        raise UserError(str(error)) from None


def _deal_answer_positions(benchmark: Benchmark, records: list[dict], salt: bytes | None, schema: dict) -> list[dict]:
    """The final records with their gold positions dealt (builders.answer_key); checked again, since
    a builder's `place` rewrites options (and whatever names them)."""
    if salt is None or not records:
        return records
    placed = deal(benchmark.name, benchmark.answer_key, records, benchmark.id_field, salt)
    _, invalid = validate_records(placed, RecordValidator(schema, benchmark.checks))
    if invalid:
        raise RuntimeError(f"{benchmark.name}: placing the gold positions broke {len(invalid)} records "
                           f"(first: {invalid[0]['reason']}); this is a bug in the builder's answer_key.place")
    return placed


def _shortcut_audit(benchmark: Benchmark, records: list[dict]) -> dict:
    if benchmark.shortcut_audit is not None:
        return benchmark.shortcut_audit(records)
    return audit([item for record in records for item in benchmark.mc_items(record)])


def _release_report(args, benchmark, llm, judge, report: BuildReport, collected, records: list[dict],
                    salt: bytes | None) -> dict:
    """What goes into the manifest and card: deterministic for one config and one cache."""
    return {
        "config": _config(args, benchmark),
        "toolkit_version": __version__,
        "models": {"generator": llm.label, "judge": judge.label},
        "profiles": {"generator": llm.profile.summary(), "judge": judge.profile.summary()},
        # what producing this release from scratch asks of the models: the same on every build of it
        "calls": collected.calls.report(report.funnel.get("released", 0)),
        "prompt_hashes": prompt_hashes(benchmark.name),
        "funnel": dict(report.funnel),
        "rejects": report.reject_summary(),
        "dedup": collected.dedup_stats,
        **({"notes": list(report.notes)} if report.notes else {}),  # builder notes must be deterministic
        **({"original_comparison": [figure.as_dict() for figure in benchmark.figures(records)]}
           if benchmark.figures else {}),
        **({"shortcut_audit": _shortcut_audit(benchmark, records)}
           if benchmark.mc_items or benchmark.shortcut_audit else {}),
        **({"answer_key": {"positions": "dealt over the whole release from the owner's private salt "
                                        "(builders/answer_key.py); nothing published predicts them",
                           "salt_fingerprint": fingerprint(salt)}} if salt else {}),
    }


def _write_build_report(args, benchmark, report: BuildReport, accounting: Accounting, watch: Stopwatch, *,
                        status: str, release=None, calls: Ledger | None = None, audit: dict | None = None) -> Path:
    """This run's own record (timings, what was paid, every reject): next to the releases, never in them."""
    folder = _builds_folder(args, benchmark)
    folder.mkdir(parents=True, exist_ok=True)
    body = {"status": status, "config": _config(args, benchmark), "funnel": report.funnel,
            "rejects": report.reject_summary(), "notes": report.notes, "llm": accounting.report(),
            "calls": None if calls is None else calls.report(report.funnel.get("released", 0)),
            # paid work run ahead that the build never used (it stopped first); cached for a later build
            "calls_run_ahead_unused": None if calls is None else calls.ahead.report(0)["total"],
            "shortcut_audit": audit,
            "timings_seconds": {**watch.stages, "total": watch.total, "llm_busy": round(accounting.busy_seconds, 3)},
            "release": None if release is None else {"path": str(release.path), "version": release.version,
                                                     "noop": release.noop}}
    (folder / "build-report.json").write_text(json.dumps(body, indent=2, sort_keys=True, default=str))
    with open(folder / "rejects.jsonl", "w") as handle:
        for reject in report.rejects:
            handle.write(json.dumps(reject, sort_keys=True, default=str) + "\n")
    return folder


def _builds_folder(args, benchmark: Benchmark) -> Path:
    return args.out / benchmark.name / "builds"


def _print_summary(console: Console, report: BuildReport, accounting: Accounting, result, calls: Ledger,
                   release_report: dict | None = None) -> None:
    table = Table(title="Build funnel", show_header=True)
    table.add_column("stage")
    table.add_column("count", justify="right")
    for stage, count in report.funnel.items():
        table.add_row(stage, str(count))
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    totals = accounting.totals()
    console.print(f"LLM: {totals.requests} requests ({totals.retries} retries, {totals.failures} failed), "
                  f"{totals.cache_hits} cache hits, {totals.input_tokens} in / {totals.output_tokens} out tokens, "
                  f"est. ${accounting.total_cost:.4f}", highlight=False)
    ledger = calls.report(report.funnel.get("released", 0))["total"]
    per_record = "" if ledger["requests_per_record"] is None else f", {ledger['requests_per_record']} per released record"
    console.print(f"From scratch this release takes {ledger['requests']} requests{per_record}; re-asks "
                  f"{ledger['reasks']} ({100 * ledger['reask_share']:.1f}% of requests)", highlight=False)
    _print_audit(console, (release_report or {}).get("shortcut_audit"))
    if result is not None:
        verb = "unchanged (no new version)" if result.noop else "written"
        console.print(f"Release {result.version} {verb}: {result.path}", highlight=False)
    if report.rejects:
        console.print(f"{len(report.rejects)} rejects with reasons: see builds/rejects.jsonl next to the releases")
    if accounting.failed_requests:
        console.print(f"{len(accounting.failed_requests)} requests failed after their retries: reasons under "
                      "llm.failed_requests in builds/build-report.json")
    sys.stderr.flush()
