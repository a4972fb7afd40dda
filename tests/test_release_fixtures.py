"""Shared helpers for the release tests: a small benchmark with its own schema and card template.

Nothing here depends on a real builder; the benchmark, its JSON schema and its card template are
written into a temporary resources root (schemas/, cards/) that `write_release` is pointed at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.benchmark import Benchmark

QUIZ_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "question", "options", "answer_idx", "category", "level", "meta"],
    "properties": {
        "id": {"type": "string"},
        "question": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
        "answer_idx": {"type": "integer", "minimum": 0, "maximum": 3},
        "category": {"enum": ["belief", "desire", "emotion"]},
        "level": {"enum": [1, 2, 3]},
        "score": {"type": "number"},
        "hard": {"type": "boolean"},
        "notes": {"type": ["string", "null"]},
        "meta": {"$ref": "#/$defs/meta"},
        "extra": {"type": "object"},
    },
    "$defs": {
        "meta": {
            "type": "object",
            "required": ["model", "seed"],
            "properties": {
                "model": {"type": "string"},
                "seed": {"type": "integer"},
                "samples": {"type": "array", "items": {"type": "integer"}},
            },
        }
    },
}

QUIZ_CARD = """{% extends "_base.md" %}
{% block description %}
Quiz is a tiny test benchmark of multiple-choice questions.
{% endblock %}
{% block citation %}
```bibtex
@misc{quiz2025, title = {Quiz}, year = {2025}}
```
{% endblock %}
"""


def quiz_benchmark(**overrides) -> Benchmark:
    fields = dict(
        name="quiz",
        pretty_name="Quiz",
        id_field="id",
        group=lambda r: r["id"],
        dedup_text=lambda r: r["question"],
        configs={"all": lambda r: True, "hard": lambda r: r["level"] >= 2},
        splits={"test": 0.8, "validation": 0.2},
        stats_fields=("category", "level"),
        answer_field="answer_idx",
        tags=("theory-of-mind", "test"),
    )
    fields.update(overrides)
    return Benchmark(**fields)


def quiz_record(i: int, *, question: str | None = None) -> dict:
    record = {
        "id": f"q{i:04d}",
        "question": question or f"What does person {i} believe?",
        "options": [f"option {i}-{k}" for k in range(4)],
        "answer_idx": i % 4,
        "category": ["belief", "desire", "emotion"][i % 3],
        "level": 1 + i % 3,
        "score": i / 7,
        "hard": i % 2 == 0,
        "meta": {"model": "local:smollm2", "seed": 7, "samples": [i, i + 1]},
        "extra": {"zeta": i, "alpha": {"nested": [1, 2]}},
    }
    if i % 5 == 0:
        record["notes"] = None
    elif i % 5 == 1:
        record["notes"] = f"note {i}"
    return record


def quiz_splits(benchmark: Benchmark, records: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """Deterministic split by index parity of the id number, then config membership."""
    by_split = {
        "test": [r for r in records if int(r["id"][1:]) % 5 != 0],
        "validation": [r for r in records if int(r["id"][1:]) % 5 == 0],
    }
    return {
        config: {split: [r for r in rows if member(r)] for split, rows in by_split.items()}
        for config, member in benchmark.configs.items()
    }


BUILD_REPORT = {
    "funnel": {"generated": 40, "valid": 36, "deduped": 30},
    "models": ["local:smollm2"],
    "prompt_hashes": {"quiz.question": "ab12cd34"},
    "parameters": {"temperature": 0.7, "max_tokens": 256},
    "seed": 7,
    "dedup": {"threshold": 0.85, "num_perm": 128, "removed": {"exact": 2, "near": 4}},
    "costs": {"usd": 0.0, "tokens": 12345},
}



def write_quiz_release(resources_root: Path, releases_root: Path, n: int = 40, **kwargs):
    """A quiz release of n records, written by the real release writer (kwargs go to write_release)."""
    from release import write_release

    benchmark = quiz_benchmark()
    records = [quiz_record(i) for i in range(n)]
    return write_release(benchmark, quiz_splits(benchmark, records), BUILD_REPORT, releases_root,
                         resources_root=resources_root, **kwargs)

@pytest.fixture
def resources_root(tmp_path: Path) -> Path:
    root = tmp_path / "resources"
    (root / "schemas").mkdir(parents=True)
    (root / "cards").mkdir()
    (root / "schemas" / "quiz.schema.json").write_text(json.dumps(QUIZ_SCHEMA), encoding="utf-8")
    (root / "cards" / "quiz.md").write_text(QUIZ_CARD, encoding="utf-8")
    return root


@pytest.fixture
def releases_root(tmp_path: Path) -> Path:
    return tmp_path / "releases"
