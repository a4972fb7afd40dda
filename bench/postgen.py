"""Benchmark of the post-generation stages: validate -> dedup -> split -> release, and leakage.

    python -m bench.postgen [--n 1000000] [--leak-new 100000] [--compare 20000]

It builds N synthetic ToMATO-shaped records (the 16 fields of the spec plus `provenance`) with a
known planted share of exact duplicates (the same item re-cased and re-punctuated), near
duplicates (a few words changed) and schema-invalid records, then times each stage, reports
records/s, peak memory (ru_maxrss) and dedup precision/recall against the planted truth.
Generating the records is not timed, but their memory is part of the peak.

The write stage is `release.write_release` with the ToMATO benchmark descriptor (its four configs,
sort order and card), so it measures what a build runs: parquet shards, stats, changelog, charts,
card and manifest. The leakage figure then checks new records (some of them planted copies of the
release's records) against that release through `release.leakage`, as the next release would.

`--compare K` also measures the slower alternatives on K records (pure-Python jsonschema, per-record
Python normalisation, datasketch and rensa MinHash) to show what each choice buys.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import operator
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench import Figure, format_table
from builders.benchmark import Benchmark
from builders.dedup import dedup_records
from builders.pipeline import split_by_config
from builders.tomato.build import BENCHMARK as TOMATO
from builders.validate import RecordValidator, check_schema, load_schema, validate_records
from release import write_release
from release.arrow_schema import arrow_schema_from_json_schema, parse_json_schema
from release.leakage import check_leakage, release_shards
from release.parquet_io import write_split

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = REPO_ROOT / "schemas" / "tomato.schema.json"

TARGET_SECONDS = 60.0  # validate + dedup + split + release write, 10^6 records
TARGET_PEAK_GIB = 4.0
TARGET_QUALITY = 0.95  # dedup precision and recall on the planted duplicates
SPLIT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
LEAKED_SHARE = 0.1  # of the leakage check's new records: planted copies of released records

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MENTAL_STATES = ("belief", "intention", "desire", "emotion", "knowledge")
STATE_VERB = {"belief": "believes", "intention": "intends", "desire": "wants", "emotion": "feels", "knowledge": "knows"}
STATE_QUESTION = {"belief": "believe", "intention": "intend", "desire": "want", "emotion": "feel", "knowledge": "know"}
BIG_FIVE_TRAITS = ("Openness to Experience", "Conscientiousness", "Extraversion", "Agreeableness", "Neuroticism")
TURNS = 14
WORDS_PER_UTTERANCE = 18
WORDS_PER_OPTION = 18
CHANGED_WORDS_PER_NEAR_DUPLICATE = 3


# ---------------------------------------------------------------------------------------------
# Synthetic ToMATO records with planted duplicates


@dataclass
class Planted:
    """Ids (q_id) of the records planted as exact duplicates, near duplicates and invalid ones."""

    exact: set[str] = field(default_factory=set)
    near: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)


class SyntheticTomato:
    """Makes ToMATO-shaped records from a Zipf-distributed made-up vocabulary (deterministic)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.vocabulary = self._vocabulary(4000)
        ranks = np.arange(1, len(self.vocabulary) + 1)
        self.word_weights = (1.0 / (ranks + 2.7)) / (1.0 / (ranks + 2.7)).sum()
        self.first_names = [w.capitalize() for w in self._vocabulary(300)]
        self.last_names = [w.capitalize() for w in self._vocabulary(300)]
        profiles = [[("High", "Low")[(bits >> t) & 1] for t in range(5)] for bits in range(32)]
        self.big_five = ["; ".join(f"{trait} - {level}" for trait, level in zip(BIG_FIVE_TRAITS, p)) for p in profiles]
        self.provenance_base = {"model": "local:smollm2", "provider": "local", "builder_version": "0.1.0",
                                "prompt_hash": "9f2c" * 16, "seed": seed}
        self.next_combo = 0

    def _vocabulary(self, size: int) -> list[str]:
        syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "pe", "da", "ri", "on", "el", "an",
                     "is", "th", "ee", "ou", "ar", "st", "gh", "in", "er", "us"]
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(self.rng.choice(syllables, size=int(self.rng.integers(1, 4)))))
        return sorted(words)

    def _phrases(self, count: int, length: int) -> list[str]:
        indices = self.rng.choice(len(self.vocabulary), size=(count, length), p=self.word_weights)
        pick = operator.itemgetter(*range(length))
        words = np.array(self.vocabulary, dtype=object)[indices]
        return [" ".join(pick(row)) for row in words]

    def _ulid(self) -> str:
        return "".join(CROCKFORD[i] for i in self.rng.integers(0, 32, 26))

    def combo(self) -> str:
        number, self.next_combo = self.next_combo, self.next_combo + 1
        return "".join(CROCKFORD[(number >> (5 * k)) & 31] for k in reversed(range(5)))

    def conversation(self) -> list[dict]:
        """The 14 items of one synthetic conversation."""
        rng = self.rng
        names = [f"{rng.choice(self.first_names)} {rng.choice(self.last_names)}" for _ in range(2)]
        pronouns = [("He", "he") if rng.random() < 0.5 else ("She", "she") for _ in range(2)]
        profiles = [self.big_five[int(i)] for i in rng.integers(0, 32, 2)]
        agents = [self._ulid(), self._ulid()]
        environment = self._ulid()
        state = MENTAL_STATES[int(rng.integers(0, 5))]
        combo = self.combo()
        utterances = [text.capitalize() + (".", "?", "!")[int(rng.integers(0, 3))]
                      for text in self._phrases(TURNS, WORDS_PER_UTTERANCE)]
        lines = [f'{names[0]}: "Hi!"', f'{names[1]}: "Hi, how are you?"']
        lines += [f'{names[turn % 2]}: "{utterance}"' for turn, utterance in enumerate(utterances)]
        conversation = "\n".join(lines)
        options = self._phrases(TURNS * 4, WORDS_PER_OPTION)
        items = []
        for turn in range(TURNS):
            speaker, other = turn % 2, 1 - turn % 2
            order = 1 if speaker == 0 else 2
            first = names[speaker].split()[0]
            if order == 1:
                q = f'{names[speaker]} says "{utterances[turn]}" What does {first} {STATE_QUESTION[state]} at this point?'
                prefix = f"{pronouns[speaker][0]} {STATE_VERB[state]} that "
            else:
                q = (f'{names[speaker]} says "{utterances[turn]}" What does {first} think '
                     f"{names[other].split()[0]} {STATE_QUESTION[state]}s?")
                prefix = f"{pronouns[speaker][0]} thinks that {pronouns[other][1]} {STATE_VERB[state]} "
            answers = [prefix + text + "." for text in options[turn * 4 : turn * 4 + 4]]
            a_idx = int(rng.integers(0, 4))
            tag = "1st-order" if order == 1 else "2nd-order-belief-about"
            items.append({
                "q": q, "a0": answers[0], "a1": answers[1], "a2": answers[2], "a3": answers[3],
                "a_idx": a_idx, "a_str": answers[a_idx], "big_five": profiles[speaker],
                "conversation": conversation, "false_belief": bool(order == 2 and rng.random() < 0.1),
                "mental_state": state, "order": order, "q_id": f"{tag}-{state}_{combo}_{turn}",
                "sotopia_agents": agents, "sotopia_environment": environment, "u_id": str(turn),
                "provenance": {**self.provenance_base, "sample": 0, "turn": turn},
            })
        return items

    def copy_as_new_item(self, source: dict) -> dict:
        """The same item filed under a new combo and environment (as a rerun would produce)."""
        copy = dict(source)
        tag, _, rest = source["q_id"].rpartition(f"-{source['mental_state']}_")
        turn = rest.rsplit("_", 1)[1]
        copy["q_id"] = f"{tag}-{source['mental_state']}_{self.combo()}_{turn}"
        copy["sotopia_environment"] = self._ulid()
        copy["provenance"] = {**source["provenance"], "sample": 1}
        return copy

    def exact_duplicate(self, source: dict) -> dict:
        """Same normalised text: changed case, doubled spaces, dropped final punctuation."""
        copy = self.copy_as_new_item(source)
        style = int(self.rng.integers(0, 3))
        for name in ("q", "a0", "a1", "a2", "a3"):
            text = copy[name]
            copy[name] = (text.upper(), text.replace(" ", "  ", 3), text.rstrip(".?!"))[style]
        copy["a_str"] = copy[f"a{copy['a_idx']}"]
        return copy

    def near_duplicate(self, source: dict) -> dict:
        """A few words of the options replaced by other words."""
        copy = self.copy_as_new_item(source)
        for name in self.rng.choice(["a0", "a1", "a2", "a3"], size=CHANGED_WORDS_PER_NEAR_DUPLICATE):
            words = copy[name].split(" ")
            position = int(self.rng.integers(3, len(words)))
            replacement = words[position]
            while replacement == words[position]:
                replacement = self.vocabulary[int(self.rng.integers(0, len(self.vocabulary)))]
            words[position] = replacement
            copy[name] = " ".join(words)
        copy["a_str"] = copy[f"a{copy['a_idx']}"]
        return copy

    def invalid_record(self, source: dict, kind: int) -> dict:
        copy = self.copy_as_new_item(source)
        if kind == 0:
            copy["a_idx"] = 5  # out of range
        elif kind == 1:
            del copy["order"]  # missing field
        else:
            copy["a_str"] = copy["a0"] + " (edited)"  # breaks the cross-field check only
        return copy


def generate_records(count: int, *, seed: int, exact_share=0.05, near_share=0.05, invalid_share=0.001):
    """`count` records: originals, then duplicates and invalid copies, each placed after its source."""
    maker = SyntheticTomato(seed)
    planted = Planted()
    exact_count, near_count = round(count * exact_share), round(count * near_share)
    invalid_count = round(count * invalid_share)
    original_count = count - exact_count - near_count - invalid_count
    originals: list[dict] = []
    while len(originals) < original_count:
        originals.extend(maker.conversation())
    del originals[original_count:]

    extras: list[tuple[float, dict]] = []  # (position key, record); originals sit at keys 0, 1, 2, ...
    sources = maker.rng.integers(0, original_count, exact_count + near_count + invalid_count)
    offsets = maker.rng.random(len(sources))
    for number, source_index in enumerate(sources.tolist()):
        source = originals[source_index]
        if number < exact_count:
            record = maker.exact_duplicate(source)
            planted.exact.add(record["q_id"])
        elif number < exact_count + near_count:
            record = maker.near_duplicate(source)
            planted.near.add(record["q_id"])
        else:
            record = maker.invalid_record(source, number % 3)
            planted.invalid.add(record["q_id"])
        key = source_index + 0.5 + offsets[number] * (original_count - source_index)
        extras.append((key, record))
    extras.sort(key=operator.itemgetter(0))
    records, next_extra = [], 0
    for index, original in enumerate(originals):  # merge by position key, keeping sources first
        while next_extra < len(extras) and extras[next_extra][0] < index:
            records.append(extras[next_extra][1])
            next_extra += 1
        records.append(original)
    records.extend(record for _, record in extras[next_extra:])
    return records, planted


def dedup_text(record: dict) -> str:
    """What counts as "the same item": the question and the four options."""
    return "\n".join((record["q"], record["a0"], record["a1"], record["a2"], record["a3"]))


def environment_group(record: dict) -> str:
    return record["sotopia_environment"]


def a_str_is_the_gold_option(record: dict) -> str | None:
    """The cheapest ToMATO cross-field invariant, to exercise the record-check path."""
    if record["a_str"] != record[f"a{record['a_idx']}"]:
        return f"a_str differs from a{record['a_idx']}"
    return None


# ---------------------------------------------------------------------------------------------
# Stages


def bench_benchmark() -> Benchmark:
    """ToMATO's descriptor (configs, sort order, stats, card) with this benchmark's splits and texts."""
    return dataclasses.replace(TOMATO, group=environment_group, dedup_text=dedup_text, splits=SPLIT_RATIOS,
                               checks=(a_str_is_the_gold_option,))


def resources_root(json_schema: dict, folder: Path) -> Path:
    """A resources root whose schemas/tomato.schema.json is the bench schema (cards: the repository's)."""
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "tomato.schema.json").write_text(json.dumps(json_schema), encoding="utf-8")
    return folder


def release_stage(benchmark: Benchmark, splits: dict, json_schema: dict, folder: Path):
    """`write_release` into `folder/releases`; returns the result and the parquet bytes written."""
    result = write_release(benchmark, splits, {"seed": 0}, folder / "releases",
                           resources_root=resources_root(json_schema, folder / "resources"))
    return result, sum(path.stat().st_size for path in result.path.glob("data/*/*.parquet"))


def bench_schema(path: Path) -> dict:
    """The record schema at `path`, with `provenance` relaxed to a free-form object.

    The synthetic records carry a small provenance bag, not a builder's full provenance, so only
    that one property is replaced; the 16 released fields are validated exactly as the
    repository's schema says.
    """
    schema = copy.deepcopy(load_schema(path))
    schema.setdefault("properties", {})["provenance"] = {"type": "object"}
    check_schema(schema, source=f"{path} (provenance relaxed)")
    return schema


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


@dataclass
class Timer:
    """Wall seconds per stage, plus CPU seconds: on a shared machine the gap shows contention."""

    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, function, *args, **kwargs):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = function(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - started
        self.cpu_seconds[name] = time.process_time() - cpu_started
        print(f"  {name:<14} {self.seconds[name]:8.2f} s wall {self.cpu_seconds[name]:8.2f} s cpu"
              f"   peak {peak_gib():.2f} GiB", flush=True)
        return result


def precision_recall(removed_ids: set[str], truth: set[str]) -> tuple[float, float]:
    true_positives = len(removed_ids & truth)
    precision = true_positives / len(removed_ids) if removed_ids else 1.0
    recall = true_positives / len(truth) if truth else 1.0
    return precision, recall


# ---------------------------------------------------------------------------------------------
# The benchmark


def run_pipeline(count: int, seed: int, schema_path: Path, folder: Path, keep_sources: int = 0):
    """Figures of validate -> dedup -> split -> release on `count` records, the release's folder,
    and `keep_sources` released records (with their split) for the leakage check to copy."""
    json_schema = bench_schema(schema_path)
    print(f"generating {count:,} records ...", flush=True)
    started = time.perf_counter()
    records, planted = generate_records(count, seed=seed)
    print(f"  generated in {time.perf_counter() - started:.1f} s, peak {peak_gib():.2f} GiB", flush=True)
    baseline_gib = peak_gib()

    timer = Timer()
    benchmark = bench_benchmark()
    validator = RecordValidator(json_schema, list(benchmark.checks), source=str(schema_path))
    valid, rejects = timer.run("validate", validate_records, records, validator)
    result = timer.run("dedup", dedup_records, valid, key="q_id", text=dedup_text)
    splits = timer.run("split", split_by_config, benchmark, result.kept, SPLIT_RATIOS, seed)
    release, parquet_bytes = timer.run("release write", release_stage, benchmark, splits, json_schema, folder)
    total = sum(timer.seconds.values())

    removed = {entry["id"] for entry in result.removed}
    precision, recall = precision_recall(removed, planted.exact | planted.near)
    exact_recall = len(removed & planted.exact) / max(len(planted.exact), 1)
    near_recall = len(removed & planted.near) / max(len(planted.near), 1)
    rejected = {reject["record"]["q_id"] for reject in rejects}
    print("  dedup phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()), flush=True)
    print(f"  dedup stats: {json.dumps(result.stats)}", flush=True)
    print("  release rows: " + ", ".join(f"{config}/{split} {rows:,}" for config, by_split in release.counts.items()
                                         for split, rows in by_split.items()), flush=True)
    sources = _sources(splits[benchmark.default_config], keep_sources)
    per_second = lambda stage, n: n / timer.seconds[stage]  # noqa: E731
    figures = [
        Figure("records", count, "records"),
        Figure("validate", per_second("validate", len(records)), "records/s"),
        Figure("dedup (exact + near)", per_second("dedup", len(valid)), "records/s"),
        Figure("  phase: text() calls", len(valid) / _sum(result.timings, "text"), "records/s"),
        Figure("  phase: normalise+xxh3+MinHash", len(valid) / _sum(result.timings, "hash"), "records/s"),
        Figure("  phase: exact match", len(valid) / _sum(result.timings, "exact_match"), "records/s"),
        Figure("  phase: near match (LSH)", len(valid) / _sum(result.timings, "near_match"), "records/s"),
        Figure("split (+ configs)", per_second("split", len(result.kept)), "records/s"),
        Figure("release write (write_release)", per_second("release write", len(result.kept)), "records/s"),
        Figure("  rows written (4 configs)", sum(sum(s.values()) for s in release.counts.values()), "rows"),
        Figure("  parquet size", parquet_bytes / 2**20, "MiB"),
        Figure("validate+dedup+split+release", total, "s", f"< {TARGET_SECONDS:g}" if count >= 1_000_000 else ""),
        Figure("  same, CPU time", sum(timer.cpu_seconds.values()), "s"),
        *[Figure(f"  CPU time: {stage}", seconds, "s") for stage, seconds in timer.cpu_seconds.items()],
        Figure("peak memory (ru_maxrss)", peak_gib(), "GiB", f"< {TARGET_PEAK_GIB:g}"),
        Figure("  of which the input records", baseline_gib, "GiB"),
        Figure("rejects == the planted invalid records", float(rejected == planted.invalid), "", ">= 1"),
        Figure("dedup precision", precision, "", f">= {TARGET_QUALITY}"),
        Figure("dedup recall", recall, "", f">= {TARGET_QUALITY}"),
        Figure("  exact recall", exact_recall, ""),
        Figure("  near recall", near_recall, ""),
    ]
    return figures, release.path, sources


def _sum(timings: dict[str, float], *phases: str) -> float:
    return max(sum(timings[p] for p in phases), 1e-9)


def _sources(splits: dict[str, list[dict]], count: int) -> list[tuple[dict, str]]:
    """`count` released records spread evenly over the release, each with its split."""
    released = [(record, split) for split, records in splits.items() for record in records]
    step = max(len(released) // max(count, 1), 1)
    return released[::step][:count]


def run_leakage(new_count: int, sources: list[tuple[dict, str]], release_dir: Path, schema_path: Path,
                seed: int, folder: Path) -> list[Figure]:
    """New test records, LEAKED_SHARE of them planted copies of `sources`, against the release."""
    json_schema = bench_schema(schema_path)
    maker = SyntheticTomato(seed + 1)
    maker.next_combo = 1 << 24  # new ids never collide with released ones
    new: list[dict] = []
    while len(new) < new_count - len(sources):
        new.extend(maker.conversation())
    del new[new_count - len(sources):]
    leaked: dict[str, str] = {}  # planted copy id -> the split of its source
    for number, (source, split) in enumerate(sources):
        copy = (maker.exact_duplicate if number % 2 else maker.near_duplicate)(source)
        new.insert(int(maker.rng.integers(0, len(new) + 1)), copy)
        leaked[copy["q_id"]] = split
    benchmark = bench_benchmark()
    record_tree = parse_json_schema(json_schema)
    ordered = sorted(new, key=lambda record: record["q_id"])
    written = write_split(ordered, record_tree, arrow_schema_from_json_schema(json_schema), folder, "all", "test",
                          describe=lambda record: record["q_id"])
    new_shards = {"all": {"test": [folder / path for path in written.paths]}}
    earlier = [("1.0.0", release_shards(release_dir))]
    print(f"checking {len(new):,} new records against the release ...", flush=True)
    timer = Timer()
    report = timer.run("leakage check", check_leakage, benchmark, record_tree, "1.0.1", new_shards, earlier,
                       max_matches_listed=None)
    seconds = timer.seconds["leakage check"]
    against_train, against_all = report["against_train"], report["against_all"]
    print(f"  against train: {against_train['previous_records']:,} records, {against_train['leaked_records']:,} "
          f"leaked; against all: {against_all['previous_records']:,} records, "
          f"{against_all['leaked_records']:,} leaked", flush=True)
    train_truth = {record_id for record_id, split in leaked.items() if split == "train"}
    train_precision, train_recall = precision_recall({m["id"] for m in against_train["matches"]}, train_truth)
    precision, recall = precision_recall({m["id"] for m in against_all["matches"]}, set(leaked))
    return [
        Figure(f"leakage check (release.leakage), {len(new):,} new vs the release", seconds, "s"),
        Figure("  same, CPU time", timer.cpu_seconds["leakage check"], "s"),
        Figure("  earlier records compared (all splits / train)", against_all["previous_records"], "records"),
        Figure("  train", against_train["previous_records"], "records"),
        Figure("leakage vs all splits: precision", precision, "", f">= {TARGET_QUALITY}"),
        Figure("leakage vs all splits: recall", recall, "", f">= {TARGET_QUALITY}"),
        Figure("leakage vs train: precision", train_precision, "", f">= {TARGET_QUALITY}"),
        Figure("leakage vs train: recall", train_recall, "", f">= {TARGET_QUALITY}"),
    ]


# ---------------------------------------------------------------------------------------------
# The alternatives this module's choices were measured against


def compare_alternatives(count: int, seed: int, schema_path: Path) -> list[Figure]:
    """Records/s of the chosen engines and of the slower alternatives, on `count` records."""
    import datasketch
    import jsonschema
    import jsonschema_rs

    from builders.dedup import _utf8_buffers, minhash_signatures, normalise_text, normalise_texts

    records, _ = generate_records(count, seed=seed)
    json_schema = bench_schema(schema_path)
    explainer = jsonschema.validators.validator_for(json_schema)(json_schema)
    compiled = jsonschema_rs.validator_for(json_schema)
    texts = [dedup_text(r) for r in records]
    normalised = [normalise_text(t) for t in texts]
    shingle_sets = lambda docs: [[d[i : i + 5] for i in range(max(len(d) - 4, 1))] for d in docs]  # noqa: E731
    few = normalised[: max(count // 10, 100)]  # the slowest engines run on a tenth

    def ours():
        data, offsets = _utf8_buffers(pa.array(normalised, type=pa.large_string()))
        minhash_signatures(data, offsets, num_perm=128, ngram=5)

    def datasketch_minhash():
        for shingles in shingle_sets([d.encode() for d in few]):
            datasketch.MinHash(num_perm=128, seed=1).update_batch(shingles)

    figures = [
        Figure("alt: validate with jsonschema (Python)", _rate(lambda: [explainer.is_valid(r) for r in records[: len(few)]], len(few)), "records/s"),
        Figure("alt: validate with jsonschema_rs", _rate(lambda: [compiled.is_valid(r) for r in records], count), "records/s"),
        Figure("alt: normalise per record in Python", _rate(lambda: [normalise_text(t) for t in texts], count), "records/s"),
        Figure("alt: normalise with Arrow kernels", _rate(lambda: normalise_texts(texts), count), "records/s"),
        Figure("alt: MinHash datasketch (+ shingling)", _rate(datasketch_minhash, len(few)), "records/s"),
    ]
    try:
        import rensa
    except ImportError:
        print("  rensa is not installed: skipping its figures (pip install rensa)", flush=True)
    else:
        def rensa_minhash():
            for shingles in shingle_sets(few):
                minhash = rensa.RMinHash(num_perm=128, seed=1)
                minhash.update(shingles)
                minhash.digest()

        figures.append(Figure("alt: MinHash rensa (+ shingling)", _rate(rensa_minhash, len(few)), "records/s"))
    figures.append(Figure("alt: one-permutation MinHash, numpy", _rate(ours, count), "records/s"))
    return figures


def _rate(function, count: int) -> float:
    gc.collect()
    started = time.process_time()  # CPU time: the machine may be shared
    function()
    return count / max(time.process_time() - started, 1e-9)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(prog="python -m bench.postgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records through the pipeline (default 1e6)")
    parser.add_argument("--leak-new", type=int, default=100_000,
                        help="new records checked against the release for leakage (0: skip)")
    parser.add_argument("--compare", type=int, default=0, metavar="K", help="also time slower alternatives on K records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="record JSON schema (provenance is relaxed)")
    args = parser.parse_args(argv)
    if args.n < 1000:
        parser.error("--n must be at least 1000 so that every planted kind occurs")
    with tempfile.TemporaryDirectory(prefix="bench-postgen-") as folder:
        figures, release_dir, sources = run_pipeline(args.n, args.seed, args.schema, Path(folder) / "pipeline",
                                                     keep_sources=round(args.leak_new * LEAKED_SHARE))
        gc.collect()
        if args.leak_new:
            figures += run_leakage(args.leak_new, sources, release_dir, args.schema, args.seed,
                                   Path(folder) / "leakage")
    if args.compare:
        figures += compare_alternatives(args.compare, args.seed, args.schema)
    return figures


if __name__ == "__main__":
    print(format_table("bench.postgen", main()))
    sys.exit(0)
