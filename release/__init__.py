"""Versioned releases of built datasets: layout, manifest, card, Hub push, rebuilds."""

from release.writer import ReleaseResult, write_release

__all__ = ["ReleaseResult", "write_release"]
