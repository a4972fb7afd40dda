"""PersonaEval's answer key: gold slots an attacker cannot recompute, balanced per track, the same
for the owner on every rebuild.

- Secrecy: an attacker holding the release (every row without the fields that state the answer,
  the row order, the ids, the seed in the manifest) and this toolkit's code predicts the gold slot
  no better than chance, by the builder's old seeded sequence, hashing ids, completing blocks of
  four, or the dealer run with a guessed salt. The same attacks do find a key dealt the old way, so
  they are not blind.
- Balance: per track, every slot holds the gold n/4 times up to one, whatever n is.
- The owner: the same cache and salt rebuild the release byte for byte; another salt gives the same
  items with other slots, and every position-dependent field follows the dealt slot.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builders.answer_key import deal
from builders.personaeval import build, records
from tests.support.public_seed_positions import BalancedPositions
from builders.resources import load_schema
from builders.validate import RecordValidator, validate_records
from tests.support.standin_builds import (
    STANDIN_BUILDS,
    run_standin_build,
    standin_server,
)
from tests.test_personaeval_build import FakeLLM, args_for, run

pytest.importorskip("builders.sources.plays")

SALT = bytes.fromhex("5a" * 32)  # the owner's; an attacker never sees it
SEED = 0
OLD_NAMESPACE = "personaeval-positions"  # the seeded balanced sequence the builder used to deal from
KEY_FIELDS = ("gt", "gold_index")  # state the answer; so do provenance.gold and provenance.options[].kind


@pytest.fixture(scope="module")
def release():
    """Every instance of the twelve default plays, built on the fake and dealt as the CLI deals them."""
    rows, _ = run(FakeLLM(), args_for(n=400, plays=None, seed=SEED))
    rows.sort(key=build.release_sort_key)  # the release's row order
    return deal("personaeval", build.BENCHMARK.answer_key, rows, "id", SALT)


def published(row: dict) -> dict:
    """What an attacker sees of a row: everything but the fields that state the answer."""
    provenance = {k: v for k, v in row["provenance"].items() if k != "gold"}
    provenance["options"] = [{k: v for k, v in option.items() if k != "kind"} for option in provenance["options"]]
    return {**{k: v for k, v in row.items() if k not in KEY_FIELDS}, "provenance": provenance}


def attacks(rows: list[dict], truth: list[int]) -> dict[str, list[int]]:
    """Each attack's predicted slot for every row, from the published rows and the code (block
    completion also uses the true slots of the three rows before, as if it had solved them)."""
    seen = [published(row) for row in rows]
    old = BalancedPositions(SEED, namespace=OLD_NAMESPACE)
    guessed = {name: deal("personaeval", build.BENCHMARK.answer_key, rows, "id", salt)
               for name, salt in (("empty", b""), ("seed", str(SEED).encode()))}
    return {
        "the builder's old seeded sequence": [old.next(row["track"]) for row in seen],
        "hash of the id": [hashlib.sha256(row["id"].encode()).digest()[0] % 4 for row in seen],
        "complete the block of four": [_complete(truth[max(0, i - 3):i]) for i in range(len(seen))],
        "the least used slot so far": [_least_used(truth[:i]) for i in range(len(seen))],
        "the dealer with an empty salt": [row["gold_index"] for row in guessed["empty"]],
        "the dealer with the seed as salt": [row["gold_index"] for row in guessed["seed"]],
        "the first candidate of the provenance": [0] * len(seen),
        "random guessing": [random.Random(i).randrange(4) for i in range(len(seen))],
    }


def _complete(before: list[int]) -> int:
    return ({0, 1, 2, 3} - set(before)).pop() if len(set(before)) == 3 else 0


def _least_used(seen: list[int]) -> int:
    counts = Counter(seen)
    return min(range(4), key=lambda slot: (counts[slot], slot))


def _accuracy(guess: list[int], truth: list[int]) -> float:
    return sum(g == t for g, t in zip(guess, truth)) / len(truth)


def chance_interval(n: int, p: float = 0.25, z: float = 4.0) -> tuple[float, float]:
    spread = z * (p * (1 - p) / n) ** 0.5
    return p - spread, p + spread


def test_an_attacker_with_the_release_and_the_code_finds_gold_slots_at_chance(release):
    truth = [row["gold_index"] for row in release]
    assert len(release) > 300 and all("gt" not in published(row) for row in release)
    low, high = chance_interval(len(release))
    for name, guess in attacks(release, truth).items():
        assert low < _accuracy(guess, truth) < high, (name, _accuracy(guess, truth))


def test_the_same_attacks_find_a_key_dealt_the_old_way(release):
    """Not blind: on slots dealt from the seeded balanced sequence, the old sequence finds every gold
    and completing blocks of four finds the last of every block (chance is 0.25)."""
    old = BalancedPositions(SEED, namespace=OLD_NAMESPACE)
    truth = [old.next(row["track"]) for row in release]
    found = {name: _accuracy(guess, truth) for name, guess in attacks(release, truth).items()}
    assert found["the builder's old seeded sequence"] == 1.0 and found["complete the block of four"] > 0.4


def test_slots_are_balanced_over_the_track_and_every_row_stays_valid(release):
    counts = Counter(row["gold_index"] for row in release)
    assert max(counts.values()) - min(counts[slot] for slot in range(4)) <= 1
    assert all(abs(counts[slot] / len(release) - 0.25) <= 0.02 for slot in range(4))
    _, invalid = validate_records(release, RecordValidator(load_schema("personaeval"), build.BENCHMARK.checks))
    assert invalid == [] and all(records.render_prompt_from(row) == row["prompt"] for row in release)


@pytest.mark.parametrize("n", [1, 3, 7, 20, 41])
def test_any_number_of_rows_is_balanced_to_within_one(release, n):
    rows = _gold_first(release[:n])
    assert {row["gold_index"] for row in rows} == {0}
    counts = Counter(row["gold_index"] for row in deal("personaeval", build.BENCHMARK.answer_key, rows, "id", SALT))
    assert max(counts.get(slot, 0) for slot in range(4)) - min(counts.get(slot, 0) for slot in range(4)) <= 1


def _gold_first(rows: list[dict]) -> list[dict]:
    """The rows as the builder leaves them: the gold in slot 0 (placing is reversible)."""
    placed = []
    for row in rows:
        order = [row["gold_index"], *(slot for slot in range(4) if slot != row["gold_index"])]
        placed.append(build.BENCHMARK.answer_key.place(row, 0, order))
    return placed


# -- the owner: the same release from the same cache and salt, other slots from another salt ----------


def _rows(release_dir: Path) -> list[dict]:
    return [row for shard in sorted(release_dir.glob("data/*/*.parquet")) for row in pq.read_table(shard).to_pylist()]


def _files(release_dir: Path) -> dict[str, bytes]:
    return {str(path.relative_to(release_dir)): path.read_bytes() for path in sorted(release_dir.rglob("*"))
            if path.is_file()}


@pytest.fixture(scope="module")
def owner_builds(tmp_path_factory):
    """A build; the same build again from a copy of its cache (salt included), into another folder;
    and one from the same cache with another salt file."""
    tmp = tmp_path_factory.mktemp("personaeval-owner")
    other_salt = tmp / "other.salt"
    other_salt.write_text("c3" * 32 + "\n")
    flags = STANDIN_BUILDS["personaeval"].flags
    with standin_server("openai") as server:
        first = run_standin_build("builders.personaeval", server, tmp, *flags, n=20, name="first")
        for name in ("again", "salted"):
            shutil.copytree(tmp / "first-cache", tmp / f"{name}-cache")
        again = run_standin_build("builders.personaeval", server, tmp, *flags, n=20, name="again")
        salted = run_standin_build("builders.personaeval", server, tmp, *flags, "--answer-key-salt-file",
                                   str(other_salt), n=20, name="salted")
    return first, again, salted


def test_the_same_cache_and_salt_rebuild_the_release_byte_for_byte(owner_builds):
    first, again, _ = owner_builds
    assert first.result.returncode == 0 and again.result.returncode == 0, first.result.stderr[-2000:]
    assert again.build_report["llm"]["total"]["requests"] == 0  # everything came from the cache
    assert _files(first.release) == _files(again.release)


def test_another_salt_keeps_the_items_and_moves_the_golds(owner_builds):
    first, _, salted = owner_builds
    assert salted.result.returncode == 0, salted.result.stderr[-2000:]
    mine, theirs = {r["id"]: r for r in _rows(first.release)}, {r["id"]: r for r in _rows(salted.release)}
    assert mine.keys() == theirs.keys()
    moved = 0
    for row_id, row in mine.items():
        other = theirs[row_id]
        assert row["gt"] == other["gt"] and row["provenance"]["dialogue"] == other["provenance"]["dialogue"]
        names = {row[f"option{i}"]: row[f"option{i}_profile"] for i in range(1, 5)}
        assert names == {other[f"option{i}"]: other[f"option{i}_profile"] for i in range(1, 5)}
        assert other[f"option{other['gold_index'] + 1}"] == other["gt"] == row[f"option{row['gold_index'] + 1}"]
        assert records.render_prompt_from(other) == other["prompt"]
        moved += row["gold_index"] != other["gold_index"]
    assert moved >= len(mine) // 2  # a random other slot differs three times in four
    assert first.manifest["build_report"]["answer_key"]["salt_fingerprint"] != \
        salted.manifest["build_report"]["answer_key"]["salt_fingerprint"]
