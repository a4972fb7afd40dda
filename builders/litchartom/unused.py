"""Plots the scene layer paid for that give no timestep run, each a reject with its reason.

The scene layer extracts every chunk of every work before the first timestep runs, so each plot it
returns was paid for. A plot then gives records only through its timesteps; when it does not, the
build report says why, one reject per plot (stage "plots"):

- no timestep: none of its speaking key characters is a target (speaks as a key character in
  --min-plots plots, not a generic role); the plot can still appear among later records'
  `previous_plots`;
- only timesteps of character timelines left out by --max-characters;
- not reached: the build had its --n records before this plot's turn came.

A plot whose timesteps ran but failed is not here: its timesteps and questions are rejects of their
own (build._batch).
"""

from __future__ import annotations

from builders.litchartom.timesteps import Timestep

STAGE = "plots"


def _where(plot) -> dict:
    return {"work_id": plot.work_id, "plot_index": plot.index}


def _plots_of(timelines: list[list[Timestep]]) -> set[tuple[str, int]]:
    return {(step.work.id, step.plot.index) for timeline in timelines for step in timeline}


def without_timesteps(plots: list, timelines: list[list[Timestep]]) -> list[dict]:
    """A reject for each readable plot of a work that no character timeline of it reaches."""
    covered = _plots_of(timelines)
    return [{"stage": STAGE, "reason": "no timestep: none of its key characters both speaks in it and speaks as a key "
             "character in --min-plots plots (it can still be shown among previous_plots)", "record": _where(plot)}
            for plot in plots if (plot.work_id, plot.index) not in covered]


def left_out(kept: list[list[Timestep]], dropped: list[list[Timestep]]) -> tuple[dict[str, int], list[dict]]:
    """Funnel counts and rejects for the timelines beyond --max-characters: each timeline, and each
    plot that only those timelines reach."""
    if not dropped:
        return {}, []
    rejects = [{"stage": "timesteps", "reason": "character timeline beyond --max-characters",
                "record": {"work_id": timeline[0].work.id, "character": timeline[0].character,
                           "timesteps": len(timeline)}} for timeline in dropped]
    orphans = sorted(_plots_of(dropped) - _plots_of(kept))
    rejects += [{"stage": STAGE, "reason": "only timelines beyond --max-characters reach it",
                 "record": {"work_id": work, "plot_index": index}} for work, index in orphans]
    return {"character timelines beyond --max-characters": len(dropped)}, rejects


class PlotsRun:
    """Which plots' timesteps ran (their batch was yielded), to name the ones the build never reached."""

    def __init__(self) -> None:
        self._ran: set[tuple[str, int]] = set()

    def mark(self, steps: list[Timestep]) -> None:
        self._ran.update((step.work.id, step.plot.index) for step in steps)

    def unreached(self, timelines: list[list[Timestep]]) -> tuple[dict[str, int], list[dict]]:
        """Funnel counts and rejects for the plots with timesteps that never ran."""
        waiting: dict[tuple[str, int], int] = {}
        for timeline in timelines:
            for step in timeline:
                key = (step.work.id, step.plot.index)
                if key not in self._ran:
                    waiting[key] = waiting.get(key, 0) + 1
        if not waiting:
            return {}, []
        rejects = [{"stage": STAGE, "reason": "not reached: the build had --n records before this plot's turn",
                    "record": {"work_id": work, "plot_index": index, "timesteps": count}}
                   for (work, index), count in sorted(waiting.items())]
        return {"plots not reached (--n was met first)": len(waiting)}, rejects
