"""`write_release`: turn split records into an immutable, Hub-shaped release folder.

Layout of `<releases_root>/<benchmark>/vX.Y.Z/`:
    README.md                                   dataset card (YAML front matter + body)
    data/<config>/<split>-00000-of-0000N.parquet explicit Arrow schema, deterministic bytes
    charts/*.png                                stats and answer-position bar charts (default config)
    CHANGELOG.md                                against the previous release
    manifest.json                               written last: digests, counts, build report, hash,
                                                leakage against earlier releases

Each split's records are encoded into Arrow once, in release order, and every config takes its
rows from those tables (configs are views of one record set), so a record that three configs
hold is converted once and compressed three times.

No release holds an empty file: a config or split with no record gets no parquet file and no card
entry (the card's default config is the first released one in the benchmark's order), and the
build report written into the manifest and the card gets a note naming what was left out, so the
card says why a config the benchmark declares is missing.

A benchmark whose configs are built by separate runs (PersonaEval's tracks) keeps the latest
release's configs that this build made no record of (`release.carried_configs`).

A new version's test split is checked for near duplicates of earlier versions' records
(`release.leakage`); the result goes into the manifest and the card and never fails the release.

Everything is written into a hidden staging folder next to the target and renamed into place at
the end; a failure removes the staging folder, and a folder without `manifest.json` never counts
as a release, so a crash cannot leave something that looks complete. Folders and files get the
modes the umask gives (as `mkdir` and `open` would), so the team can read a release.

Concurrent writers into one benchmark folder (two builds with one `--out`) are serialised by a lock
file, `<releases_root>/.<benchmark>.release.lock`, held while a version is chosen and the staging
folder is renamed into place: inside it the existing versions are read again, so the loser of a race
sees the winner's release and reports "unchanged" (identical content) or takes the next version.
The expensive part, writing the shards, runs outside the lock.

Each staging folder `.staging-<id>` has a lock file `.staging-<id>.lock` that its writer holds
until the folder is gone; both are created under the benchmark lock. A later write (or
`remove_abandoned_staging`) deletes a staging folder whose lock it can take: its writer has died
(killed, power loss). A staging folder without a lock file comes from a toolkit version before
these locks and is deleted once it is older than `UNLOCKED_STAGING_MAX_AGE`.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import os
import secrets
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock, Timeout

import builders
from builders.benchmark import Benchmark
from release import changelog as changelog_module
from release.arrow_schema import arrow_schema_from_json_schema, parse_json_schema, records_table
from release.card import CardInputs, Chart, ConfigStats, render_card
from release.card_merge import merge_card
from release.carried_configs import carry_configs
from release.charts import bar_chart
from release.manifest import (
    MANIFEST_NAME,
    build_manifest,
    canonical_json,
    content_hash,
    file_digests,
    read_manifest,
    sha256_file,
)
from release.leakage import Shards, check_leakage, release_shards
from release.parquet_io import (
    MEMORY_POOL,
    SplitWriter,
    WriteQueue,
    WrittenSplit,
    read_columns,
    with_features_metadata,
)
from release.resources import load_json_schema
from release.stats import record_counts, table_distribution
from release.versioning import BUMPS, Version, VersionError, next_version, released_versions

README_NAME = "README.md"
RELEASE_LOCK_SUFFIX = ".release.lock"  # <releases_root>/.<benchmark>.release.lock
STAGING_PREFIX = ".staging-"
STAGING_LOCK_SUFFIX = ".lock"
# A staging folder without a lock file was left by a toolkit version before staging locks; a write
# takes minutes, so one this old has no live writer.
UNLOCKED_STAGING_MAX_AGE = 6 * 3600  # seconds
ENCODE_BATCH_ROWS = 10_000  # records encoded into Arrow at a time: a row group's worth
_NAME_PATTERN = "letters, digits and underscores"


@dataclass(frozen=True)
class ReleaseResult:
    """Where the release is. On a no-op, `path`/`version` name the existing identical release."""

    path: Path
    version: str
    noop: bool
    previous_version: str | None
    counts: dict[str, dict[str, int]]
    content_hash: str
    left_out: tuple[str, ...] = ()  # the notes on configs and splits not released for having no record


def write_release(
    benchmark: Benchmark,
    splits_by_config: dict[str, dict[str, list[dict]]],
    build_report: dict,
    releases_root: Path,
    *,
    version: str | None = None,
    bump: str = "patch",
    repo_id: str | None = None,
    resources_root: Path | None = None,
) -> ReleaseResult:
    """Write a new release, or report a no-op when the data equals the latest release.

    `resources_root` holds `schemas/` and `cards/` (default: the repository root).
    """
    _check_request(benchmark, splits_by_config, version, bump)
    carried = carry_configs(benchmark, splits_by_config, Path(releases_root) / benchmark.name, resources_root)
    splits_by_config, build_report = carried.merged_into(splits_by_config), carried.noted_in(build_report)
    notes = left_out_notes(benchmark, splits_by_config)
    build_report = with_notes(build_report, notes)
    splits_by_config = released_configs(benchmark, splits_by_config)
    json_schema = load_json_schema(benchmark.name, resources_root)
    record_tree = parse_json_schema(json_schema)
    arrow_schema = arrow_schema_from_json_schema(json_schema)
    benchmark_dir = Path(releases_root) / benchmark.name
    benchmark_dir.mkdir(parents=True, exist_ok=True)
    with _cyclic_gc_paused(), _staging_folder(benchmark_dir) as staging:
        written = _write_data(benchmark, splits_by_config, record_tree, arrow_schema, staging)
        digests = {path: sha256_file(staging / path) for path in _shard_paths(written)}
        new_hash = content_hash(json_schema, digests)
        counts = record_counts(splits_by_config)
        with _release_lock(benchmark_dir):
            # Read again under the lock: another build may have published while the shards were written.
            existing = released_versions(benchmark_dir)
            previous = max(existing) if existing else None
            previous_dir = existing.get(previous) if previous else None
            if previous_dir is not None and read_manifest(previous_dir)["content_hash"] == new_hash:
                return ReleaseResult(previous_dir, str(previous), True,
                                     read_manifest(previous_dir).get("previous_version"), counts, new_hash,
                                     tuple(notes))
            carried.check_still_latest(previous)
            new_version = _next_version(previous, existing, version, bump)
            leakage = check_leakage(benchmark, record_tree, str(new_version), _shard_files(staging, written),
                                    [(str(v), release_shards(existing[v])) for v in sorted(existing)])
            _write_documents(benchmark, staging, written, arrow_schema, counts, build_report, new_hash,
                             new_version, previous, previous_dir, repo_id, resources_root, leakage)
            manifest = build_manifest(
                benchmark=benchmark.name,
                version=str(new_version),
                previous_version=str(previous) if previous else None,
                toolkit_version=builders.__version__,
                content_hash_value=new_hash,
                counts=counts,
                files=file_digests(staging, known_sha256=digests),
                build_report=build_report,
                repo_id=repo_id,
                leakage=leakage,
            )
            (staging / MANIFEST_NAME).write_bytes(canonical_json(manifest))
            target = _publish(staging, benchmark_dir, new_version)
    return ReleaseResult(target, str(new_version), False, manifest["previous_version"], counts, new_hash,
                         tuple(notes))


def _next_version(previous: Version | None, existing: dict[Version, Path], requested: str | None,
                  bump: str) -> Version:
    try:
        return next_version(previous, set(existing), requested=requested, bump=bump)
    except VersionError as error:
        if requested is None:
            raise
        raise VersionError(f"{error} (Another build into the same folder may have taken it while this one "
                           "ran.)") from None


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while a release is written.

    The records are millions of long-lived objects, and encoding them allocates enough to set off
    full collections that traverse every one of them (measured: 18% of the write's CPU at 2*10^5
    records).
    Reference counting still frees everything the writer drops; cycles wait until the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- checks ------------------------------------------------------------------------------------


def _check_request(benchmark: Benchmark, splits_by_config: dict, version: str | None, bump: str) -> None:
    if bump not in BUMPS:
        raise VersionError(f"unknown bump {bump!r}; use one of {', '.join(BUMPS)}.")
    if version is not None:
        Version.parse(version)
    unknown = [config for config in splits_by_config if config not in benchmark.configs]
    if unknown:
        raise ValueError(
            f"configs {unknown} are not declared by benchmark {benchmark.name!r} "
            f"(declared: {list(benchmark.configs)})."
        )
    for config, splits in splits_by_config.items():
        for name in [config, *splits]:
            if not name.replace("_", "").isalnum() or not name.isascii():
                raise ValueError(f"config/split name {name!r} must use only {_NAME_PATTERN}.")
    if not released_configs(benchmark, splits_by_config):
        raise ValueError(
            f"no config of {benchmark.name!r} has any record (given: {list(splits_by_config)}); "
            "there is nothing to release."
        )


# --- data ----------------------------------------------------------------------------------------


def released_configs(benchmark: Benchmark, splits_by_config: dict) -> dict[str, dict[str, list[dict]]]:
    """The configs and splits that get released, in the benchmark's order: those with a record.

    An empty config or split would be a parquet file of no rows and a card entry that loads nothing
    (a Literary-only PersonaEval build has no Drama rows, a LitCharToM build without held-out works
    no `ood` rows, few groups can leave a split without any), so it is left out altogether.
    """
    released = {}
    for config in benchmark.configs:
        splits = {split: rows for split, rows in splits_by_config.get(config, {}).items() if rows}
        if splits:
            released[config] = splits
    return released


def left_out_notes(benchmark: Benchmark, splits_by_config: dict) -> list[str]:
    """A note naming the configs given without any record, and one for each released config with empty splits."""
    given = [config for config in benchmark.configs if config in splits_by_config]
    # Worded so that no "config `x`" / "`x` config" reads as a claim that the config exists.
    empty_configs = [config for config in given if not any(splits_by_config[config].values())]
    notes = [f"config(s) without any record in this build, so not released (a release holds no empty file): "
             f"{', '.join(f'`{config}`' for config in empty_configs)}"] if empty_configs else []
    for config in given:
        empty = [split for split, rows in splits_by_config[config].items() if not rows]
        if empty and config not in empty_configs:
            names = ", ".join(f"`{split}`" for split in empty)
            notes.append(f"config `{config}`: split(s) {names} have no record in this build, so they are not "
                         "released (a release holds no empty file)")
    return notes


def with_notes(build_report: dict, notes: list[str]) -> dict:
    """The build report with `notes` added to its own (a copy: the caller's report is left as it is)."""
    if not notes:
        return build_report
    return {**build_report, "notes": [*(build_report.get("notes") or []), *notes]}


def _write_data(benchmark, splits_by_config, record_tree, arrow_schema, staging: Path) -> dict:
    """Write every config/split; return {config: {split: WrittenSplit}} in release order."""
    schema = with_features_metadata(arrow_schema)
    written: dict[tuple[str, str], WrittenSplit] = {}
    with WriteQueue() as queue:
        for split in dict.fromkeys(split for splits in splits_by_config.values() for split in splits):
            records_by_config = {config: splits[split] for config, splits in splits_by_config.items() if split in splits}
            for config, written_split in _write_split(benchmark, split, records_by_config, record_tree, schema,
                                                      staging, queue).items():
                written[config, split] = written_split
    return {config: {split: written[config, split] for split in splits} for config, splits in splits_by_config.items()}


def _write_split(benchmark, split: str, records_by_config: dict[str, list[dict]], record_tree, schema,
                 staging: Path, queue: WriteQueue) -> dict[str, WrittenSplit]:
    """One split of every config. Configs are views of one set of records (ToMATO's `first_order`
    is a filter of `all`), so the split's records are encoded into Arrow once, in release order,
    and each config takes its rows from those tables by a row mask: sorting a config's records
    gives the same order as filtering the sorted union whenever the union's sort keys are distinct
    (they end with the id). When they are not (two record objects with one id in different
    configs), each config is encoded from its own sorted records, as the mask would be wrong."""
    for config, records in records_by_config.items():
        _check_ids(benchmark, records, f"{config}/{split}")
    union = list({id(record): record for records in records_by_config.values() for record in records}.values())
    sort_key = _release_sort_key(benchmark)
    keys = [sort_key(record) for record in union]
    order = sorted(range(len(union)), key=keys.__getitem__)
    ordered = [union[index] for index in order]
    distinct = all(map(operator.lt, (keys[i] for i in order), (keys[i] for i in order[1:])))
    del keys, order
    writers = {config: SplitWriter(staging, config, split, schema, len(records), queue)
               for config, records in records_by_config.items()}
    if distinct:
        masks = {config: _member_mask(ordered, records) for config, records in records_by_config.items()}
        _encode(ordered, masks, writers, record_tree, schema, _union_describer(benchmark, split, records_by_config))
    else:
        for config, records in records_by_config.items():
            _encode(sorted(records, key=sort_key), {config: None}, writers, record_tree, schema,
                    _describer(benchmark.id_field, f"{config}/{split}"))
    return {config: writer.close() for config, writer in writers.items()}


def _check_ids(benchmark: Benchmark, records: list[dict], where: str) -> None:
    id_field = benchmark.id_field
    missing = [i for i, record in enumerate(records) if record.get(id_field) is None]
    if missing:
        raise ValueError(f"{where}: records at positions {missing[:5]} have no {id_field!r}.")
    ids = [record[id_field] for record in records]
    if len(set(ids)) != len(ids):
        duplicates = sorted(str(i) for i, n in Counter(ids).items() if n > 1)[:5]
        raise ValueError(f"{where}: duplicate {id_field} values {duplicates}; ids must be unique per split.")


def _release_sort_key(benchmark: Benchmark):
    """Rows are ordered by the benchmark's sort key, then by id (which makes the order total)."""
    id_field = benchmark.id_field
    sort_key = benchmark.sort_key or (lambda record: (str(record[id_field]),))
    return lambda record: (sort_key(record), str(record[id_field]))


def _member_mask(ordered: list[dict], records: list[dict]) -> list[bool] | None:
    """Which rows of `ordered` (a split's records of every config) are `records`; None for all."""
    if len(records) == len(ordered):  # a subset with unique ids, as large as the union: the union
        return None
    members = {id(record) for record in records}
    return [id(record) in members for record in ordered]


def _encode(ordered: list[dict], masks: dict[str, list[bool] | None], writers: dict[str, SplitWriter],
            record_tree, schema, describe) -> None:
    """Encode `ordered` a row group at a time and hand each config its rows (`None` mask: all)."""
    for start in range(0, len(ordered), ENCODE_BATCH_ROWS):
        table = records_table(ordered[start : start + ENCODE_BATCH_ROWS], record_tree, schema, describe, MEMORY_POOL)
        for config, mask in masks.items():
            rows = None if mask is None else mask[start : start + ENCODE_BATCH_ROWS]
            if rows is None or all(rows):
                writers[config].append(table)
            elif any(rows):
                writers[config].append(pc.filter(table, pa.array(rows, type=pa.bool_()), memory_pool=MEMORY_POOL))


def _describer(id_field: str, where: str):
    return lambda record: f"{where} record {id_field}={record.get(id_field)!r}"


def _union_describer(benchmark: Benchmark, split: str, records_by_config: dict[str, list[dict]]):
    """Names a record of the union by the first config holding it (looked up only on an error)."""
    first_config: dict[int, str] = {}

    def describe(record: dict) -> str:
        if not first_config:
            for config, records in reversed(records_by_config.items()):
                first_config.update((id(member), config) for member in records)
        return _describer(benchmark.id_field, f"{first_config[id(record)]}/{split}")(record)

    return describe


def _shard_files(staging: Path, written: dict[str, dict[str, WrittenSplit]]) -> Shards:
    return {config: {split: [staging / path for path in split_written.paths]
                     for split, split_written in splits.items()}
            for config, splits in written.items()}


def _shard_paths(written: dict[str, dict[str, WrittenSplit]]) -> list[str]:
    return [path for splits in written.values() for split_written in splits.values() for path in split_written.paths]


# --- documents -----------------------------------------------------------------------------------


def _write_documents(benchmark, staging, written, arrow_schema, counts, build_report, new_hash,
                     new_version, previous, previous_dir, repo_id, resources_root, leakage) -> None:
    files = _shard_files(staging, written)
    _write_changelog(benchmark, staging, files, new_version, previous, previous_dir)
    stats = [config_stats(benchmark, config, paths_by_split) for config, paths_by_split in files.items()]
    charts = _write_charts(staging, stats[0])  # the default config's only: the card stays readable
    inputs = CardInputs(
        version=str(new_version),
        previous_version=str(previous) if previous else None,
        content_hash=new_hash,
        repo_id=repo_id,
        arrow_schema=arrow_schema,
        counts=counts,
        split_bytes={config: {split: split_written.arrow_nbytes for split, split_written in splits.items()}
                     for config, splits in written.items()},
        stats=stats,
        charts=charts,
        build_report=build_report,
        leakage=leakage,
    )
    card = render_card(benchmark, inputs, resources_root)
    previous_card = _read_text(previous_dir / README_NAME) if previous_dir else None
    (staging / README_NAME).write_text(merge_card(previous_card, card), encoding="utf-8")


def config_stats(benchmark: Benchmark, config: str, paths_by_split: dict[str, list[Path]]) -> ConfigStats:
    """The card's tables of one config, from only the columns they count."""
    fields = [*benchmark.stats_fields, *([benchmark.answer_field] if benchmark.answer_field else [])]
    tables = {split: read_columns(paths, fields) for split, paths in paths_by_split.items()}
    return ConfigStats(
        config=config,
        distributions=[table_distribution(tables, field) for field in benchmark.stats_fields],
        answer_positions=table_distribution(tables, benchmark.answer_field) if benchmark.answer_field else None,
    )


def _write_changelog(benchmark, staging, files: Shards, new_version, previous, previous_dir) -> None:
    diffs = []
    for config, split in _changelog_splits(files, previous_dir):
        new_paths = files.get(config, {}).get(split, [])
        old_paths = _previous_paths(previous_dir, config, split) if previous_dir else []
        diffs.append(changelog_module.diff_split(config, split, old_paths, new_paths, benchmark.id_field))
    text = changelog_module.render_changelog(
        version=str(new_version),
        previous_version=str(previous) if previous else None,
        id_field=benchmark.id_field,
        diffs=diffs,
        previous_changelog=_read_text(previous_dir / changelog_module.CHANGELOG_NAME) if previous_dir else None,
    )
    (staging / changelog_module.CHANGELOG_NAME).write_text(text, encoding="utf-8")


def _changelog_splits(files: Shards, previous_dir: Path | None) -> list[tuple[str, str]]:
    """This release's (config, split) pairs, then those only the previous release had (a config that
    is empty now is not written, and its rows show up as removed)."""
    pairs = [(config, split) for config, splits in files.items() for split in splits]
    previous_counts = read_manifest(previous_dir)["counts"] if previous_dir else {}
    return pairs + [(config, split) for config, splits in previous_counts.items() for split in splits
                    if (config, split) not in pairs]


def _previous_paths(previous_dir: Path, config: str, split: str) -> list[Path]:
    prefix = f"data/{config}/{split}-"
    return [previous_dir / path for path in sorted(read_manifest(previous_dir)["files"]) if path.startswith(prefix)]


def _write_charts(staging: Path, stats: ConfigStats) -> list[Chart]:
    charts = []
    for dist in stats.distributions:
        charts.append(_chart(staging, dist, f"charts/{dist.field}.png", dist.field))
    if stats.answer_positions is not None:
        answers = stats.answer_positions
        charts.append(_chart(staging, answers, "charts/answer_position.png", f"answer position ({answers.field})"))
    return charts


def _chart(staging: Path, dist, relative: str, title: str) -> Chart:
    bar_chart(staging / relative, title, dist.values, [dist.totals[value] for value in dist.values])
    return Chart(title=title, path=relative)


def _read_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


# --- staging folders and the benchmark lock ------------------------------------------------------


def _release_lock(benchmark_dir: Path) -> FileLock:
    """Held while staging folders are created or cleaned and while a version is chosen and published.
    An OS lock (flock): it is released when its process dies, so a killed build never blocks the next.
    Its file stays (deleting a lock file others may be waiting on is unsafe), next to the benchmark
    folder so that the folder holds only releases and their build reports."""
    return FileLock(benchmark_dir.parent / f".{benchmark_dir.name}{RELEASE_LOCK_SUFFIX}")


@contextlib.contextmanager
def _staging_folder(benchmark_dir: Path):
    """A fresh `.staging-<id>` folder (mode from the umask) whose lock this process holds until the
    folder is gone: renamed into place as the release, or removed after a failure."""
    with _release_lock(benchmark_dir):
        _remove_abandoned(benchmark_dir)
        staging, lock = _new_staging(benchmark_dir)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # already gone when it was published
        Path(lock.lock_file).unlink(missing_ok=True)
        lock.release()


def _new_staging(benchmark_dir: Path) -> tuple[Path, FileLock]:
    while True:
        staging = benchmark_dir / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
        lock = FileLock(_staging_lock_path(staging))
        lock.acquire(timeout=0)  # a brand-new name: nobody else holds it
        try:
            os.mkdir(staging)  # 0o777 minus the umask, unlike tempfile.mkdtemp's 0o700
        except FileExistsError:  # a leftover of an older toolkit with this very name
            lock.release()
            continue
        return staging, lock


def remove_abandoned_staging(benchmark_dir: Path) -> list[Path]:
    """Delete staging folders whose writer is gone (see the module docstring); never a live one.
    Returns the folders removed."""
    benchmark_dir = Path(benchmark_dir)
    if not benchmark_dir.is_dir():
        return []
    with _release_lock(benchmark_dir):
        return _remove_abandoned(benchmark_dir)


def _remove_abandoned(benchmark_dir: Path) -> list[Path]:
    """Called with the benchmark lock held, so no writer is between creating a lock and its folder."""
    removed = []
    for path in sorted(benchmark_dir.glob(f"{STAGING_PREFIX}*")):
        if path.name.endswith(STAGING_LOCK_SUFFIX):
            if not path.with_name(path.name[: -len(STAGING_LOCK_SUFFIX)]).exists():
                _remove_if_unlocked(path, None)  # a lock whose folder is gone (killed between the two)
        elif path.is_dir() and _staging_is_abandoned(path):
            removed.append(path)
    return removed


def _staging_is_abandoned(staging: Path) -> bool:
    lock_path = _staging_lock_path(staging)
    if not lock_path.exists():
        if time.time() - staging.stat().st_mtime < UNLOCKED_STAGING_MAX_AGE:
            return False
        shutil.rmtree(staging, ignore_errors=True)
        return True
    return _remove_if_unlocked(lock_path, staging)


def _remove_if_unlocked(lock_path: Path, staging: Path | None) -> bool:
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:  # its writer is alive
        return False
    except OSError:  # another user's lock we cannot open: leave it to them
        return False
    try:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        lock_path.unlink(missing_ok=True)
    finally:
        lock.release()
    return True


def _staging_lock_path(staging: Path) -> Path:
    return staging.with_name(staging.name + STAGING_LOCK_SUFFIX)


# --- publishing the folder -------------------------------------------------------------------------


def _publish(staging: Path, benchmark_dir: Path, version: Version) -> Path:
    target = benchmark_dir / version.tag
    if target.exists():
        raise VersionError(f"{target} already exists; releases are immutable, pick a new version.")
    _fsync_tree(staging)
    os.rename(staging, target)  # atomic on one filesystem: the release appears complete or not at all
    _fsync_dir(benchmark_dir)
    return target


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for folder in sorted({p.parent for p in root.rglob("*")} | {root}):
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
