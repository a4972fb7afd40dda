"""Command line: score a model on a release.

    python -m benchscore <release folder | org/name> [--revision vX.Y.Z] --model <model string>
        [--judge-model ...] [--config C] [--split test] [--limit N] [--seed 0] [--samples K] [--triples]
        [--max-rounds N] [--cache-dir ...] [--concurrency N] [--max-cost USD] [--no-write] [--push]

Replies go through the toolkit's LLM layer (response cache, retries, limits, --max-cost), so
scoring again costs nothing and gives byte-identical results files, and a run stopped by its
budget resumes where it stopped. Results go to `<release>/results/<run>/` and the card's results
table; `--push` publishes them to the Hub dataset repo as one commit.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from benchscore import display
from benchscore.moral_simulation import MAX_ROUNDS
from benchscore.protocol import ScoringError
from benchscore.scoring import Outcome, models, plan, score
from benchscore.stats import RESAMPLES
from builders.cli import (
    EXIT_BAD_INPUT,
    EXIT_BUDGET,
    EXIT_FAILED,
    EXIT_OK,
    default_cache_dir,
    positive_float,
    positive_int,
)
from builders.llm import BudgetExceeded
from builders.llm.errors import LLMError
from builders.llm.profiles import known_profile_names
from release.hub import PushError, describe_hub_error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchscore", description="Score a model on a benchmark release.")
    parser.add_argument("release",
                        help="a release folder (the one holding manifest.json) or a Hub dataset repo org/name")
    parser.add_argument("--revision", default=None, help="Hub revision (a tag such as v1.0.0; default main)")
    parser.add_argument("--download-dir", type=Path, default=None,
                        help="where a Hub release is downloaded (default releases/hub/<org>/<name>/<revision>)")
    parser.add_argument("--model", required=True,
                        help="the model to score: openai:..., anthropic:..., openai-compatible:URL#name, local:smollm2")
    parser.add_argument("--judge-model", default=None,
                        help="Moral RolePlay: the judge, environment and next-speaker model (default: --model)")
    parser.add_argument("--model-profile", default=None, metavar="NAME|FILE.yaml",
                        help=f"the model's profile ({', '.join(known_profile_names())}, or a YAML file)")
    parser.add_argument("--judge-profile", default=None, metavar="NAME|FILE.yaml", help="the judge model's profile")
    parser.add_argument("--benchmark", default=None,
                        help="the benchmark the release must be (stops a release of another benchmark)")
    parser.add_argument("--config", default=None, help="score this config (default: the benchmark's usual ones)")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    parser.add_argument("--limit", type=positive_int, default=None, help="score a seeded sample of N items (scenes)")
    parser.add_argument("--seed", type=int, default=0, help="request seed, --limit sample and bootstrap seed")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help="ToMATO: K sampled answers per item (temperature 0.6, top_p 0.9), mean reported; "
                             "default: one greedy answer")
    parser.add_argument("--triples", action="store_true",
                        help="LitCharToM: condition (b), the relevant triples in the prompt (default: condition (a))")
    parser.add_argument("--max-rounds", type=positive_int, default=None,
                        help=f"Moral RolePlay: replies per simulated scene (default {MAX_ROUNDS})")
    parser.add_argument("--resamples", type=positive_int, default=RESAMPLES, help="bootstrap resamples (default 1000)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(),
                        help=f"response cache and model files (default {default_cache_dir()})")
    parser.add_argument("--concurrency", type=positive_int, default=None,
                        help="requests in flight (default: the model profile's)")
    parser.add_argument("--rpm", type=positive_float, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=positive_float, default=None, help="tokens per minute limit")
    parser.add_argument("--timeout", type=positive_float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--max-cost", type=positive_float, default=None, help="stop cleanly after this many USD")
    parser.add_argument("--no-write", action="store_true", help="print the scores; write no results files")
    parser.add_argument("--push", action="store_true",
                        help="push the results to the Hub dataset repo (one commit); see --repo")
    parser.add_argument("--repo", default=None,
                        help="Hub repo for --push (default: the repo the release came from, else its manifest's)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no breakdown table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # markup=False: paths, model strings and release text are printed as written, never read as rich markup
    console = Console(stderr=True, quiet=args.quiet, markup=False)
    try:
        return asyncio.run(_run(args, console))
    except (ScoringError, LLMError) as error:  # LLMError here: a model string, key, profile or cache problem
        _tell(str(error), label="error:", style="red")
        return EXIT_BAD_INPUT
    except PushError as error:
        _tell(str(error), label="error:", style="red")
        return EXIT_FAILED
    except HfHubHTTPError as error:
        _tell(describe_hub_error(error), label="error:", style="red")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _tell("interrupted: run the same command again to resume from the response cache")
        return 130


async def _run(args: argparse.Namespace, console: Console) -> int:
    if args.push and args.no_write:
        raise ScoringError("--push publishes the results files, which --no-write does not write; drop one of them")
    llm, judge, cache = models(args)  # model strings, profiles and keys first: before any download
    try:
        the_plan = plan(args)
        repo = _push_repo(args, the_plan.release) if args.push else None  # known before anything is paid for
        console.print(_intro(the_plan, llm, judge), highlight=False)
        with _progress(console) as progress:
            task = progress.add_task("scored", total=len(the_plan.units))
            outcome = await score(the_plan, llm, judge, write=not args.no_write,
                                  on_progress=lambda done: progress.update(task, completed=done))
    except BudgetExceeded as error:
        _tell(f"{error} No results were written.", label="stopped:", style="yellow")
        return EXIT_BUDGET
    finally:
        cache.close()
    _report(outcome, llm, console)
    if repo:
        from release.results_push import push_results

        push_results(outcome.release.path, repo, report=lambda line: print(line, flush=True))
    return EXIT_OK


def _intro(the_plan, llm, judge) -> str:
    release, options = the_plan.release, the_plan.options
    judge_text = f", judge {judge.label} (profile {judge.profile.name})" if the_plan.protocol.judged else ""
    return (f"Scoring {release.benchmark} v{release.version} ({', '.join(options.configs)} / {options.split}, "
            f"{len(the_plan.units)} units) with {llm.label} (profile {llm.profile.name}){judge_text}, "
            f"seed {options.seed}")


def _report(outcome: Outcome, llm, console: Console) -> None:
    console.print(display.breakdown_table(outcome.document))
    print(display.headline_line(outcome.document), flush=True)
    for warning in outcome.document["warnings"]:
        _tell(str(warning), label="warning:", style="yellow")
    totals = llm.accounting.totals()
    console.print(f"LLM: {totals.requests} requests, {totals.cache_hits} cache hits, {totals.failures} failed, "
                  f"est. ${llm.accounting.total_cost:.4f}", highlight=False)
    if outcome.written:
        console.print(f"Results: {outcome.release.path / 'results' / outcome.run}", highlight=False)


def _push_repo(args: argparse.Namespace, release) -> str:
    """--repo, else the repo the release was downloaded from, else the one its manifest names."""
    repo = args.repo or release.repo_id or release.manifest.get("repo_id")
    if not repo:
        raise ScoringError("--push needs a Hub repo: pass --repo org/name (the release names none)")
    return repo


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False, disable=console.quiet)


def _tell(message: str, *, label: str = "", style: str = "") -> None:
    """Errors and stops are printed even with --quiet, unwrapped so that paths stay whole. The message
    is printed literally; only the fixed `label` in front of it is coloured."""
    Console(stderr=True, soft_wrap=True).print(Text.assemble((label, style), " " if label else "", message),
                                               highlight=False)


if __name__ == "__main__":
    sys.exit(main())
