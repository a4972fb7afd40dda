"""What a running build shows: signs of life from the first request, not only when records arrive.

Records of most builders arrive late (a ToMATO conversation is ~16 dependent rounds before its
first question exists), so a bar of records kept sits at 0 for minutes and looks hung. The display
is driven by the LLM accounting instead: requests sent, cache hits, replies on the wire, tokens,
cost, requests per minute, the stage the build is in (the step that asked last) and, once records
arrive, an estimate of the time left.

On a terminal it is a live table refreshed twice a second; elsewhere (CI, cron, a pipe) a plain
line every `log_every` seconds, so a log shows life without drowning in redraws. `--quiet` shows
nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .llm.accounting import Accounting

REFRESH_SECONDS = 0.5  # redraws of the live table
LOG_EVERY_SECONDS = 30.0  # plain lines when the output is not a terminal
RATE_WINDOW_SECONDS = 60.0  # requests per minute are measured over the last minute


@dataclass(frozen=True)
class Snapshot:
    """One look at a build: what the display shows, computed from the accounting alone."""

    elapsed: float
    kept: int
    total: int
    requests: int
    cache_hits: int
    on_the_wire: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    requests_per_minute: float | None  # None until a first request has left
    stage: str | None
    eta_seconds: float | None  # None until the first record is kept
    batch: str | None = None  # batch mode: rounds, batches by state, lines answered

    def line(self) -> str:
        """The plain-log form: one line, no markup."""
        parts = [f"[{_clock(self.elapsed)}]", f"stage {self.stage or 'starting'}", f"kept {self.kept}/{self.total}",
                 f"{self.requests} requests ({self.on_the_wire} on the wire)", f"{self.cache_hits} cached",
                 f"{self.input_tokens + self.output_tokens:,} tokens", f"${self.cost_usd:.4f}"]
        if self.requests_per_minute is not None:
            parts.append(f"{self.requests_per_minute:.0f} req/min")
        parts.append(f"ETA {_clock(self.eta_seconds)}" if self.eta_seconds is not None else "ETA: after the first record")
        if self.batch:
            parts.append(self.batch)
        return " · ".join(parts)


class Watcher:
    """Turns successive reads of the accounting into snapshots (rates and the current stage need history)."""

    def __init__(self, accounting: Accounting, total: int, clock=time.monotonic):
        self._accounting = accounting
        self._total = total
        self._clock = clock
        self._started = clock()
        self._activity: dict[str, int] = {}  # per step: requests + cache hits at the last look
        self._stage: str | None = None
        self._history: list[tuple[float, int]] = []  # (time, requests) over the rate window
        self.kept = 0

    def look(self) -> Snapshot:
        now = self._clock()
        totals = self._accounting.totals()
        self._stage = self._busiest_step() or self._stage
        return Snapshot(elapsed=now - self._started, kept=self.kept, total=self._total, requests=totals.requests,
                        cache_hits=totals.cache_hits, on_the_wire=self._accounting.in_flight,
                        input_tokens=totals.input_tokens, output_tokens=totals.output_tokens,
                        cost_usd=self._accounting.total_cost, requests_per_minute=self._rate(now, totals.requests),
                        stage=self._stage, eta_seconds=self._eta(now - self._started),
                        batch=self._accounting.batch_status() if self._accounting.batch_status else None)

    def _busiest_step(self) -> str | None:
        """The step that asked most since the last look (none asked: the stage is unchanged)."""
        grown: dict[str, int] = {}
        for (_, step), usage in list(self._accounting.by_model_step.items()):
            grown[step] = grown.get(step, 0) + usage.requests + usage.cache_hits
        deltas = {step: count - self._activity.get(step, 0) for step, count in grown.items()}
        self._activity = grown
        moved = {step: delta for step, delta in deltas.items() if delta > 0}
        return max(sorted(moved), key=moved.get) if moved else None

    def _rate(self, now: float, requests: int) -> float | None:
        self._history.append((now, requests))
        while len(self._history) > 2 and now - self._history[1][0] >= RATE_WINDOW_SECONDS:
            self._history.pop(0)
        first_time, first_requests = self._history[0]
        if requests == 0 or now - first_time <= 0:
            return None
        return (requests - first_requests) * 60.0 / (now - first_time)

    def _eta(self, elapsed: float) -> float | None:
        """Time left at the pace of records kept so far; honest only once some are."""
        if self.kept <= 0 or self.kept >= self._total:
            return 0.0 if self.kept >= self._total else None
        return elapsed / self.kept * (self._total - self.kept)


class BuildProgress:
    """`async with BuildProgress(...) as progress:` around a build; `progress.kept(k)` as records arrive."""

    def __init__(self, console: Console, accounting: Accounting, total: int, *, log_every: float = LOG_EVERY_SECONDS):
        self._console = console
        self._watcher = Watcher(accounting, total)
        self._log_every = log_every
        self._task: asyncio.Task | None = None
        self._live: Live | None = None

    def kept(self, count: int) -> None:
        self._watcher.kept = count

    async def __aenter__(self) -> "BuildProgress":
        if self._console.quiet:
            return self
        if self._console.is_terminal:
            self._live = Live(self._table(self._watcher.look()), console=self._console, transient=False,
                              auto_refresh=False)
            self._live.start()
            self._task = asyncio.ensure_future(self._redraw())
        else:
            self._task = asyncio.ensure_future(self._log())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._live is not None:
            self._live.update(self._table(self._watcher.look()), refresh=True)
            self._live.stop()
        elif not self._console.quiet:
            self._print_line()  # the final state, so a log ends with the totals

    async def _redraw(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self._live.update(self._table(self._watcher.look()), refresh=True)

    async def _log(self) -> None:
        while True:
            await asyncio.sleep(self._log_every)
            self._print_line()

    def _print_line(self) -> None:
        self._console.print(Text(self._watcher.look().line()))

    @staticmethod
    def _table(snap: Snapshot) -> Group:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("stage", snap.stage or "starting")
        table.add_row("requests", f"{snap.requests} sent · {snap.on_the_wire} on the wire · {snap.cache_hits} cached"
                      + (f" · {snap.requests_per_minute:.0f}/min" if snap.requests_per_minute is not None else ""))
        table.add_row("tokens", f"{snap.input_tokens:,} in · {snap.output_tokens:,} out · ${snap.cost_usd:.4f}")
        table.add_row("elapsed", _clock(snap.elapsed) + ("" if snap.eta_seconds is None
                                                         else f" · about {_clock(snap.eta_seconds)} left"))
        if snap.batch:
            table.add_row("batch", snap.batch)
        bar = ProgressBar(total=max(snap.total, 1), completed=snap.kept, width=40)
        return Group(Text(f"records kept {snap.kept}/{snap.total}"), bar, table)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
