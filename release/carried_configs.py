"""Configs built by separate runs combine into one release (PersonaEval's tracks).

PersonaEval's configs are its tracks (Drama, Literary, Script), and a user builds them one run at a
time into one `--out`: first `--plays macbeth`, then `--track literary`. Such a benchmark declares
`Benchmark.separately_built_configs`, and a new release then keeps the latest release's records of
every config this build made no record of: the second build's version holds both tracks, its
changelog lists the new track as added and the first as unchanged, and the build report (manifest
and card) says which configs were kept from which version. A config this build did make replaces
that config whole. A build into a new `--out` starts with no track at all.

Benchmarks whose configs are views of one record set (ToMATO's `first_order` is a filter of `all`)
do not declare it: keeping an old view next to a new record set would contradict it.

The kept records are read back from the latest release's parquet shards, decoded as
`python -m release export` decodes them, and written again with this build's records, so a kept
config comes out byte for byte as it was (same schema). The release is chosen from the latest
version when the shards are written; if another build publishes in between, the release is refused
(`check_still_latest`) rather than dropping that build's track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builders.benchmark import Benchmark
from release.arrow_schema import decoded_values, parse_json_schema
from release.manifest import read_manifest
from release.parquet_io import iter_row_groups
from release.resources import load_json_schema
from release.versioning import Version, VersionError, latest_release

REPORT_KEY = "carried_configs"  # the build report's entry (manifest and card)


@dataclass(frozen=True)
class CarriedConfigs:
    separately_built: bool
    from_version: Version | None = None  # the latest release when this build's release was prepared
    splits: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # config -> split -> records

    def merged_into(self, splits_by_config: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, list[dict]]]:
        """This build's configs, with each kept config in place of the empty one this build gave."""
        return {**splits_by_config, **self.splits}

    def noted_in(self, build_report: dict) -> dict:
        """The build report (a copy) saying which configs were kept from which version."""
        if not self.splits:
            return build_report
        kept = {config: f"kept unchanged from v{self.from_version} ({sum(map(len, splits.values()))} records): "
                        "this build made none of its records; its build report is that version's"
                for config, splits in self.splits.items()}
        return {**build_report, REPORT_KEY: kept}

    def check_still_latest(self, latest: Version | None) -> None:
        """Refuse a release prepared against an older latest version: another build has published a
        config meanwhile, which this release would drop."""
        if self.separately_built and latest != self.from_version:
            raise VersionError(
                f"the latest release in this folder changed while this build ran (now {_named(latest)}, "
                f"{_named(self.from_version)} when it began): another build published into it, and this release "
                "would drop what that build added. Run the same command again to add this build to the new version.")


def _named(version: Version | None) -> str:
    return version.tag if version else "none"


def carry_configs(benchmark: Benchmark, splits_by_config: dict[str, dict[str, list[dict]]], benchmark_dir: Path,
                  resources_root: Path | None = None) -> CarriedConfigs:
    """The latest release's records of the configs this build made no record of (none unless the
    benchmark's configs are built separately)."""
    if not benchmark.separately_built_configs:
        return CarriedConfigs(separately_built=False)
    latest = latest_release(benchmark_dir)
    if latest is None:
        return CarriedConfigs(separately_built=True)
    version, folder = latest
    manifest = read_manifest(folder)
    built = {config for config, splits in splits_by_config.items() if any(splits.values())}
    kept = [config for config in benchmark.configs if config in manifest["counts"] and config not in built]
    record_tree = parse_json_schema(load_json_schema(benchmark.name, resources_root))
    nodes = {name: node for name, node, _ in record_tree.properties}
    splits = {config: {split: _records(folder, manifest, version, config, split, nodes)
                       for split in manifest["counts"][config]}
              for config in kept}
    return CarriedConfigs(separately_built=True, from_version=version, splits=splits)


def _records(folder: Path, manifest: dict, version: Version, config: str, split: str, nodes: dict) -> list[dict]:
    prefix = f"data/{config}/{split}-"
    paths = [folder / path for path in sorted(manifest["files"])
             if path.startswith(prefix) and path.endswith(".parquet")]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing or not paths:
        # VersionError: the builder CLI reports it as bad input, with the paid replies safe in the cache
        raise VersionError(
            f"the latest release v{version} is incomplete ({', '.join(missing) or prefix + '*.parquet'} missing), so "
            f"its config {config!r} cannot be kept in the next version; restore {folder} from a copy, or move it "
            "aside to release without it.")
    records = []
    for table in iter_row_groups(paths):
        columns = {name: decoded_values(table.column(name), nodes.get(name)) for name in table.column_names}
        records.extend({name: values[row] for name, values in columns.items()} for row in range(table.num_rows))
    return records
