"""Prompt templates: Jinja2 files under prompts/, rendered strictly and hashed for provenance."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from .resources import PROMPTS, file_sha256

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(PROMPTS)),
    undefined=jinja2.StrictUndefined,  # a missing variable is an error, never an empty string in a prompt
    keep_trailing_newline=False,
    autoescape=False,
)


def render(name: str, **variables) -> str:
    """Render prompts/<name> (e.g. "tomato/turn_system.j2")."""
    return _environment.get_template(name).render(**variables).strip()


@lru_cache(maxsize=None)
def template_hash(name: str) -> str:
    """sha256 of the template file: it changes exactly when the prompt text changes."""
    return file_sha256(PROMPTS / name)
