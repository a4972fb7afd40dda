"""Small deterministic PNG bar charts for the card.

Figures are drawn with the Agg canvas directly (no pyplot, no global backend switch) at a fixed
size and dpi, and saved without the PNG `Software` text chunk, so the same counts give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGURE_SIZE_INCHES = (5.0, 3.0)
DPI = 100
BAR_COLOR = "#4C72B0"
MAX_BARS = 40  # more categories than this are not readable in a 500-px chart
RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "release", "path.simplify": True}


def bar_chart(path: Path, title: str, labels: list[str], counts: list[int]) -> None:
    labels, counts = labels[:MAX_BARS], counts[:MAX_BARS]
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        axes.bar(positions, counts, color=BAR_COLOR)
        axes.set_xticks(positions, [_shorten(label) for label in labels],
                        rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
        axes.set_title(title)
        axes.set_ylabel("rows")
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _shorten(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
