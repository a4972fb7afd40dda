"""The live progress shows life before any record arrives, in a terminal and in a plain log."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console

from builders.llm.accounting import Accounting
from builders.progress import BuildProgress, Watcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_build_with_no_record_yet_shows_requests_stage_and_rate_but_no_eta():
    accounting, clock = Accounting(), FakeClock()
    watcher = Watcher(accounting, total=20, clock=clock)
    assert watcher.look().stage is None and watcher.look().requests_per_minute is None

    clock.now += 30
    accounting.usage("m", "scenario").requests += 4
    accounting.usage("m", "turn").requests += 10
    accounting.add_tokens("m", "turn", 1200, 300)
    snap = watcher.look()
    assert (snap.requests, snap.stage, snap.kept, snap.eta_seconds) == (14, "turn", 0, None)
    assert snap.input_tokens + snap.output_tokens == 1500
    assert snap.requests_per_minute == 28.0  # 14 requests in 30 s
    assert "kept 0/20" in snap.line() and "14 requests" in snap.line() and "ETA: after the first record" in snap.line()


def test_the_stage_is_the_step_that_asked_last_and_stays_while_nothing_moves():
    accounting, clock = Accounting(), FakeClock()
    watcher = Watcher(accounting, total=10, clock=clock)
    accounting.usage("m", "turn").requests += 50
    assert watcher.look().stage == "turn"
    accounting.usage("judge", "false_belief").cache_hits += 3  # cache hits are activity too
    assert watcher.look().stage == "false_belief"
    clock.now += 5
    assert watcher.look().stage == "false_belief"


def test_the_eta_follows_the_pace_of_records_kept():
    accounting, clock = Accounting(), FakeClock()
    watcher = Watcher(accounting, total=20, clock=clock)
    clock.now += 100
    watcher.kept = 5
    assert watcher.look().eta_seconds == 300.0
    watcher.kept = 20
    assert watcher.look().eta_seconds == 0.0


def test_the_rate_counts_only_the_last_minute():
    accounting, clock = Accounting(), FakeClock()
    watcher = Watcher(accounting, total=1, clock=clock)
    accounting.usage("m", "s").requests = 600  # a burst at the start
    watcher.look()
    for _ in range(4):
        clock.now += 30
        accounting.usage("m", "s").requests += 10
        rate = watcher.look().requests_per_minute
    assert rate == 20.0  # 10 per 30 s lately, not the start's burst


def _run_build(console: Console, accounting: Accounting, **options) -> None:
    async def build() -> None:
        async with BuildProgress(console, accounting, 3, **options) as progress:
            accounting.usage("m", "turn").requests += 7
            await asyncio.sleep(0.7)
            progress.kept(1)
            await asyncio.sleep(0.7)

    asyncio.run(build())


def test_a_plain_log_gets_periodic_lines_and_a_final_one():
    out = io.StringIO()
    _run_build(Console(file=out, force_terminal=False, width=200), Accounting(), log_every=0.5)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) >= 3, lines  # two periodic lines and the final one
    assert "7 requests" in lines[0] and "stage turn" in lines[0]
    assert "kept 1/3" in lines[-1] and "\x1b[" not in out.getvalue()  # no terminal codes in a log


def test_a_terminal_gets_a_live_table_and_quiet_gets_nothing():
    out = io.StringIO()
    _run_build(Console(file=out, force_terminal=True, width=120), Accounting())
    shown = out.getvalue()
    assert "records kept 1/3" in shown and "7 sent" in shown and "turn" in shown

    quiet = io.StringIO()
    _run_build(Console(file=quiet, force_terminal=True, quiet=True), Accounting(), log_every=0.1)
    assert quiet.getvalue() == ""


def test_batch_mode_shows_rounds_batches_by_state_and_lines_answered():
    from builders.llm.batch import BatchStats

    accounting, stats = Accounting(), BatchStats()
    accounting.batch_status = stats.line
    stats.rounds, stats.batches = 3, {"batch_1": "read", "batch_2": "in_progress", "batch_3": "in_progress"}
    stats.lines_submitted, stats.lines_answered = 120, 80
    line = Watcher(accounting, total=20, clock=FakeClock()).look().line()
    assert "batch round 3 · batches: 2 in_progress, 1 read · lines 80/120 answered" in line
    assert Watcher(Accounting(), total=20).look().batch is None  # online: no batch part
