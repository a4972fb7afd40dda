"""A Moral RolePlay scene as the simulation and the judge need it, read from release rows.

Every row of a scene (one per portrayal) carries the whole scene; free-form objects
(`character_profiles`) are stored as JSON text in the parquet and decoded here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ENVIRONMENT = "Environment"


@dataclass(frozen=True)
class Line:
    speaker: str
    text: str


@dataclass(frozen=True)
class Scene:
    case_key: str
    book: str
    scenario: str
    plot_summary: str
    speakers: tuple[str, ...]  # speaking_characters_w_env: by turn count, Environment included
    majors: tuple[str, ...]  # major_characters: the characters the judge evaluates
    profiles: dict[str, str]  # name -> plot-level description + narrative profile
    thoughts: dict[str, str]  # name -> the character's motivation before the scene
    traits: dict[str, list[str]]  # name -> key traits
    original: tuple[Line, ...]  # the source conversation, thoughts stripped

    @property
    def actors(self) -> list[str]:
        """Characters the model under test plays: every speaker, and every major character."""
        return [name for name in dict.fromkeys([*self.speakers, *self.majors]) if name != ENVIRONMENT]

    def profile(self, name: str) -> str:
        return self.profiles.get(name) or f"{name}, a character of {self.book} (no profile in the release)."


def scene_of(row: dict) -> Scene:
    key_characters = {k["name"]: k for k in row["key_characters"]}
    descriptions = {k["name"]: k.get("description") or "" for k in (row["plot"] or {}).get("key_characters") or []}
    narrative = _decoded(row["character_profiles"]) or {}
    names = set(descriptions) | set(narrative)
    profiles = {name: "\n".join(part for part in (descriptions.get(name), narrative.get(name)) if part)
                for name in sorted(names)}
    return Scene(
        case_key=row["case_key"], book=row["book"], scenario=row["scenario"],
        plot_summary=(row["plot"] or {}).get("summary") or "",
        speakers=tuple(row["speaking_characters_w_env"]), majors=tuple(row["major_characters"]),
        profiles=profiles,
        thoughts={name: k.get("thought") or "" for name, k in key_characters.items()},
        traits={name: list(k["morality_classification"]["key_traits"]) for name, k in key_characters.items()},
        original=tuple(Line(d["character"], strip_thoughts(d["message"])) for d in row["dialogues"]),
    )


def strip_thoughts(message: str) -> str:
    """What other characters perceive: the message without its [inner thoughts]."""
    return " ".join(re.sub(r"\[[^\]]*\]", " ", message).split())


def _decoded(value):
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
