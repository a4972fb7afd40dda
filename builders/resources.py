"""Where the project's data files live: schemas/, prompts/ and cards/ at the repository root."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
PROMPTS = ROOT / "prompts"
CARDS = ROOT / "cards"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def load_schema(benchmark: str) -> dict:
    path = SCHEMAS / f"{benchmark}.schema.json"
    if not path.is_file():
        raise FileNotFoundError(f"no schema for benchmark {benchmark!r}: expected {path}")
    return json.loads(path.read_text())


def prompt_hashes(benchmark: str) -> dict[str, str]:
    """sha256 of every prompt template of a benchmark, by path under prompts/: provenance of a release."""
    folder = PROMPTS / benchmark
    return {str(p.relative_to(PROMPTS)): file_sha256(p) for p in sorted(folder.rglob("*.j2"))}
