"""Benchmarks of the toolkit. Each module here exposes `main(argv) -> list[Figure]`.

`python -m bench` runs them all; `python -m bench.<module> --help` runs one with its options.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured number, with its target when there is one."""

    name: str
    value: float
    unit: str = ""
    target: str = ""  # e.g. "< 60", ">= 0.95"; empty when the figure is informative only

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        operator, _, bound = self.target.partition(" ")
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}
        if operator not in compare:
            raise ValueError(f"target {self.target!r} must look like '< 60' or '>= 0.95'")
        return compare[operator](float(self.value), float(bound))


def format_table(title: str, figures: list[Figure]) -> str:
    """A plain-text table of figure, value, unit, target and whether it is met."""
    rows = [("figure", "value", "unit", "target", "met")]
    for figure in figures:
        met = {None: "", True: "yes", False: "NO"}[figure.met]
        rows.append((figure.name, _format_value(figure.value), figure.unit, figure.target, met))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [title]
    for index, row in enumerate(rows):
        cells = [cell.rjust(width) if column == 1 else cell.ljust(width) for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _format_value(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
