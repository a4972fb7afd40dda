"""Semantic versions of releases and where they live on disk.

Releases are folders `<releases_root>/<benchmark>/vX.Y.Z/`. A folder counts as a release only when
it holds `manifest.json`, which is written last, so a crashed write never looks like a release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FIRST_VERSION = "1.0.0"
BUMPS = ("patch", "minor", "major")
_VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


class VersionError(ValueError):
    """A requested version is malformed, already released, or goes backwards."""


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise VersionError(f"{text!r} is not a semantic version; use X.Y.Z (e.g. 1.2.0).")
        return cls(*(int(part) for part in match.groups()))

    def bump(self, kind: str) -> Version:
        if kind == "major":
            return Version(self.major + 1, 0, 0)
        if kind == "minor":
            return Version(self.major, self.minor + 1, 0)
        if kind == "patch":
            return Version(self.major, self.minor, self.patch + 1)
        raise VersionError(f"unknown bump {kind!r}; use one of {', '.join(BUMPS)}.")

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def tag(self) -> str:
        return f"v{self}"


def released_versions(benchmark_dir: Path) -> dict[Version, Path]:
    """Complete releases under one benchmark folder, by version."""
    found: dict[Version, Path] = {}
    if not benchmark_dir.is_dir():
        return found
    for child in benchmark_dir.iterdir():
        if child.is_dir() and _VERSION.match(child.name) and child.name.startswith("v"):
            if (child / "manifest.json").is_file():
                found[Version.parse(child.name)] = child
    return found


def latest_release(benchmark_dir: Path) -> tuple[Version, Path] | None:
    versions = released_versions(benchmark_dir)
    if not versions:
        return None
    newest = max(versions)
    return newest, versions[newest]


def next_version(
    previous: Version | None,
    existing: set[Version],
    *,
    requested: str | None,
    bump: str,
) -> Version:
    """The version of a new release: `requested` if valid, else `previous` bumped by `bump`."""
    if bump not in BUMPS:
        raise VersionError(f"unknown bump {bump!r}; use one of {', '.join(BUMPS)}.")
    if requested is None:
        return previous.bump(bump) if previous else Version.parse(FIRST_VERSION)
    version = Version.parse(requested)
    if version in existing:
        raise VersionError(f"version {version.tag} already exists; releases are immutable, pick a new one.")
    if previous is not None and version < previous:
        raise VersionError(
            f"version {version.tag} goes backwards: the latest release is {previous.tag}; "
            "request a higher version or omit it to bump automatically."
        )
    return version
