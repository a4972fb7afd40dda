"""Benchmarks of the toolkit. Each module here exposes `main(argv) -> list[Figure]`.

`python -m bench` runs them all; `python -m bench.<module> --help` runs one with its options.
"""

from __future__ import annotations

from dataclasses import dataclass

WITHIN = 0.20  # the "~" target: within 20% of the reference (builders.figures.LENGTH_TOLERANCE)


@dataclass(frozen=True)
class Figure:
    """One measured number, with its target when there is one."""

    name: str
    value: float
    unit: str = ""
    # e.g. "< 60", ">= 0.95", "~ 24.7" (within 20%), "in 120-480" (a range); empty when informative only
    target: str = ""

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        operator, _, bound = self.target.partition(" ")
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__,
                   "~": lambda value, reference: abs(value / reference - 1) <= WITHIN,
                   "in": lambda value, span: _in_range(value, span)}
        if operator not in compare:
            raise ValueError(f"target {self.target!r} must look like '< 60', '>= 0.95', '~ 24.7' or 'in 120-480'")
        return compare[operator](float(self.value), bound if operator == "in" else float(bound))


def _in_range(value: float, span: str) -> bool:
    low, _, high = span.partition("-")
    return float(low) <= value <= float(high)


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
