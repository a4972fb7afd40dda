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
from release.card_merge import compose_card
from release.parquet_io import split_glob
from release.resources import card_environment, card_template_name
from release.stats import Distribution, size_category

# Build-report keys with a section of their own in cards/_base.md (not the generic rendering).
OWN_SECTIONS = ("calls", "profiles", "original_comparison", "shortcut_audit")
# `dataset_path` of the card's lm-evaluation-harness tasks when the release names no Hub repo. Not a
# path: a release must be byte-identical wherever it is built, so the card cannot hold this machine's
# path. `python -m release lm-eval-task` (release/lm_eval_task.py) writes the tasks with a real one.
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
        "license": benchmark.license,
        "language": list(benchmark.language),
        "task_categories": list(benchmark.task_categories),
        "size_categories": [size_category(largest)],
        "pretty_name": benchmark.pretty_name,
        "tags": list(benchmark.tags),
        "configs": configs,
        "dataset_info": dataset_info,
    }


def render_card(benchmark: Benchmark, inputs: CardInputs, resources_root: Path | None = None) -> str:
    environment = card_environment(resources_root)
    environment.filters["cell"] = _table_cell
    template = environment.get_template(card_template_name(benchmark.name, resources_root))
    body = template.render(**_body_context(benchmark, inputs))
    text = compose_card(front_matter(benchmark, inputs), body)
    DatasetCard(text)  # fails loudly here, not on the Hub, if the YAML is malformed
    return text


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
    return {
        "benchmark": benchmark,
        "version": inputs.version,
        "tag": f"v{inputs.version}",
        "previous_version": inputs.previous_version,
        "content_hash": inputs.content_hash,
        "repo_id": inputs.repo_id,
        "dataset_path": inputs.repo_id or f"{benchmark.name}/v{inputs.version}",
        "lm_eval_dataset_path": inputs.repo_id or LM_EVAL_LOCAL_PLACEHOLDER,
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
