"""Run the benchmark modules in bench/ with their default settings and print figures vs targets.

    python -m bench              # every module
    python -m bench postgen      # only the named ones
    python -m bench.postgen --n 100000   # one module with its own options
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    available = sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))
    unknown = [name for name in argv if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    all_met = True
    for name in argv or available:
        module = importlib.import_module(f"bench.{name}")
        if not callable(getattr(module, "main", None)):
            continue
        figures = module.main([])
        print(bench.format_table(f"bench.{name}", figures), flush=True)
        all_met = all_met and all(figure.met is not False for figure in figures)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
