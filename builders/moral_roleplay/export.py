"""Compatibility export: the original release's JSON arrays of scene objects, from a built release.

    python -m builders.moral_roleplay.export <release folder or parquet files...> --out DIR [--name NAME]

writes (spec §2 and Step F):
- `<name>.json`: every released scene (the full pool), one CoSER / Moral RolePlay scene object each;
- `<name>_test.json`: the scenes holding a test portrayal, with their scene-level labels kept, so the
  original harness (which scores every labelled key character) still runs on them;
- `<name>_manifest.json`: the test characters to score (case key, name, level, traits), counts per
  level, trait, tone and completeness, the source/synthetic share per level, and the annotator
  agreement over the released portrayals.
Scene objects have the published field order and no provenance or flat portrayal fields; arrays are
sorted by (book, i_p, i_c). A portrayal not judged (no level) is no key or major character of the
exported scene, since the original format labels every key character and its harness scores them
all; it stays a speaker with its profile, and a scene with no labelled character is left out (the
manifest counts both). JSON: UTF-8, 2-space indent, so the files are
byte-identical per release.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from builders.moral_roleplay.agreement import agreement_summary
from builders.resources import load_schema

SCENE_FIELDS = ("book", "i_p", "i_c", "topic", "scenario", "plot", "character_profiles", "key_characters",
                "dialogues", "speaking_characters_w_env", "major_characters", "weight", "tag", "tone",
                "completeness")
DEFAULT_NAME = "moral_roleplay"


def scene_object(record: dict) -> dict:
    missing = [f for f in SCENE_FIELDS if f not in record]
    if missing:
        raise ValueError(f"record {record.get('portrayal_id', '?')} lacks scene fields {missing}; "
                         "export only records built by builders.moral_roleplay")
    scene = {f: record[f] for f in SCENE_FIELDS}
    labelled = [k for k in scene["key_characters"] if k["morality_classification"]["level"] is not None]
    scene["key_characters"] = labelled
    scene["major_characters"] = [n for n in scene["major_characters"] if n in {k["name"] for k in labelled}]
    # parquet gives absent optional struct fields back as null; the scene objects never hold them
    plot_characters = [{k: v for k, v in c.items() if v is not None} for c in scene["plot"]["key_characters"]]
    scene["plot"] = {**scene["plot"], "key_characters": plot_characters}
    # the release stores the profiles map as canonical (key-sorted) JSON: order it by the key characters
    order = {k["name"]: i for i, k in enumerate(scene["key_characters"])}
    scene["character_profiles"] = dict(sorted(scene["character_profiles"].items(),
                                              key=lambda item: (order.get(item[0], len(order)), item[0])))
    return scene


def scene_key(scene: dict) -> tuple:
    return (scene["book"], scene["i_p"], scene["i_c"])


def scenes_of(records: list[dict]) -> list[dict]:
    """One scene object per case key (every portrayal of a scene carries the same scene), sorted;
    scenes without a labelled character are left out."""
    by_key: dict[str, dict] = {}
    for record in records:
        by_key.setdefault(record["case_key"], scene_object(record))
    return sorted((scene for scene in by_key.values() if scene["key_characters"]), key=scene_key)


def manifest(records: list[dict]) -> dict:
    test = sorted((r for r in records if r["test"]), key=lambda r: (r["level"], r["case_key"], r["name"]))
    pairs = [tuple(r["provenance"]["annotation"]["pair"]) for r in records
             if r["provenance"]["annotation"].get("pair")]
    per_level = {}
    for level in (1, 2, 3, 4):
        rows = [r for r in test if r["level"] == level]
        origins = Counter(r["origin"] for r in rows)
        per_level[str(level)] = {"test_characters": len(rows), "source": origins["source"],
                                 "synthetic": origins["synthetic"],
                                 "distinct_characters": len({(r["book"], r["name"]) for r in rows})}
    return {
        "test_characters": [{"case_key": r["case_key"], "name": r["name"], "level": r["level"],
                             "key_traits": r["key_traits"], "origin": r["origin"]} for r in test],
        "per_level": per_level,
        "counts": {"test": _counts(test), "all": _counts(records)},
        "agreement_over_released_portrayals": agreement_summary(pairs),
        "not_judged": {"portrayals": sum(r["level"] is None for r in records),
                       "scenes_left_out": len({r["case_key"] for r in records})
                       - len({r["case_key"] for r in records if r["level"] is not None})},
    }


def _counts(rows: list[dict]) -> dict:
    def sorted_counts(counter: Counter) -> dict:
        return {str(k): n for k, n in sorted(counter.items(), key=lambda item: str(item[0]))}
    return {"portrayals": len(rows),
            "level": sorted_counts(Counter(r["level"] for r in rows)),
            "key_traits": sorted_counts(Counter(t for r in rows for t in r["key_traits"])),
            "tone": sorted_counts(Counter(r["tone"] or "not judged" for r in rows)),
            "completeness": sorted_counts(Counter(r["completeness"] for r in rows))}


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def export_compat(records: list[dict], out_dir: str | Path, *, name: str = DEFAULT_NAME) -> dict[str, int]:
    """Write the three files into `out_dir`; returns file name -> number of entries."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    full = scenes_of(records)
    test = scenes_of([r for r in records if r["test"]])
    files = {f"{name}.json": full, f"{name}_test.json": test, f"{name}_manifest.json": manifest(records)}
    for file_name, value in files.items():
        (out_dir / file_name).write_text(dumps(value), encoding="utf-8")
    return {f"{name}.json": len(full), f"{name}_test.json": len(test),
            f"{name}_manifest.json": len(files[f"{name}_manifest.json"]["test_characters"])}


# -- reading a release ----------------------------------------------------------------------------------


def json_columns() -> list[str]:
    """Top-level fields the release stores as canonical JSON strings (free-form objects)."""
    from release.arrow_schema import parse_json_schema

    root = parse_json_schema(load_schema("moral_roleplay"))
    return [name for name, node, _ in root.properties if node.kind == "json"]


def read_release(paths: list[Path]) -> list[dict]:
    """Records of a release folder (every data/<config>/*.parquet) or of the given parquet files,
    each portrayal once, with the JSON-string columns decoded back into objects."""
    import pyarrow.parquet as pq

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("data/*/*.parquet")))
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"{path} does not exist; pass a release folder (with data/) or parquet files")
    if not files:
        raise SystemExit(f"no parquet files under {', '.join(map(str, paths))}; pass a release folder (with data/)")
    decode = json_columns()
    records, seen = [], set()
    for file in files:
        for row in pq.read_table(file).to_pylist():
            if row["portrayal_id"] in seen:  # `characters` holds every row of `test` and `scenes` too
                continue
            seen.add(row["portrayal_id"])
            records.append({k: json.loads(v) if k in decode and v is not None else v for k, v in row.items()})
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m builders.moral_roleplay.export",
                                     description="Write the original Moral RolePlay JSON files from a release.")
    parser.add_argument("paths", nargs="+", type=Path, help="a release folder, or parquet files")
    parser.add_argument("--out", type=Path, required=True, help="folder for the JSON files")
    parser.add_argument("--name", default=DEFAULT_NAME,
                        help=f"file name stem (default {DEFAULT_NAME}; the original is RolePlay_Villain)")
    args = parser.parse_args(argv)
    counts = export_compat(read_release(args.paths), args.out, name=args.name)
    for file_name, entries in counts.items():
        print(f"{args.out / file_name}: {entries} {'test characters' if 'manifest' in file_name else 'scenes'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
