"""Rendering the dataset card (README.md) of a release.

The body comes from `cards/<benchmark>.md`, a Jinja template extending `cards/_base.md`; the
benchmark template writes only its description, citation and (optionally) its lm-eval task. The
YAML front matter is built here from the benchmark descriptor and the Arrow schema, so the Hub
viewer and `datasets` see the same explicit types as the parquet files.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa
from huggingface_hub import DatasetCard

from builders.benchmark import Benchmark
from builders.licenses import model_providers, release_license
from release.card_merge import compose_card, refresh_sections
from release.parquet_io import split_glob
from release.resources import card_environment, card_template_name
from release.stats import Distribution, size_category

# Build-report keys with a section of their own in cards/_base.md (not the generic rendering).
OWN_SECTIONS = ("calls", "profiles", "original_comparison", "shortcut_audit")
# Where a release without a Hub repo is loaded from, in its card's snippets and lm-eval tasks. A bare
# `tomato/v1.0.0` is what `datasets` (5.x) reads as a Hub repo id (user `tomato`) whenever no such
# folder is under the working directory, so online it could fetch someone else's repo. A path that
# starts with `./` and holds more than one `/` is never taken for a repo id: `datasets` opens it as
# a local folder or fails with "not found". An absolute path would be unambiguous too, but it is this
# machine's, and a release must be byte-identical wherever it is built. So the card names the path
# as seen from the folder holding the builders' default `--out` (`releases`), says so, and gives the
# form that works from inside the release folder (`os.getcwd()`: `datasets` names a dataset after the
# path's last part, and "." has none).
LOCAL_RELEASES_ROOT = "./releases"
# The `dataset_path` cards written before the local path above carried; still read by
# release/lm_eval_task.py.
LM_EVAL_LOCAL_PLACEHOLDER = "<Hub repo or release folder>"
# Build-report keys shown first, in this order; any other key follows alphabetically.
BUILD_REPORT_ORDER = ("funnel", "models", "prompt_hashes", "parameters", "seed", "seeds", "filters",
                      "dedup", "costs", "timings")


@dataclass(frozen=True)
class Chart:
    title: str
    path: str  # relative to the release root, e.g. charts/mental_state.png


@dataclass(frozen=True)
class ConfigStats:
    """The statistics tables of one released config."""

    config: str
    distributions: list[Distribution]  # of benchmark.stats_fields
    answer_positions: Distribution | None  # of benchmark.answer_field


@dataclass(frozen=True)
class CardInputs:
    """Everything the card shows that is not in the benchmark descriptor."""

    version: str
    previous_version: str | None
    content_hash: str
    repo_id: str | None
    arrow_schema: pa.Schema
    counts: dict[str, dict[str, int]]  # config -> split -> rows; released (non-empty) configs only
    split_bytes: dict[str, dict[str, int]]  # config -> split -> in-memory Arrow bytes
    stats: list[ConfigStats]  # one per config of `counts`, in the same order
    charts: list[Chart]  # of the default config only: one set keeps the card short
    build_report: dict
    leakage: dict  # release.leakage.check_leakage's report, as in the manifest

    @property
    def default_config(self) -> str:
        """The first released config: the benchmark's first declared config unless it is empty."""
        return next(iter(self.counts))


def front_matter(benchmark: Benchmark, inputs: CardInputs) -> dict:
    features = datasets.Features.from_arrow_schema(inputs.arrow_schema)._to_yaml_list()
    configs = [_config_entry(config, splits, inputs.default_config) for config, splits in inputs.counts.items()]
    dataset_info = [
        {
            "config_name": config,
            "features": copy.deepcopy(features),  # no YAML anchors/aliases in the card
            "splits": [
                {"name": split, "num_bytes": inputs.split_bytes[config][split], "num_examples": rows}
                for split, rows in splits.items()
            ],
        }
        for config, splits in inputs.counts.items()
    ]
    largest = max((sum(splits.values()) for splits in inputs.counts.values()), default=0)
    return {
        "license": release_license(inputs.build_report, benchmark.license)[0],
        "language": list(benchmark.language),
        "task_categories": list(benchmark.task_categories),
        "size_categories": [size_category(largest)],
        "pretty_name": benchmark.pretty_name,
        "tags": list(benchmark.tags),
        "configs": configs,
        "dataset_info": dataset_info,
    }


def render_card(benchmark: Benchmark, inputs: CardInputs, resources_root: Path | None = None) -> str:
    text = compose_card(front_matter(benchmark, inputs), render_body(benchmark, inputs, resources_root))
    DatasetCard(text)  # fails loudly here, not on the Hub, if the YAML is malformed
    return text


def render_body(benchmark: Benchmark, inputs: CardInputs, resources_root: Path | None = None) -> str:
    environment = card_environment(resources_root)
    environment.filters["cell"] = _table_cell
    template = environment.get_template(card_template_name(benchmark.name, resources_root))
    return template.render(**_body_context(benchmark, inputs))


def local_dataset_path(benchmark_name: str, version: str) -> str:
    """The release folder as the card names it when no Hub repo was named (see LOCAL_RELEASES_ROOT)."""
    return f"{LOCAL_RELEASES_ROOT}/{benchmark_name}/v{version}"


def default_charts(stats: ConfigStats) -> list[Chart]:
    """The charts a release draws for its default config's tables (release/writer.py draws them)."""
    charts = [Chart(title=dist.field, path=f"charts/{dist.field}.png") for dist in stats.distributions]
    if stats.answer_positions is not None:
        charts.append(Chart(title=f"answer position ({stats.answer_positions.field})",
                            path="charts/answer_position.png"))
    return charts


def card_for_repo(release_dir: Path, manifest: dict, repo_id: str) -> str:
    """The release's card with its owned sections rendered for `repo_id` (load snippets and lm-eval
    tasks naming the repo and the tag), for a push to a repo the release was not built for.

    Only the card changes: its inputs are read back from the release folder (manifest, parquet
    shards), the front matter is the local card's, and an owned section the build did not render
    (the results table that `python -m benchscore` adds) is kept.
    """
    from release.export import builder_benchmark  # release.export and release.writer import this module
    from release.writer import config_stats

    local = (release_dir / "README.md").read_text(encoding="utf-8")
    if manifest.get("repo_id") == repo_id:
        return local
    benchmark = builder_benchmark(manifest["benchmark"])
    # the card's order of configs and splits (the manifest's JSON sorts them): its front matter's
    counts = {entry["config_name"]: {files["split"]: manifest["counts"][entry["config_name"]][files["split"]]
                                     for files in entry["data_files"]}
              for entry in DatasetCard(local).data.to_dict()["configs"]}
    prefixes = {config: {split: f"data/{config}/{split}-" for split in splits} for config, splits in counts.items()}
    shards = {config: {split: [release_dir / path for path in sorted(manifest["files"]) if path.startswith(prefix)]
                       for split, prefix in splits.items()} for config, splits in prefixes.items()}
    stats = [config_stats(benchmark, config, paths) for config, paths in shards.items()]
    inputs = CardInputs(
        version=manifest["version"], previous_version=manifest.get("previous_version"),
        content_hash=manifest["content_hash"], repo_id=repo_id, arrow_schema=pa.schema([]),
        counts=counts, split_bytes={}, stats=stats, charts=default_charts(stats[0]),
        build_report=manifest.get("build_report") or {}, leakage=manifest.get("leakage") or {})
    rendered = compose_card(DatasetCard(local).data.to_dict(), render_body(benchmark, inputs))
    return refresh_sections(local, rendered)


def _config_entry(config: str, splits: dict[str, int], default_config: str) -> dict:
    entry = {
        "config_name": config,
        "data_files": [{"split": split, "path": split_glob(config, split)} for split in splits],
    }
    if config == default_config:
        entry["default"] = True
    return entry


def _body_context(benchmark: Benchmark, inputs: CardInputs) -> dict:
    splits = sorted({split for splits in inputs.counts.values() for split in splits})
    eval_split = "test" if "test" in splits else splits[0]
    license_id, license_chosen = release_license(inputs.build_report, benchmark.license)
    return {
        "benchmark": benchmark,
        "version": inputs.version,
        "tag": f"v{inputs.version}",
        "previous_version": inputs.previous_version,
        "content_hash": inputs.content_hash,
        "repo_id": inputs.repo_id,
        "dataset_path": inputs.repo_id or local_dataset_path(benchmark.name, inputs.version),
        "lm_eval_dataset_path": inputs.repo_id or local_dataset_path(benchmark.name, inputs.version),
        "local_releases_root": LOCAL_RELEASES_ROOT,
        "splits": splits,
        "present": _present_values(inputs),
        "license_id": license_id,
        "license_chosen": license_chosen,
        "providers": model_providers(inputs.build_report.get("models") or {}),
        "default_config": inputs.default_config,
        "counts": inputs.counts,
        "config_stats": inputs.stats,
        "answer_field": benchmark.answer_field,
        "charts": inputs.charts,
        "build_sections": build_sections({k: v for k, v in inputs.build_report.items() if k not in OWN_SECTIONS}),
        "calls": inputs.build_report.get("calls"),
        "profiles": inputs.build_report.get("profiles"),
        "models": inputs.build_report.get("models") or {},
        "original_comparison": inputs.build_report.get("original_comparison") or [],
        "shortcut_audit": inputs.build_report.get("shortcut_audit"),
        "smoke_test_models": _smoke_test_models(inputs.build_report),
        "eval_split": eval_split,
        "leakage": inputs.leakage,
    }


def _present_values(inputs: CardInputs):
    """`present(field, config=None)`: {value: rows} of a stats field in a config (default: the default
    config), nulls left out, in the table's order. Card text that names the values a release has
    (mental states, orders, tracks) takes them from here, never from the benchmark's design."""
    by_config = {stats.config: {dist.field: dist for dist in stats.distributions} for stats in inputs.stats}

    def present(field: str, config: str | None = None) -> dict[str, int]:
        dist = by_config.get(config or inputs.default_config, {}).get(field)
        if dist is None:
            return {}
        return {value: dist.totals[value] for value in dist.values if value != "null" and dist.totals[value]}

    return present


def _smoke_test_models(report: dict) -> list[tuple[str, str]]:
    """(role, model) of every model whose profile says it is a smoke-test model: the card then says,
    at the top, that the release is not fit for evaluation. A judge is named only when it judged."""
    profiles, models = report.get("profiles") or {}, report.get("models") or {}
    return [(role, models.get(role, profile.get("name", role))) for role, profile in profiles.items()
            if profile.get("smoke_test") and (role == "generator" or models.get(role) != models.get("generator"))]


def build_sections(report: dict) -> list[dict]:
    """The build report as titled blocks: a table, a list, a line of text, or a JSON block."""
    known = [key for key in BUILD_REPORT_ORDER if key in report]
    rest = sorted(key for key in report if key not in BUILD_REPORT_ORDER)
    return [_section(key, report[key]) for key in known + rest]


def _section(key: str, value) -> dict:
    title = key.replace("_", " ").capitalize()
    if isinstance(value, dict) and value and all(_is_scalar(v) for v in value.values()):
        return {"title": title, "kind": "table", "rows": [(k, _scalar_text(v)) for k, v in value.items()]}
    if isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value):
        return {"title": title, "kind": "list", "items": [_scalar_text(v) for v in value]}
    if _is_scalar(value):
        return {"title": title, "kind": "text", "text": _scalar_text(value)}
    return {"title": title, "kind": "json",
            "text": json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str)}


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar_text(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _table_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
