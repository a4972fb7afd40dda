"""Scheduled rebuilds: run a benchmark's builder from a checked-in config, then publish if changed.

The builder runs as a subprocess (`python -m builders.<benchmark> ...`), so builders stay
independent of the release tooling and a crashing build cannot leave this process half-done. The
builder writes the release itself (through `write_release`, which reports a no-op for unchanged
data); the push then compares content hashes with the Hub and commits only when they differ.

Release config (YAML), e.g. release/configs/tomato.yaml:
    benchmark: tomato              # required
    model: local:smollm2           # required
    n: 200                         # required: how many items the builder aims for
    seed: 0                        # required
    version_policy: patch          # patch | minor | major
    hub_repo: org/tomato           # optional: no push without it
    releases_root: releases        # relative paths are relative to the working directory
    builder_module: builders.tomato  # optional, default builders.<benchmark>
    builder_args: {}               # optional extra `--key value` flags for the builder
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from release.hub import PushResult, push_release
from release.versioning import BUMPS, latest_release

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
REQUIRED_KEYS = ("benchmark", "model", "n", "seed")


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

    @property
    def module(self) -> str:
        return self.builder_module or f"builders.{self.benchmark}"


@dataclass
class RebuildResult:
    config: ReleaseConfig
    version: str
    changed: bool  # the build produced a new release version
    push: PushResult | None


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
    raw["releases_root"] = Path(raw.get("releases_root", "releases"))
    return ReleaseConfig(**raw)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"release config {path} not found; pass an existing YAML file "
                                f"(the checked-in ones are in {CONFIG_DIR}).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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


# What each key must be; a wrong type would otherwise surface later as a builder's usage error.
_KEY_TYPES = {"benchmark": (str, "a benchmark name"), "model": (str, "a model string"), "n": (int, "a whole number"),
              "seed": (int, "a whole number"), "version_policy": (str, "patch, minor or major"),
              "hub_repo": (str, "org/name"), "releases_root": (str, "a folder path"),
              "builder_module": (str, "a module name"), "builder_args": (dict, "a mapping of flag: value")}


def _check_types(path: Path, raw: dict) -> None:
    for key, value in raw.items():
        kind, meaning = _KEY_TYPES[key]
        if value is None and key in ("hub_repo", "builder_module"):
            continue  # optional keys may be left empty
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{path}: {key} must be {meaning}, got {value!r}.")
    if raw["n"] < 1:
        raise ValueError(f"{path}: n must be at least 1, got {raw['n']}.")


def config_path_for(benchmark: str) -> Path:
    return CONFIG_DIR / f"{benchmark}.yaml"


def all_config_paths() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.yaml"))


def builder_command(config: ReleaseConfig) -> list[str]:
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
    for key, value in sorted(config.builder_args.items()):
        command += [f"--{key.replace('_', '-')}", str(value)]
    return command


def rebuild(config: ReleaseConfig, *, push: bool = True, dry_run: bool = False, report=print) -> RebuildResult:
    benchmark_dir = config.releases_root / config.benchmark
    before = latest_release(benchmark_dir)
    report(f"rebuilding {config.benchmark}: {' '.join(builder_command(config)[1:])}")
    completed = subprocess.run(builder_command(config), check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"builder {config.module} exited with status {completed.returncode}; nothing was pushed.")
    after = latest_release(benchmark_dir)
    if after is None:
        raise RuntimeError(f"builder {config.module} finished but wrote no release under {benchmark_dir}.")
    version, release_dir = after
    changed = before is None or before[0] != version
    report(f"{config.benchmark}: {'new release v' + str(version) if changed else 'unchanged, latest is v' + str(version)}")
    push_result = None
    if push and config.hub_repo:
        # Always ask the Hub: it no-ops on identical content, and it finishes an earlier push that failed.
        push_result = push_release(release_dir, config.hub_repo, dry_run=dry_run, report=report)
    return RebuildResult(config, str(version), changed, push_result)
