"""One scoring run's results files: scores.json, predictions.parquet, and the run's name.

Both files are a function of the release, the options and the response cache only: no date, no
host, no server URL (an `openai-compatible:` model is named by its model name, as the response
cache names it), so scoring again gives byte-identical files. They are stored in the release
folder through `release.results`, which also lists them and updates the card.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq

import builders
from benchscore.protocol import Options, Prediction, Protocol
from builders.prompts import template_hash
from release.manifest import canonical_json
from release.parquet_io import PARQUET_OPTIONS

SCORES_NAME = "scores.json"
PREDICTIONS_NAME = "predictions.parquet"
SCORES_FORMAT = 1
PREDICTIONS_SCHEMA = pa.schema([
    ("id", pa.string()), ("config", pa.string()), ("sample", pa.int64()), ("gold", pa.string()),
    ("prediction", pa.string()), ("raw_reply", pa.string()), ("parsed", pa.bool_()), ("correct", pa.bool_()),
    ("value", pa.float64()), ("request_hash", pa.string()),
    ("probabilities", pa.string()),  # JSON: option name -> probability (PersonaEval), else null
    ("groups", pa.string()),  # JSON: the breakdown labels of the item
    ("details", pa.string()),  # JSON: how the reply was read, errors, per-character counts...
])


def model_identity(llm) -> str:
    """provider:model, without a server URL (where a model is served is not what was scored)."""
    return f"{llm.spec.provider}:{llm.spec.model}"


def run_name(protocol: Protocol, options: Options, *, model: str, judge: str | None, counts: dict) -> str:
    """The results folder name: the model, then every option that differs from the default (so a
    rerun with the same options replaces its own results and no other run's)."""
    parts = [_slug(model)]
    if protocol.judged and judge and judge != model:
        parts.append("judge-" + _slug(judge))
    if options.configs != default_configs_of(protocol, counts):
        parts.append("config-" + "-".join(options.configs))
    if options.split != "test":
        parts.append("split-" + options.split)
    if options.limit is not None:
        parts.append(f"limit{options.limit}")
    if options.seed != 0:
        parts.append(f"seed{options.seed}")
    return "--".join(parts + protocol.variant(options))


def default_configs_of(protocol: Protocol, counts: dict) -> tuple[str, ...]:
    return tuple(name for name in protocol.default_configs if name in counts)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def scores_document(protocol: Protocol, options: Options, summary: dict, *, manifest: dict, model: str,
                    model_profile: str, judge: str | None, judge_profile: str | None, warnings: list[str]) -> dict:
    templates = protocol.prompts(options)
    return {
        "format": SCORES_FORMAT,
        "benchmark": protocol.benchmark,
        "release": {"version": manifest["version"], "content_hash": manifest["content_hash"],
                    "repo_id": manifest.get("repo_id"), "configs": list(options.configs), "split": options.split},
        "model": model,
        "model_profile": model_profile,
        "judge": judge if protocol.judged else None,
        "judge_profile": judge_profile if protocol.judged else None,
        "protocol": {"metric": protocol.metric, "scale": protocol.scale,
                     "prompt_hashes": {name: template_hash(name) for name in templates},
                     "decoding": protocol.decoding(options),  # with the protocol's own options
                     "limit": options.limit},
        "seed": options.seed,
        "bootstrap": options.bootstrap.describe(),
        "toolkit_version": builders.__version__,
        "headline": summary["headline"],
        "breakdowns": summary["breakdowns"],
        "warnings": warnings,
    }


def index_entry(document: dict, run: str, variant: list[str]) -> dict:
    """What the results index (and the card's table) shows of a run."""
    headline = document["headline"]
    return {"run": run, "model": document["model"], "model_profile": document["model_profile"],
            "judge": document["judge"], "metric": document["protocol"]["metric"],
            "scale": document["protocol"]["scale"], "configs": document["release"]["configs"],
            "split": document["release"]["split"], "variant": variant, "value": headline["value"],
            "interval": headline["interval"], "n": headline["n"], "unparseable": headline["unparseable"]}


def scores_bytes(document: dict) -> bytes:
    return canonical_json(document)


def predictions_bytes(predictions: list[Prediction]) -> bytes:
    table = pa.Table.from_pylist([p.row() for p in predictions], schema=PREDICTIONS_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()
