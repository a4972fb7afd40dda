"""Where the project's data files live: schemas/, prompts/ and cards/ at the repository root.

This is the one module that knows the layout. Release tooling and tests may point at another
root holding the same folders (`root=`), for instance a temporary one with a test benchmark.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
PROMPTS = ROOT / "prompts"
CARDS = ROOT / "cards"


def schema_path(benchmark: str, root: Path | None = None) -> Path:
    """`schemas/<benchmark>.schema.json` under `root` (default: the repository root)."""
    return (Path(root) if root else ROOT) / "schemas" / f"{benchmark}.schema.json"


def cards_dir(root: Path | None = None) -> Path:
    """`cards/` under `root` (default: the repository root)."""
    return (Path(root) if root else ROOT) / "cards"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def load_schema(benchmark: str) -> dict:
    path = schema_path(benchmark)
    if not path.is_file():
        raise FileNotFoundError(f"no schema for benchmark {benchmark!r}: expected {path}")
    return json.loads(path.read_text())


def prompt_hashes(benchmark: str) -> dict[str, str]:
    """sha256 of every prompt template of a benchmark, by path under prompts/: provenance of a release."""
    folder = PROMPTS / benchmark
    return {str(p.relative_to(PROMPTS)): file_sha256(p) for p in sorted(folder.rglob("*.j2"))}
