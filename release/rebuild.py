"""Scheduled rebuilds: run a benchmark's builder from a checked-in config, then publish if changed.

The builder runs as a subprocess (`python -m builders.<benchmark> ...`), so builders stay
independent of the release tooling and a crashing build cannot leave this process half-done. The
builder writes the release itself (through `write_release`, which reports a no-op for unchanged
data); the push then compares content hashes with the Hub and commits only when they differ.

The whole config is checked before the builder starts (so before any request is paid for): unknown
and duplicate keys, types, `n` within 1..MAX_N, the `hub_repo` form, model strings, and
`builder_args` that would override a key above.

Release config (YAML), e.g. release/configs/tomato.yaml:
    benchmark: tomato              # required
    model: local:smollm2           # required
    n: 200                         # required: how many items the builder aims for (1 to MAX_N)
    seed: 0                        # required
    version_policy: patch          # patch | minor | major
    hub_repo: org/tomato           # optional: no push without it
    releases_root: releases        # relative paths are relative to the working directory
    builder_module: builders.tomato  # optional, default builders.<benchmark>
    builder_args: {}               # optional extra `--key value` flags for the builder; not those the
                                   #   keys above set (model, n, seed, out, bump, repo_id, release_version)
    reference_models: []           # optional: model strings scored on each new version and the previous one
    calibration_tolerance: 2.0     # optional: points (percent of the metric's scale) beyond which a
                                   #   reference model's score difference between versions is flagged
    scoring_args: {}               # optional extra `--key value` flags for `python -m benchscore`
                                   #   (e.g. cache_dir, limit; `true` gives a bare flag such as --triples)

Calibration (reference models set here or with --reference-model): after a build that produced a
new version (or a latest version not yet calibrated with these models), each reference model is
scored on the new version and on the previous one (`benchscore.calibration`); both results are
written into their release folders, the new card shows both scores and the difference with its
unpaired-bootstrap interval, and the rebuild flags a difference beyond the tolerance. The results
of the new version are pushed with it.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from release.hub import PushResult, push_release
from release.results import read_index
from release.versioning import BUMPS, Version, latest_release, released_versions
from release.writer import remove_abandoned_staging

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
REQUIRED_KEYS = ("benchmark", "model", "n", "seed")
# The largest `n` a config may ask for: ten times the largest build measured (2*10^5 records in the
# release writer); more is a typo, and a far larger number crashes a builder after it started.
MAX_N = 2_000_000
# Builder flags that rebuild sets from the config's own keys: builder_args must not set them again
# (argparse keeps the last one, so `out` would send the release where rebuild does not look).
BUILDER_FLAGS_FROM_KEYS = {"model": "model", "n": "n", "seed": "seed", "out": "releases_root",
                           "bump": "version_policy", "repo_id": "hub_repo", "release_version": "version_policy"}


@dataclass(frozen=True)
class ReleaseConfig:
    benchmark: str
    model: str
    n: int
    seed: int
    version_policy: str = "patch"
    hub_repo: str | None = None
    releases_root: Path = Path("releases")
    builder_module: str | None = None
    builder_args: dict = field(default_factory=dict)
    reference_models: tuple[str, ...] = ()
    calibration_tolerance: float = 2.0
    scoring_args: dict = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.builder_module or f"builders.{self.benchmark}"


@dataclass
class RebuildResult:
    config: ReleaseConfig
    version: str
    changed: bool  # the build produced a new release version
    push: PushResult | None
    calibration: dict | None = None  # benchscore.calibration's record, when reference models were scored

    @property
    def flagged(self) -> list[dict]:
        """Reference models whose score moved beyond the tolerance between the two versions."""
        return [ref for ref in (self.calibration or {}).get("references", []) if ref["flagged"]]


def load_config(path: Path) -> ReleaseConfig:
    raw = _read_yaml(Path(path))
    missing = [key for key in REQUIRED_KEYS if key not in raw]
    if missing:
        raise ValueError(f"{path}: missing required key(s) {missing}; see release/rebuild.py for the format.")
    unknown = sorted(set(raw) - set(ReleaseConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(ReleaseConfig.__dataclass_fields__)}.")
    if raw.get("version_policy", "patch") not in BUMPS:
        raise ValueError(f"{path}: version_policy must be one of {', '.join(BUMPS)}.")
    _check_types(path, raw)
    _check_values(path, raw)
    raw["releases_root"] = Path(raw.get("releases_root", "releases"))
    raw["reference_models"] = tuple(raw.get("reference_models") or ())
    raw["scoring_args"] = raw.get("scoring_args") or {}
    return ReleaseConfig(**raw)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"release config {path} not found; pass an existing YAML file "
                                f"(the checked-in ones are in {CONFIG_DIR}).")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ValueError(f"{path} is not valid YAML{line} ({problem}); fix the file, "
                         "see release/rebuild.py for the format.") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must be a YAML mapping of keys to values (benchmark: ..., model: ..., "
                         "n: ..., seed: ...); see release/rebuild.py for the format.")
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (keep one of them)", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# What each key must be; a wrong type would otherwise surface later as a builder's usage error.
_KEY_TYPES = {"benchmark": (str, "a benchmark name"), "model": (str, "a model string"), "n": (int, "a whole number"),
              "seed": (int, "a whole number"), "version_policy": (str, "patch, minor or major"),
              "hub_repo": (str, "org/name"), "releases_root": (str, "a folder path"),
              "builder_module": (str, "a module name"), "builder_args": (dict, "a mapping of flag: value"),
              "reference_models": (list, "a list of model strings"),
              "calibration_tolerance": ((int, float), "a number of points (e.g. 2.0)"),
              "scoring_args": (dict, "a mapping of flag: value")}


def _check_types(path: Path, raw: dict) -> None:
    for key, value in raw.items():
        kind, meaning = _KEY_TYPES[key]
        if value is None and key in ("hub_repo", "builder_module", "reference_models", "scoring_args"):
            continue  # optional keys may be left empty
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{path}: {key} must be {meaning}, got {value!r}.")
    if raw["n"] < 1:
        raise ValueError(f"{path}: n must be at least 1, got {raw['n']}.")
    if not all(isinstance(model, str) and model for model in raw.get("reference_models") or []):
        raise ValueError(f"{path}: reference_models must be a list of model strings, got {raw['reference_models']!r}.")
    if raw.get("calibration_tolerance", 0) < 0:
        raise ValueError(f"{path}: calibration_tolerance must be 0 or more points, got {raw['calibration_tolerance']}.")


def _check_values(path: Path, raw: dict) -> None:
    if raw["n"] > MAX_N:
        raise ValueError(f"{path}: n must be at most {MAX_N:,}, got {raw['n']:,}; is it a typo?")
    if raw.get("hub_repo") is not None:
        _check_repo_id(path, raw["hub_repo"])
    _identity(raw["model"], role=f"{path}: model")
    for name in ("builder_args", "scoring_args"):
        for key, value in (raw.get(name) or {}).items():
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool, type(None))):
                raise ValueError(f"{path}: {name} must map flag names to single values (text, number or "
                                 f"true/false), got {key!r}: {value!r}.")
    for key in raw.get("builder_args") or {}:
        owner = BUILDER_FLAGS_FROM_KEYS.get(key.replace("-", "_"))
        if owner is not None:
            raise ValueError(f"{path}: builder_args sets --{key.replace('_', '-')}, which rebuild sets from the "
                             f"key {owner!r}; remove it from builder_args and set {owner} instead.")


def _check_repo_id(path: Path, repo_id: str) -> None:
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{path}: hub_repo {repo_id!r} is not a Hub repo id: {error}") from None
    if "/" not in repo_id:
        raise ValueError(f"{path}: hub_repo must be org/name (the organisation or user that owns it), "
                         f"got {repo_id!r}.")


def config_path_for(benchmark: str) -> Path:
    return CONFIG_DIR / f"{benchmark}.yaml"


def all_config_paths() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.yaml"))


def check_cache_dir(config: ReleaseConfig, cache_dir: Path | None) -> None:
    """`--cache-dir` and a config's builder_args.cache_dir would be two answers to one question."""
    if cache_dir is not None and "cache_dir" in {key.replace("-", "_") for key in config.builder_args}:
        raise ValueError(f"--cache-dir {cache_dir} and builder_args.cache_dir "
                         f"{config.builder_args.get('cache_dir', config.builder_args.get('cache-dir'))} of the "
                         f"{config.benchmark} config both name the response cache; keep one.")


def builder_command(config: ReleaseConfig, cache_dir: Path | None = None) -> list[str]:
    command = [
        sys.executable, "-m", config.module,
        "--model", config.model,
        "--n", str(config.n),
        "--seed", str(config.seed),
        "--out", str(config.releases_root),
        "--bump", config.version_policy,
    ]
    if config.hub_repo:
        command += ["--repo-id", config.hub_repo]
    if config.builder_module is None and "retry_failed_runs" not in config.builder_args:
        # Same config and same cache, same release: a rebuild replays cached failures instead of
        # asking them again (the toolkit's own builders take the flag; a custom one may not).
        command += ["--retry-failed-runs", "0"]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    for key, value in sorted(config.builder_args.items()):
        command += [f"--{key.replace('_', '-')}", str(value)]
    return command


def rebuild(config: ReleaseConfig, *, push: bool = True, dry_run: bool = False, report=print,
            reference_models: list[str] | None = None, calibration_tolerance: float | None = None,
            cache_dir: Path | None = None) -> RebuildResult:
    """Build; calibrate against the previous version when reference models are given (here, or in
    the config); push the release (and the new version's results) when it has a Hub repo.
    `cache_dir` is the builders' (and scoring's, unless scoring_args names one) response cache."""
    models = list(reference_models if reference_models is not None else config.reference_models)
    tolerance = config.calibration_tolerance if calibration_tolerance is None else calibration_tolerance
    for model in models:
        _identity(model)  # a bad model string fails now, before the build
    check_cache_dir(config, cache_dir)
    benchmark_dir = config.releases_root / config.benchmark
    for leftover in remove_abandoned_staging(benchmark_dir):
        report(f"removed {leftover}: the staging folder of a write that was killed")
    before = latest_release(benchmark_dir)
    command = builder_command(config, cache_dir)
    report(f"rebuilding {config.benchmark}: {' '.join(command[1:])}")
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"builder {config.module} exited with status {completed.returncode}; nothing was pushed.")
    after = latest_release(benchmark_dir)
    if after is None:
        raise RuntimeError(f"builder {config.module} finished but wrote no release under {benchmark_dir}.")
    version, release_dir = after
    changed = before is None or before[0] != version
    report(f"{config.benchmark}: {'new release' if changed else 'unchanged, latest is'} v{version}")
    calibration = _calibrate(config, benchmark_dir, version, release_dir, changed, models, tolerance, report,
                             cache_dir)
    push_result = None
    if push and config.hub_repo:
        # Always ask the Hub: it no-ops on identical content, and it finishes an earlier push that failed.
        push_result = push_release(release_dir, config.hub_repo, dry_run=dry_run, report=report)
        if calibration is not None and dry_run:
            report(f"dry run: the results of v{version} would be pushed after the release")
        elif calibration is not None:
            from release.results_push import push_results

            push_results(release_dir, config.hub_repo, report=report)
    return RebuildResult(config, str(version), changed, push_result, calibration)


def _calibrate(config: ReleaseConfig, benchmark_dir: Path, version: Version, release_dir: Path, changed: bool,
               models: list[str], tolerance: float, report, cache_dir: Path | None) -> dict | None:
    """Score the reference models on this version and the one before it (see the module docstring)."""
    if not models:
        return None
    earlier = [v for v in released_versions(benchmark_dir) if v < version]
    if not earlier:
        report(f"calibration skipped: v{version} is the first release of {config.benchmark}, nothing to compare with")
        return None
    recorded = read_index(release_dir).get("calibration")
    if not changed and recorded and sorted(r["model"] for r in recorded["references"]) == sorted(
            _identity(model) for model in models):
        report(f"calibration of v{version} against v{recorded['previous_version']} is already recorded")
        return recorded
    from benchscore.calibration import calibrate  # scoring is needed only here

    previous = released_versions(benchmark_dir)[max(earlier)]
    return calibrate(release_dir, previous, models, benchmark=config.benchmark, tolerance=tolerance,
                     scoring_flags=_flags(_scoring_args(config, cache_dir)), report=report)


def _scoring_args(config: ReleaseConfig, cache_dir: Path | None) -> dict:
    """The config's scoring flags; a --cache-dir of the rebuild serves scoring too unless they name one."""
    if cache_dir is None or "cache_dir" in {key.replace("-", "_") for key in config.scoring_args}:
        return config.scoring_args
    return {**config.scoring_args, "cache_dir": str(cache_dir)}


def _identity(model: str, role: str = "reference model") -> str:
    """provider:model, as results name a model (no server URL)."""
    from builders.llm.errors import ConfigError
    from builders.llm.models import parse_model

    try:
        spec = parse_model(model)
    except ConfigError as error:
        raise ValueError(f"{role}: {error}") from None
    return f"{spec.provider}:{spec.model}"


def _flags(arguments: dict) -> list[str]:
    """{"cache_dir": "x", "triples": true} -> ["--cache-dir", "x", "--triples"]."""
    flags = []
    for key, value in sorted(arguments.items()):
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            flags.append(flag)
        elif value not in (False, None):
            flags += [flag, str(value)]
    return flags
