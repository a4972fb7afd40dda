"""The one command line every builder shares, and the driver that runs a build end to end.

    python -m builders.<benchmark> --n 200 [--model ...] [--judge-model ...] [--seed ...] [--out ...]

Re-running the same command after an interruption resumes it: every reply already paid for
comes back from the response cache.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import json
import os
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__
from .answer_key import SaltError, deal, fingerprint, load_salt
from .audit import audit
from .benchmark import Benchmark
from .llm import LLM, Accounting, BatchOptions, BudgetExceeded, ResponseCache, opened
from .llm.client import RETRY_FAILED_RUNS
from .llm.accounting import parse_price_per_mtok
from .llm.errors import CacheWriteFailed, LLMError
from .llm.secrets import redact
from .llm.ledger import Ledger
from .llm.profiles import check_fits_prompts, known_profile_names
from .pipeline import BuildContext, BuildReport, Stopwatch, collect, split_by_config
from .progress import BuildProgress
from .resources import PROMPTS, load_schema, prompt_hashes
from .splits import drop_empty_splits, minimum_records, parse_ratios
from .validate import RecordValidator, validate_records

DEFAULT_MODEL = "local:smollm2"
CACHE_FILE = "responses.sqlite"
# <out>/<benchmark>/builds/<run>/{build-report.json,rejects.jsonl}, and builds/latest naming the newest run
BUILDS_DIR, LATEST_FILE, REPORT_FILE, REJECTS_FILE = "builds", "latest", "build-report.json", "rejects.jsonl"

# Exit codes a scheduler can act on.
EXIT_OK, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_BUDGET = 0, 2, 1, 3


class UserError(Exception):
    """Bad input: the message names the problem and the fix."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "roleplay-tom-toolkit"


def _whole_number(text: str, least: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1, "at least 1")


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0, "0 or more")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def temperature(text: str) -> float:
    """A sampling temperature: a finite number from 0 to 2 (what OpenAI and Anthropic accept); nan would
    reach the provider and fail every request."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value <= 2:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 2, got {text}")
    return value


def split_ratios(text: str) -> dict[str, float]:
    """"test" or "train=0.8,validation=0.1,test=0.1": known split names, finite ratios summing to 1."""
    try:
        return parse_ratios(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def name_list(text: str) -> str:
    """A comma-separated selection (--plays, --novels, ...), kept as typed. One that names nothing
    ("", ",") is refused: left to the builder it would mean "the defaults", a different and paid build."""
    if not any(name.strip() for name in text.split(",")):
        raise argparse.ArgumentTypeError(f"names nothing ({text!r}); give comma-separated names, or leave the "
                                         "flag out to use the default")
    return text


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
    parser.add_argument("--price-per-mtok", type=parse_price_per_mtok, default=None, metavar="IN,OUT",
                        help="USD per million input,output tokens of the models of this build, e.g. 0.15,0.60 "
                             "(default: builders/llm/prices.json); needed for --max-cost on a model it does not price")
    parser.add_argument("--concurrency", type=positive_int, default=None,
                        help="requests in flight per model (default: the model profile's)")
    parser.add_argument("--rpm", type=positive_float, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=positive_float, default=None, help="tokens per minute limit")
    parser.add_argument("--timeout", type=positive_float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--retry-failed-runs", type=int, default=RETRY_FAILED_RUNS, metavar="N",
                        help="a request that got no valid reply is asked again in up to N later runs (within one "
                             f"run its failure stands); 0 replays cached failures, sending nothing (default "
                             f"{RETRY_FAILED_RUNS})")
    parser.add_argument("--splits", type=split_ratios, default=dict(benchmark.splits),
                        help="e.g. test, or train=0.8,validation=0.1,test=0.1 (grouped, seeded)")
    parser.add_argument("--release-version", dest="release_version", default=None, help="release version (default: bump)")
    parser.add_argument("--bump", choices=("patch", "minor", "major"), default="patch")
    parser.add_argument("--repo-id", default=None, help="Hub repo (org/name) the card's load_dataset snippet names")
    from .licenses import license_id  # the card reads the licence lists of the same module

    parser.add_argument("--license", type=license_id, default=None, metavar="ID",
                        help=f"the release's licence, an SPDX id (default: {benchmark.license}); the card says "
                             "who chose it and whose terms apply to the model-written text")
    parser.add_argument("--answer-key-salt-file", type=Path, default=None, metavar="FILE",
                        help="the private salt gold positions are dealt from (default: answer-key.salt in the "
                             "cache dir, created on first use); keep it private and back it up")
    parser.add_argument("--quiet", action="store_true", help="no live progress")
    _add_batch_arguments(parser)
    if add_arguments:
        add_arguments(parser)
    return parser


def run_builder(benchmark: Benchmark, generate: Callable[[BuildContext], AsyncIterator],
                argv: list[str] | None = None, add_arguments: Callable | None = None) -> int:
    args = build_parser(benchmark, add_arguments).parse_args(argv)
    # markup=False: what is printed holds paths, model strings and source text ("[start, end]", "[/x]"),
    # which rich would otherwise read as markup, dropping it or failing on it.
    console = Console(stderr=True, quiet=args.quiet, markup=False)
    try:
        return asyncio.run(_build(benchmark, generate, args, console))
    except (UserError, LLMError) as error:  # LLMError here: ConfigError (bad model string, missing key), CacheError
        _tell(str(error), label="error:", style="red")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _tell("interrupted: run the same command again to resume from the response cache")
        return 130


def _tell(message: str, *, label: str = "", style: str = "") -> None:
    """Errors and stops are printed even with --quiet, unwrapped so that paths stay whole. The message
    is printed literally; only the fixed `label` in front of it is coloured."""
    line = Text.assemble((label, style), " " if label else "", message)
    Console(stderr=True, soft_wrap=True).print(line, highlight=False)


async def _build(benchmark: Benchmark, generate, args, console: Console) -> int:
    from release import write_release
    from release.versioning import VersionError

    args.build_run = new_build_run()
    from release.writer import remove_abandoned_staging

    _check_output(args.out)
    _check_requested_version(args, benchmark)
    _check_splits(args)
    cache_dir = args.cache_dir or default_cache_dir()
    cache = ResponseCache(cache_dir / CACHE_FILE)
    salt = _answer_key_salt(benchmark, cache_dir, args.answer_key_salt_file)  # a bad salt fails before any request
    accounting = Accounting(max_cost=args.max_cost, price_per_mtok=args.price_per_mtok)
    options = dict(cache=cache, accounting=accounting, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
                   seed=args.seed, cache_dir=cache_dir, timeout=args.timeout,
                   retry_failed_runs=args.retry_failed_runs, batch=batch_options(args))
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
    # every report of this run also says what the cache met (damaged entries replaced, replies imported)
    save_report = functools.partial(_save_build_report, args, benchmark, report, accounting, watch,
                                    cache=cache, batch=lambda: _batch_reports(llm, judge))
    # a killed build's staging folder (it may hold a complete dataset) goes before this build starts
    for staging in remove_abandoned_staging(args.out / benchmark.name):
        console.print(Text(f"removed {staging}: the unfinished release of a build that was killed while writing it"))
    console.print(f"Building {benchmark.pretty_name}: n={args.n} model={llm.label} (profile {llm.profile.name}) "
                  f"judge={judge.label} (profile {judge.profile.name}) seed={args.seed} cache={cache.path}",
                  highlight=False)

    kept_so_far = [0]
    stopped: BudgetExceeded | CacheWriteFailed | None = None
    async with opened(llm, judge):  # on exit, replies already asked for arrive and are cached
        watch.lap("start models")
        ctx = BuildContext(args=args, llm=llm, judge=judge, seed=args.seed, report=report,
                           kept=lambda: kept_so_far[0])
        async with BuildProgress(console, accounting, args.n) as progress:

            def on_progress(kept: int) -> None:
                kept_so_far[0] = kept
                progress.kept(kept)

            try:
                collected = await collect(benchmark, schema, generate(ctx), report, args.n, on_progress)
            except (BudgetExceeded, CacheWriteFailed) as error:
                stopped = error
    watch.lap("generate")
    if isinstance(stopped, CacheWriteFailed):  # the cache could not keep a paid reply: stop asking for more
        save_report(status="stopped: cache write failed")
        _tell(str(stopped), label="error:", style="red")
        return EXIT_BAD_INPUT
    if stopped is not None:
        save_report(status="stopped: budget")
        _tell(str(stopped), label="stopped:", style="yellow")
        return EXIT_BUDGET

    records = _deal_answer_positions(benchmark, collected.kept, salt, schema)
    if collected.exhausted and len(records) < args.n:
        _tell(f"the builder ran out of attempts (the funnel, every reject and every failed request are in "
              f"{_builds_folder(args, benchmark)}).", label=f"only {len(records)} of {args.n} records:",
              style="yellow")
    if not records:
        saved = save_report(status="failed: no records",
                                   calls=collected.calls)
        _print_summary(console, report, accounting, None, collected.calls, report_folder=saved)
        return EXIT_FAILED
    report.count("released", len(records))
    splits = _without_empty_splits(benchmark, records, split_by_config(benchmark, records, args.splits, args.seed),
                                   report)
    release_report = _release_report(args, benchmark, llm, judge, report, collected, records, salt)
    try:
        result = write_release(benchmark, splits, release_report, args.out, version=args.release_version,
                               bump=args.bump, repo_id=args.repo_id)
    except VersionError as error:  # e.g. another build took the requested version meanwhile
        save_report(status="failed: release version taken", calls=collected.calls)
        raise UserError(f"{error} Everything paid for is in the response cache: re-running costs nothing.") \
            from None
    except OSError as error:  # disk full, read-only or no longer writable: the paid replies are safe in the cache
        saved = save_report(calls=collected.calls,
                                   status=f"failed: could not write the release ({_os_reason(error)})")
        _tell(_output_failure(args.out, error, saved), label="error:", style="red")
        return EXIT_FAILED
    watch.lap("release")
    saved = save_report(status="ok", release=result,
                               calls=collected.calls, audit=release_report.get("shortcut_audit"))
    _print_summary(console, report, accounting, result, collected.calls, release_report, report_folder=saved)
    return EXIT_OK


def new_build_run() -> str:
    """This run's id: its UTC start time, so that run folders sort by time, and a few random hex digits
    that keep two runs started in the same second apart."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _check_splits(args) -> None:
    """Ratios that cannot give every split a record at --n are refused before anything is paid for."""
    least = minimum_records(args.splits)
    if args.n < least:
        ratios = ",".join(f"{name}={ratio:g}" for name, ratio in args.splits.items())
        smallest = min(args.splits, key=args.splits.get)
        raise UserError(f"--splits {ratios} needs --n {least} or more: at --n {args.n} split {smallest!r} expects "
                        f"{args.n * args.splits[smallest]:g} records, so it would come out empty; raise --n to "
                        f"{least} or use fewer splits")


def _without_empty_splits(benchmark: Benchmark, records: list[dict], splits_by_config: dict,
                          report: BuildReport) -> dict:
    """Splits that came out empty are left out of the release (an empty split file cannot be loaded),
    and the release's notes say so: records go to splits by whole groups, and few groups can miss a split."""
    kept, dropped = drop_empty_splits(splits_by_config)
    groups = len({benchmark.group(record) for record in records})
    for split in dict.fromkeys(split for _, split in dropped):
        configs = [config for config, name in dropped if name == split]
        note = (f"split {split!r} got no record in config(s) {', '.join(configs)}: records go to splits by whole "
                f"groups and the {len(records)} records form {groups} group(s), too few for its ratio; it is left "
                "out of those configs (build more records or ask for fewer splits)")
        report.notes.append(note)
        _tell(note, label="split left out:", style="yellow")
    return kept


def _os_reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _output_failure(out: Path, error: OSError, report_folder: Path | None) -> str:
    """The one message for a release that could not be written: what failed, what to do, what is safe."""
    where = f" ({error.filename})" if error.filename else ""
    advice = {errno.ENOSPC: f"free disk space where {out} lives (or pass another --out)",
              errno.EDQUOT: f"free space in your disk quota where {out} lives (or pass another --out)",
              errno.EROFS: f"{out} is on a read-only file system: pass another --out",
              errno.EACCES: f"make {out} writable for this user (or pass another --out)",
              errno.EPERM: f"make {out} writable for this user (or pass another --out)"}
    fix = advice.get(error.errno, f"check {out} (or pass another --out)")
    report = (f"the build report is in {report_folder}" if report_folder is not None
              else "the build report could not be written either")
    return (f"could not write the release under {out}: {_os_reason(error)}{where}. {fix[0].upper()}{fix[1:]}, "
            "then run the same command again: every paid reply is in the response cache, so it costs nothing. "
            f"({report})")


def _check_output(out: Path) -> None:
    """--out is tried, not guessed at: its folder is created and a probe file written there (what this
    created is removed again), so a root that cannot hold a release fails before anything is paid for."""
    target = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder (releases go to <out>/<benchmark>/vX.Y.Z)")
    if not target.is_dir():
        raise UserError(f"--out {out} cannot be created: {target} is a file; give a folder path")
    if not os.access(target, os.W_OK):
        raise UserError(f"--out {out} is not writable (checked {target}); choose a folder you can write to")
    created = [folder for folder in [out, *out.parents] if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise UserError(f"--out {out} cannot be created or written to ({_os_reason(error)}); choose a folder you "
                        "can write to") from None
    finally:
        for folder in created:  # deepest first; a folder something else filled meanwhile stays
            try:
                folder.rmdir()
            except OSError:
                break


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


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    batch = parser.add_argument_group("batch mode", "through the provider's batch API (openai:, anthropic:): about "
                                      "half the price, replies within 24 hours; the same release as online")
    batch.add_argument("--batch", action="store_true",
                       help="send the build's requests in batch rounds; rerun the same command to resume")
    batch.add_argument("--batch-online-below", type=non_negative_int, default=0, metavar="N",
                       help="a round of fewer than N requests (the tail of a build) goes online (default 0: never)")
    batch.add_argument("--batch-poll-seconds", type=poll_seconds, default=(10.0, 300.0), metavar="FIRST[,MAX]",
                       help="first and longest wait between looks at a submitted batch (default 10,300)")
    batch.add_argument("--batch-gather-seconds", type=positive_float, default=2.0, metavar="S",
                       help="a round is submitted once no new request joined it for S seconds (default 2)")


def poll_seconds(text: str) -> tuple[float, float]:
    """--batch-poll-seconds FIRST[,MAX]: positive seconds, MAX at least FIRST."""
    parts = text.split(",")
    try:
        values = [positive_float(part) for part in parts]
    except argparse.ArgumentTypeError:
        values = []
    if len(values) not in (1, 2) or (len(values) == 2 and values[1] < values[0]):
        raise argparse.ArgumentTypeError(f"expected FIRST or FIRST,MAX: positive seconds with MAX at least FIRST, "
                                         f"e.g. 10,300; got {text!r}")
    return values[0], values[-1] if len(values) == 2 else max(values[0], 300.0)


def batch_options(args) -> BatchOptions | None:
    if not getattr(args, "batch", False):
        return None
    first, longest = args.batch_poll_seconds
    return BatchOptions(gather_seconds=args.batch_gather_seconds, online_below=args.batch_online_below,
                        poll_first=first, poll_max=longest)


def _config(args, benchmark: Benchmark) -> dict:
    """The build's configuration: everything that determines the release, nothing machine-specific."""
    # Profiles are recorded by content (the release report's "profiles"), not by the name or path typed.
    skip = {"out", "cache_dir", "quiet", "concurrency", "rpm", "tpm", "timeout", "max_cost", "release_version", "bump",
            "repo_id", "model_profile", "judge_profile", "answer_key_salt_file", "build_run", "retry_failed_runs",
            "price_per_mtok", "batch", "batch_online_below", "batch_poll_seconds", "batch_gather_seconds"}
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
        _tell(f"'{baseline}' scores above chance + 5 points on this release (the card's shortcut audit table "
              "has the figures)", label="shortcut:", style="yellow")


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
                        status: str, release=None, calls: Ledger | None = None, audit: dict | None = None,
                        cache: ResponseCache | None = None, batch: Callable | None = None) -> Path:
    """This run's own record (timings, what was paid, every reject): next to the releases, never in them."""
    folder = _builds_folder(args, benchmark)
    folder.mkdir(parents=True, exist_ok=True)
    body = {"status": status, "build_run": args.build_run, "config": _config(args, benchmark),
            "funnel": report.funnel, "sources": report.sources,
            "rejects": report.reject_summary(), "notes": report.notes, "llm": accounting.report(),
            "calls": None if calls is None else calls.report(report.funnel.get("released", 0)),
            # paid work run ahead that the build never used (it stopped first); cached for a later build
            "calls_run_ahead_unused": None if calls is None else calls.ahead.report(0)["total"],
            "shortcut_audit": audit, "cache": None if cache is None else cache.report(),
            # batch mode: rounds, batch ids and states, waiting time, the saving against online prices
            "batch": None if batch is None else batch(),
            "timings_seconds": {**watch.stages, "total": watch.total, "llm_busy": round(accounting.busy_seconds, 3)},
            # the content hash ties this report to the release's manifest.json, which names no run
            "release": None if release is None else {"path": str(release.path), "version": release.version,
                                                     "noop": release.noop, "content_hash": release.content_hash}}
    # redact: a last guard against a key some error text carried in (the LLM layer redacts at the source)
    (folder / "build-report.json").write_text(redact(json.dumps(body, indent=2, sort_keys=True, default=str)))
    with open(folder / "rejects.jsonl", "w") as handle:
        for reject in report.rejects:
            handle.write(redact(json.dumps(reject, sort_keys=True, default=str)) + "\n")
    return folder


def _save_build_report(args, benchmark, report: BuildReport, accounting: Accounting, watch: Stopwatch,
                       **details) -> Path | None:
    """Write this run's report and point builds/latest at it; a report that cannot be written (disk
    full, read-only) is said once and does not change the build's outcome."""
    try:
        folder = _write_build_report(args, benchmark, report, accounting, watch, **details)
        _write_latest(folder)
    except OSError as error:
        _tell(f"could not write the build report under {_builds_folder(args, benchmark)}: {_os_reason(error)}",
              label="warning:", style="yellow")
        return None
    return folder


def _batch_reports(*models: LLM) -> dict | None:
    reports = {model.label: model.batch_report() for model in models if model.batch_report() is not None}
    return reports or None


def _write_latest(run_folder: Path) -> None:
    """builds/latest: a small JSON file naming the newest run (a file, not a symlink: it works on Windows)."""
    latest = run_folder.parent / LATEST_FILE
    partial = latest.with_name(f".{LATEST_FILE}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"run": run_folder.name, "build_report": f"{run_folder.name}/{REPORT_FILE}",
                                   "rejects": f"{run_folder.name}/{REJECTS_FILE}"}, indent=2) + "\n")
    partial.replace(latest)


def latest_build_folder(out: Path, benchmark_name: str) -> Path:
    """The folder of the newest run's build report, as builds/latest names it."""
    builds = Path(out) / benchmark_name / BUILDS_DIR
    return builds / json.loads((builds / LATEST_FILE).read_text(encoding="utf-8"))["run"]


def _builds_folder(args, benchmark: Benchmark) -> Path:
    """One folder per run, <out>/<benchmark>/builds/<UTC start>-<id>/: a later run never overwrites it."""
    return args.out / benchmark.name / BUILDS_DIR / args.build_run


def _print_summary(console: Console, report: BuildReport, accounting: Accounting, result, calls: Ledger,
                   release_report: dict | None = None, report_folder: Path | None = None) -> None:
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
    builds = report_folder or Path("builds")
    if report.rejects:
        console.print(f"{len(report.rejects)} rejects with reasons: see {builds / REJECTS_FILE}")
    if accounting.failed_requests:
        console.print(f"{len(accounting.failed_requests)} requests failed after their retries: reasons under "
                      f"llm.failed_requests in {builds / REPORT_FILE}")
    sys.stderr.flush()
