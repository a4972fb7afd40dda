"""The release's view of the project resources: a benchmark's JSON schema and card templates.

Paths come from `builders.resources`. Callers (tests, other checkouts) may point at another root
holding `schemas/` and `cards/`; card templates are looked up there first and then in the
repository's `cards/`, so a benchmark template anywhere can extend `_base.md`.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from builders.resources import CARDS, ROOT, cards_dir, schema_path

REPO_ROOT = ROOT  # the name release code and tests import


def load_json_schema(benchmark_name: str, root: Path | None = None) -> dict:
    path = schema_path(benchmark_name, root)
    if not path.is_file():
        raise FileNotFoundError(
            f"no JSON schema for benchmark {benchmark_name!r} at {path}; a release derives its "
            "Arrow schema from it, so add schemas/<benchmark>.schema.json first."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def card_template_name(benchmark_name: str, root: Path | None = None) -> str:
    name = f"{benchmark_name}.md"
    searched = _card_dirs(root)
    if not any((folder / name).is_file() for folder in searched):
        raise FileNotFoundError(
            f"no card template {name!r} in {', '.join(map(str, searched))}; write cards/{name} "
            "extending _base.md with `description` and `citation` blocks."
        )
    return name


def card_environment(root: Path | None = None) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in _card_dirs(root)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # markdown, not HTML
    )


def _card_dirs(root: Path | None) -> list[Path]:
    dirs = [cards_dir(root)]
    if CARDS not in dirs:
        dirs.append(CARDS)
    return dirs
