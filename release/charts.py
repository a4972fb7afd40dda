"""Small deterministic PNG bar charts for the card.

Figures are drawn with the Agg canvas directly (no pyplot, no global backend switch) at a fixed
size and dpi, and saved without the PNG `Software` text chunk, so the same counts give the same bytes.

Bars must be told apart: a label too long for the axis is cut, and when cut labels collide (ToMATO's
Big Five patterns all begin "Openness to Experience - ...") the bars get compact codes with a legend
under the axes instead (`chart_labels`). Bar heights are counts, so the count axis has integer ticks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

FIGURE_SIZE_INCHES = (5.0, 3.0)
DPI = 100
BAR_COLOR = "#4C72B0"
MAX_BARS = 40  # more categories than this are not readable in a 500-px chart
LABEL_WIDTH = 18  # characters of a tick label before it is cut
LEGEND_WIDTH = 95  # characters of a legend line at the legend's font size, in a 500-px figure
LEGEND_LINE_INCHES = 0.14
AXIS_CHARS = 64  # tick-label characters that fit side by side along the 500-px axis
RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "release", "path.simplify": True}
# values of "Trait - Level" parts as one-character codes (ToMATO's Big Five levels)
LEVEL_CODES = {"high": "+", "low": "-"}


def bar_chart(path: Path, title: str, labels: list[str], counts: list[int]) -> None:
    figure = bar_figure(title, labels, counts)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def bar_figure(title: str, labels: list[str], counts: list[int]) -> Figure:
    labels, counts = labels[:MAX_BARS], counts[:MAX_BARS]
    ticks, legend = chart_labels(labels)
    lines = [line for entry in legend for line in textwrap.wrap(entry, LEGEND_WIDTH)]
    legend_inches = LEGEND_LINE_INCHES * (len(lines) + 1) if lines else 0.0
    width, height = FIGURE_SIZE_INCHES
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(width, height + legend_inches), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        axes.bar(positions, counts, color=BAR_COLOR)
        rotate = len(labels) > 4 or _too_wide(ticks)
        axes.set_xticks(positions, ticks, rotation=30 if rotate else 0, ha="right" if rotate else "center")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: never a tick at 0.5 rows
        axes.set_title(title)
        axes.set_ylabel("rows")
        if lines:
            figure.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom", ha="left")
            figure.tight_layout(rect=(0, legend_inches / (height + legend_inches), 1, 1))
        else:
            figure.tight_layout()
    return figure


def chart_labels(labels: list[str]) -> tuple[list[str], list[str]]:
    """(one tick label per bar, legend lines explaining them), every tick label distinct.

    The labels themselves when they fit; cut ones when those stay distinct; else compact codes for
    labels made of "Key - Value" parts joined by "; " (`O+ C- E+ A- N-`, a legend naming the keys and
    values); else the bars are numbered and the legend gives each number's label.
    """
    cut = [_shorten(label) for label in labels]
    if len(set(cut)) == len(cut):
        return cut, []
    coded = _part_codes(labels)
    if coded is not None:
        return coded
    numbers = [str(index + 1) for index in range(len(labels))]
    return numbers, [f"{number}: {label}" for number, label in zip(numbers, labels)]


def _part_codes(labels: list[str]) -> tuple[list[str], list[str]] | None:
    """Codes for labels of "Key - Value" parts with the same keys in the same order, or None."""
    parsed = [[part.partition(" - ") for part in label.split("; ")] for label in labels]
    if not parsed or any(sep != " - " for parts in parsed for _, sep, _ in parts):
        return None
    keys = [key for key, _, _ in parsed[0]]
    if any([key for key, _, _ in parts] != keys for parts in parsed):
        return None
    key_codes = _initials(keys)
    values = sorted({value for parts in parsed for _, _, value in parts})
    value_codes = {value: LEVEL_CODES.get(value.lower(), value[:1]) for value in values}
    if key_codes is None or len(set(value_codes.values())) != len(values):
        return None
    ticks = [" ".join(code + value_codes[value] for code, (_, _, value) in zip(key_codes, parts)) for parts in parsed]
    if len(set(ticks)) != len(ticks):
        return None
    legend = [", ".join(f"{code} {key}" for code, key in zip(key_codes, keys)) + "; "
              + ", ".join(f"{value_codes[value]} {value}" for value in values)]
    return ticks, legend


def _initials(keys: list[str]) -> list[str] | None:
    """The shortest distinct prefixes (1 or 2 letters) of the keys, or None."""
    for size in (1, 2):
        codes = [key[:size] for key in keys]
        if len(set(codes)) == len(codes):
            return codes
    return None


def _too_wide(ticks: list[str]) -> bool:
    """Whether level tick labels would run into each other (about AXIS_CHARS characters span the axis)."""
    return bool(ticks) and max(len(tick) for tick in ticks) > AXIS_CHARS // len(ticks)


def _shorten(label: str, width: int = LABEL_WIDTH) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
