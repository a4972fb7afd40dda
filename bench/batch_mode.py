"""One ToMATO build online and in batch mode, on the strong-model stand-in behind the local batch API
servers: what batch mode does to a multi-round build.

    python -m bench.batch_mode [--n 200] [--protocol openai|anthropic] [--turnaround-minutes 30]
                               [--workdir DIR]

Prints rounds, batches, lines submitted and resubmitted, requests per released record, the cost at
the model's online and batch prices, the local wall time of each build, whether the two releases
are byte-identical, and the wait a real provider would add: every round waits for one batch, so
a build takes about rounds x the provider's turnaround (up to 24 h a batch; --turnaround-minutes
sets the figure assumed).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import Figure, format_table
from tests.support.standin_builds import run_standin_build
from tests.test_batch_builds import BATCH_FLAGS, batch_standin_server, same_salt
from tests.test_reliability_support import release_files


def measure(n: int, protocol: str, turnaround_minutes: float, workdir: Path) -> list[Figure]:
    with batch_standin_server(protocol) as server:
        online = run_standin_build("builders.tomato", server, workdir, n=n, name="online", timeout=3600)
    with batch_standin_server(protocol) as server:
        batch = run_standin_build("builders.tomato", server, workdir, *BATCH_FLAGS, *same_salt(workdir), n=n,
                                  name="batch", timeout=3600)
        paid_twice = len(server.billed_more_than_once())
    for build in (online, batch):
        if build.result.returncode != 0:
            raise SystemExit(f"a build failed ({build.result.returncode}):\n{build.result.stderr[-2000:]}")
    report = next(iter(batch.build_report["batch"].values()))
    online_llm, batch_llm = online.build_report["llm"]["total"], batch.build_report["llm"]["total"]
    released = batch.released
    rounds = report["rounds"]
    return [
        Figure(f"ToMATO --n {n} ({protocol}): released", released, f"of {n}", f">= {n}"),
        Figure("releases byte-identical (online vs batch)", int(release_files(online.release)
                                                                 == release_files(batch.release)), "1 = yes", ">= 1"),
        Figure("batch rounds", rounds, "rounds"),
        Figure("batches", len(report["batches"]), "batches"),
        Figure("lines submitted (requests)", report["lines_submitted"], "lines"),
        Figure("lines submitted again (expired, cancelled, server errors)", report["lines_submitted_again"], "lines"),
        Figure("lines paid twice", paid_twice, "lines", "< 1"),
        Figure("requests per released record, online", online_llm["requests"] / max(released, 1), "requests"),
        Figure("requests per released record, batch", batch_llm["requests"] / max(released, 1), "requests"),
        Figure("re-asks, batch", batch_llm["reasks"], "requests"),
        Figure("cost at online prices", report["online_price_usd"], "USD"),
        Figure("cost at batch prices", report["cost_usd"], "USD"),
        Figure("local wall time, online", online.seconds, "s"),
        Figure("local wall time, batch (the local server answers at once)", batch.seconds, "s"),
        Figure(f"wait at a provider turnaround of {turnaround_minutes:g} min per batch",
               rounds * turnaround_minutes / 60, "hours"),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.batch_mode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--protocol", choices=("openai", "anthropic"), default="openai")
    parser.add_argument("--turnaround-minutes", type=float, default=30.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return measure(args.n, args.protocol, args.turnaround_minutes, args.workdir)
    with tempfile.TemporaryDirectory() as tmp:
        return measure(args.n, args.protocol, args.turnaround_minutes, Path(tmp))


if __name__ == "__main__":
    print(format_table("bench.batch_mode", main()))
