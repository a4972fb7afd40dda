"""Compatibility export: a folder the original `personaeval` command runs in, offline.

The original harness (github.com/maple-zhou/PersonaEval, commit 19f7568) is run from a folder that
holds `data/` and `configs/default.yaml`, and reads everything relative to it:
- before any command (`run`, `metrics`, `analyze`) it checks that `data/Literary.csv`,
  `data/Drama.csv` and `data/Expertise.csv` all exist, and downloads each missing one from the Hub
  dataset `lingfengzhou/PersonaEval` (`personaeval/dataset_prepare.py`): offline that is exit 1, online
  it mixes the original's rows into a run of ours. No flag or variable changes those paths;
- `personaeval run` evaluates the tracks `configs/default.yaml` lists (`--track` picks one of them),
  sends `prompt` as the only user message and reads `gt`, `option1`..`option4` (and `option5` in a
  track named Expertise); results go to `results/<Track>/<Track>_<model>.csv`, which
  `personaeval metrics --models <model> --tracks <tracks>` reads.

So the export writes:

    data/<Track>.csv      per track of the release: the published columns in the published order
                          (spec section 3), rows in release order; `--with-ids` puts the stable `id`
                          first (spec section 11, item 2: resuming by prompt text breaks on duplicates)
    data/<Missing>.csv    for Literary, Drama or Expertise when the release lacks it: the header only,
                          so the existence check passes offline. The config does not list it, so no
                          command reads it (a config that did would report the track as 0 of 0 rows)
    configs/default.yaml  the release's tracks only, one model entry to fill in, and the original's
                          experiment settings except `save_interval: 0` (SAVE_EVERY_ANSWER)

    python -m builders.personaeval.export <release folder or parquet files...> --out DIR
        [--harness-model NAME --harness-url URL] [--with-ids]
    cd DIR && personaeval run --model NAME
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import yaml

PUBLISHED_COLUMNS = (
    "prompt", "gt", "option1", "option2", "option3", "option4",
    "option1_profile", "option2_profile", "option3_profile", "option4_profile",
    "option5", "option5_profile",
)
# The files the original harness requires in data/ before any command, in its own order.
HARNESS_TRACKS = ("Literary", "Drama", "Expertise")
CONFIG_FILE = "configs/default.yaml"
# The original's experiment defaults (configs/default.yaml.example), but one. Its save thread writes
# the results file only when `save_interval` seconds have passed since its last save, including the
# final save, so with the default 60 a run shorter than a minute leaves no results file for
# `personaeval metrics`, and a longer one loses the answers of its last minute. 0 saves after every
# answer, so the file is complete when the run ends.
SAVE_EVERY_ANSWER = 0
EXPERIMENT = {"max_workers": 4, "max_retries": 5, "timeout": 600, "temperature": 0.0,
              "save_interval": SAVE_EVERY_ANSWER, "sleep_interval": 60, "reasoning_models": ["qwq-32b"]}


@dataclass(frozen=True)
class HarnessModel:
    """The model entry written into the config: the harness posts OpenAI chat-completions requests to
    `url` with `api_key` as a bearer token. The key is a placeholder: the export never writes a secret."""

    name: str = "gpt-4.1"
    url: str = "https://api.openai.com/v1/chat/completions"
    api_key: str = "sk-your-api-key-here"

    def entry(self) -> dict:
        return {self.name: {"url": self.url, "api_key": self.api_key, "cost_input": 0.0, "cost_output": 0.0}}


def csv_text(records: list[dict], *, with_ids: bool = False) -> str:
    columns = (("id",) if with_ids else ()) + PUBLISHED_COLUMNS
    missing = sorted({column for record in records for column in columns if column not in record})
    if missing:
        raise ValueError(f"records lack published columns {missing}; export rows built by builders.personaeval")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([record[column] for column in columns])
    return buffer.getvalue()


def export_csv(records: list[dict], out_dir: str | Path, *, with_ids: bool = False,
               model: HarnessModel = HarnessModel()) -> dict[str, int]:
    """Write the run folder (module docstring) for `records`; returns relative file name -> rows
    (tracks listed, for the config)."""
    out_dir = Path(out_dir)
    by_track: dict[str, list[dict]] = {}
    for record in records:
        by_track.setdefault(record["track"], []).append(record)
    tracks = [t for t in HARNESS_TRACKS if t in by_track] + sorted(t for t in by_track if t not in HARNESS_TRACKS)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    counts = {}
    for track in tracks:
        counts[f"data/{track}.csv"] = _write(out_dir / "data" / f"{track}.csv",
                                             csv_text(by_track[track], with_ids=with_ids), len(by_track[track]))
    for track in HARNESS_TRACKS:
        if track not in by_track:  # header only: passes the harness's existence check, never read
            counts[f"data/{track}.csv"] = _write(out_dir / "data" / f"{track}.csv", csv_text([], with_ids=with_ids), 0)
    (out_dir / "configs").mkdir(exist_ok=True)
    counts[CONFIG_FILE] = _write(out_dir / CONFIG_FILE, harness_config(tracks, model), len(tracks))
    return counts


def _write(path: Path, text: str, entries: int) -> int:
    path.write_text(text, encoding="utf-8")
    return entries


def harness_config(tracks: list[str], model: HarnessModel) -> str:
    """configs/default.yaml: what the original `Config.from_file` reads, with comments saying how to run."""
    placeholders = [track for track in HARNESS_TRACKS if track not in tracks]
    lines = [
        "# The original PersonaEval harness (github.com/maple-zhou/PersonaEval) run on this export, offline.",
        "# From this folder:",
        f"#     personaeval run --model {model.name}",
        f"#     personaeval metrics --models {model.name} --tracks {','.join(tracks)}",
        "# Put your API key (and your endpoint: any OpenAI-compatible chat completions URL) in `models`.",
    ]
    if placeholders:
        files = " and ".join(f"data/{track}.csv" for track in placeholders)
        one = len(placeholders) == 1
        lines += [
            f"# {files} {'holds' if one else 'hold'} only the header: this release has no such track, but the harness",
            "# checks that Literary.csv, Drama.csv and Expertise.csv exist before any command (and downloads missing",
            f"# ones from the Hub). Not listed under `tracks`, {'it is' if one else 'they are'} never read",
            "# (listed, a track would run 0 of 0 rows).",
        ]
    lines += ["# experiment: the original's defaults except save_interval 0; with a positive interval the",
              "# harness does not save the answers of the last interval, and a short run writes no results file."]
    body = {"tracks": [{"name": track, "data_file": f"data/{track}.csv", "output_dir": f"results/{track}"}
                       for track in tracks],
            "models": model.entry(), "experiment": EXPERIMENT}
    return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def read_release(paths: list[Path]) -> list[dict]:
    """Rows of a release folder (every data/<config>/*.parquet) or of the given parquet files."""
    import pyarrow.parquet as pq

    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("data/*/*.parquet")) if path.is_dir() else [path])
    if not files:
        raise SystemExit(f"no parquet files under {', '.join(map(str, paths))}; pass a release folder (with data/)")
    rows, seen = [], set()
    for file in files:
        for row in pq.read_table(file).to_pylist():
            if row["id"] not in seen:  # a row belongs to one config, but be safe with overlapping globs
                seen.add(row["id"])
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.personaeval.export",
                                     description="Write a folder the original `personaeval` command runs in.")
    parser.add_argument("paths", nargs="+", type=Path, help="a release folder, or parquet files")
    parser.add_argument("--out", type=Path, required=True, help="the run folder: data/, configs/default.yaml")
    parser.add_argument("--with-ids", action="store_true", help="add the stable id column first")
    parser.add_argument("--harness-model", default=HarnessModel.name,
                        help=f"the model name the config lists, sent as `model` (default {HarnessModel.name})")
    parser.add_argument("--harness-url", default=HarnessModel.url,
                        help="its OpenAI-compatible chat completions URL (default OpenAI's)")
    args = parser.parse_args(argv)
    model = HarnessModel(name=args.harness_model, url=args.harness_url)
    counts = export_csv(read_release(args.paths), args.out, with_ids=args.with_ids, model=model)
    for name, entries in counts.items():
        unit = "track(s) listed" if name == CONFIG_FILE else "rows" if entries else "rows (header only: not built)"
        print(f"{args.out / name}: {entries} {unit}")
    print(f"run: cd {args.out} && personaeval run --model {model.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
