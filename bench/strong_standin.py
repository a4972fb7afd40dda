"""Every builder on the strong-model stand-in: what a release costs in calls, and how its text
compares with the original benchmark's.

    python -m bench.strong_standin [--n 20] [--builders tomato,personaeval] [--protocols openai,anthropic]
                                   [--workdir DIR]

For each builder and protocol, one `--n` build through the real CLI against the stand-in
(tests/support/standin.py: natural prose at stated lengths, Unicode punctuation, patterns ignored,
judges right 90% of the time). Prints released / n, requests per released record, the re-ask share
of requests (target < 5%) and each length figure next to the original's (target within 20%).
Figures come from the release's own manifest (its call ledger and `original_comparison`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import WITHIN, Figure, format_table
from tests.support.standin_builds import STANDIN_BUILDS, run_standin_build, standin_server

PROTOCOLS = ("openai", "anthropic")
REASK_TARGET = "< 0.05"


def measure(builder: str, protocol: str, n: int, workdir: Path) -> list[Figure]:
    spec = STANDIN_BUILDS[builder]
    with standin_server(protocol, **spec.standin_options()) as server:
        build = run_standin_build(f"builders.{builder}", server, workdir, *spec.flags, n=n,
                                  name=f"{builder}-{protocol}")
    if build.result.returncode != 0:
        print(f"{builder} on {protocol}: the build failed ({build.result.returncode}):\n"
              f"{build.result.stderr[-2000:]}")
        return [Figure(f"{builder} {protocol}: released", 0, f"of {n}", f">= {n}")]
    total = build.calls["total"]
    prefix = f"{builder} {protocol}:"
    figures = [
        Figure(f"{prefix} released", build.released, f"of {n}", f">= {n}"),
        Figure(f"{prefix} requests per released record", total["requests_per_record"] or 0.0, "requests"),
        Figure(f"{prefix} re-ask share of requests", total["reask_share"], "", REASK_TARGET),
        Figure(f"{prefix} wall time", build.seconds, "s"),
    ]
    for figure in build.figures:
        if figure["kind"] != "length" or figure["value"] is None:
            continue
        reference = figure["original"] if figure["original"] is not None else figure["original_range"]
        status = {True: "", False: " OUTSIDE 20%", None: ""}[figure["within_tolerance"]]
        figures.append(Figure(f"{prefix} {figure['name']} (original {figure['original_text']}){status}",
                              figure["value"], "", _target(reference)))
    return figures


def _target(reference) -> str:
    """A target the bench table can check: within 20% of a point, or of a published range."""
    if isinstance(reference, (int, float)):
        return f"~ {reference}"
    if reference:
        low, high = reference
        return f"in {low * (1 - WITHIN):g}-{high * (1 + WITHIN):g}"
    return ""


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.strong_standin")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--builders", default=",".join(STANDIN_BUILDS))
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--workdir", type=Path, default=None, help="keep releases and caches here")
    args, _ = parser.parse_known_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-standin-"))
    figures: list[Figure] = []
    for builder in args.builders.split(","):
        for protocol in args.protocols.split(","):
            figures += measure(builder, protocol, args.n, workdir)
    return figures


if __name__ == "__main__":
    print(format_table("bench.strong_standin", main()))
