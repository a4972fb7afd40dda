"""Command line: `python -m release push ...`, `rebuild ...`, `export ...` and `lm-eval-task ...`.

    python -m release push <release folder | benchmark> --repo org/name [--dry-run] [--releases-root DIR]
    python -m release rebuild <benchmark | --all> [--config release/configs/<benchmark>.yaml] [--no-push] [--dry-run]
                              [--cache-dir DIR] [--reference-model MODEL ...] [--calibration-tolerance POINTS]
    python -m release export <release folder | benchmark> --format original --out DIR
    python -m release lm-eval-task <release folder | benchmark> --out DIR

The Hub endpoint comes from HF_ENDPOINT and the token from HF_TOKEN or the usual `hf auth login`;
the token is never printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

from release.export import FORMATS, export_release
from release.hub import CONNECTION_ERRORS, PushError, describe_hub_error, push_release
from release.lm_eval_task import write_local_tasks
from release.rebuild import all_config_paths, check_cache_dir, config_path_for, load_config, rebuild
from release.versioning import latest_release


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (PushError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except HfHubHTTPError as error:  # not retried (4xx) or retries exhausted: one line, no traceback
        print(f"error: {describe_hub_error(error)}", file=sys.stderr)
        return 1
    except CONNECTION_ERRORS as error:  # the Hub unreachable where no state line was prepared
        print(f"error: could not reach the Hub ({type(error).__name__}: {error}); check the network and "
              "HF_ENDPOINT, then run the same command again.", file=sys.stderr)
        return 1


def _push(args) -> int:
    push_release(_release_folder(args.release, Path(args.releases_root)), args.repo,
                 dry_run=args.dry_run, verify=not args.no_verify)
    return 0


def _rebuild(args) -> int:
    if args.all and (args.benchmark or args.config):
        raise ValueError("--all runs every config in release/configs/; do not also name a benchmark or --config.")
    if not (args.all or args.benchmark or args.config):
        raise ValueError("name a benchmark, pass --config FILE, or pass --all.")
    if args.all:
        paths = all_config_paths()
    else:
        paths = [Path(args.config) if args.config else config_path_for(args.benchmark)]
    configs = [load_config(path) for path in paths]  # every config is checked before the first build starts
    for path, config in zip(paths, configs):
        if args.benchmark and config.benchmark != args.benchmark:
            raise ValueError(f"{path} configures {config.benchmark!r}, not {args.benchmark!r}.")
        check_cache_dir(config, args.cache_dir)
    for config in configs:
        result = rebuild(config, push=not args.no_push, dry_run=args.dry_run, cache_dir=args.cache_dir,
                         reference_models=args.reference_model, calibration_tolerance=args.calibration_tolerance)
        for reference in result.flagged:
            print(f"warning: {config.benchmark} v{result.version}: reference model {reference['model']} moved "
                  f"{reference['difference_points']:+.1f} points from v{result.calibration['previous_version']}, "
                  f"beyond the {result.calibration['tolerance_points']:g}-point tolerance: the new version is "
                  f"{'easier' if reference['difference_points'] > 0 else 'harder'}", file=sys.stderr)
    return 0


def _export(args) -> int:
    out = Path(args.out)
    counts = export_release(_release_folder(args.release, Path(args.releases_root)), out, fmt=args.format)
    for name, entries in counts.items():
        written = (out / name).exists()
        print(f"{out / name}: {entries}" if written else f"{out / name}: not written (no record of it in this release)")
    return 0


def _lm_eval_task(args) -> int:
    out = Path(args.out)
    written = write_local_tasks(_release_folder(args.release, Path(args.releases_root)), out)
    for path in written:
        print(path)
    first = written[0].stem
    print(f"run: lm_eval run --include_path {out} --tasks {first} --model local-chat-completions "
          "--apply_chat_template --model_args base_url=http://127.0.0.1:8080/v1/chat/completions,model=<model>")
    return 0


def _release_folder(name: str, releases_root: Path) -> Path:
    """A release folder given directly, or the latest release of a benchmark under releases_root."""
    as_path = Path(name)
    if (as_path / "manifest.json").is_file():
        return as_path
    latest = latest_release(releases_root / name)
    if latest is None:
        raise FileNotFoundError(
            f"{name!r} is neither a release folder (no manifest.json) nor a benchmark with releases "
            f"under {releases_root}; pass a vX.Y.Z folder or --releases-root."
        )
    return latest[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m release", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True)

    push = commands.add_parser("push", help="publish a release folder as one Hub commit + tag")
    push.add_argument("release", help="a release folder (…/vX.Y.Z) or a benchmark name (its latest release)")
    push.add_argument("--repo", required=True, help="Hub dataset repo, org/name")
    push.add_argument("--dry-run", action="store_true", help="print the operations and the tag; commit nothing")
    push.add_argument("--releases-root", default="releases", help="where benchmark names are looked up")
    push.add_argument("--no-verify", action="store_true", help="skip the post-push load_dataset check")
    push.set_defaults(run=_push)

    rebuild_cmd = commands.add_parser("rebuild", help="run a builder from its release config, then push if changed")
    rebuild_cmd.add_argument("benchmark", nargs="?", help="benchmark name (release/configs/<name>.yaml)")
    rebuild_cmd.add_argument("--all", action="store_true", help="every config in release/configs/")
    rebuild_cmd.add_argument("--config", help="a release config YAML instead of release/configs/<benchmark>.yaml")
    rebuild_cmd.add_argument("--no-push", action="store_true", help="build the release but do not push")
    rebuild_cmd.add_argument("--dry-run", action="store_true", help="push in dry-run mode")
    rebuild_cmd.add_argument("--cache-dir", type=Path, default=None,
                             help="the builders' response cache and model files, passed to the builder (and to "
                                  "scoring unless scoring_args sets cache_dir); default: the builders' default")
    rebuild_cmd.add_argument("--reference-model", action="append", default=None, metavar="MODEL",
                             help="score MODEL on the new version and the previous one and report the difference "
                                  "(repeatable; replaces the config's reference_models)")
    rebuild_cmd.add_argument("--calibration-tolerance", type=float, default=None, metavar="POINTS",
                             help="flag a reference score difference beyond this many points (default: the "
                                  "config's calibration_tolerance, else 2.0)")
    rebuild_cmd.set_defaults(run=_rebuild)

    export = commands.add_parser("export", help="write a release in the original benchmark's file layout")
    export.add_argument("release", help="a release folder (…/vX.Y.Z) or a benchmark name (its latest release)")
    export.add_argument("--format", default="original", choices=FORMATS,
                        help="original: the files the published benchmark shipped (default)")
    export.add_argument("--out", required=True, help="folder for the exported files (not inside the release)")
    export.add_argument("--releases-root", default="releases", help="where benchmark names are looked up")
    export.set_defaults(run=_export)

    lm_eval = commands.add_parser("lm-eval-task",
                                  help="write the card's lm-evaluation-harness tasks reading the local release folder")
    lm_eval.add_argument("release", help="a release folder (…/vX.Y.Z) or a benchmark name (its latest release)")
    lm_eval.add_argument("--out", required=True, help="folder for <task>.yaml files (lm_eval --include_path)")
    lm_eval.add_argument("--releases-root", default="releases", help="where benchmark names are looked up")
    lm_eval.set_defaults(run=_lm_eval_task)
    return parser


if __name__ == "__main__":
    sys.exit(main())
