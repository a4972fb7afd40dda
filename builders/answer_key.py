"""Gold positions no one can recompute: dealt over the whole release from a private salt.

A multiple-choice benchmark is worth what its answer key is worth. Positions derived from anything
published (the seed, ids, order, text) can be recomputed by anyone holding the release and this
toolkit's code; positions dealt in blocks of one per option give the last answer of a block away.
So gold positions are dealt once the release's records are final:

- per stratum (a benchmark's answer slots that must be balanced together: a track, a dimension, a
  file), every answer slot is ranked by HMAC-SHA256(salt, benchmark | stratum | record id | slot),
  and the ranked slots take the positions in turn from a salted start: each position holds the
  gold n/k times up to one, whatever n is, and in release order (by id) the positions follow no
  pattern anyone without the salt can see;
- the distractors' order is drawn from the same salt, so it carries nothing either.

The salt is 32 random bytes kept next to the response cache (`answer-key.salt` in --cache-dir,
created on first use, readable by its owner only) or given by the user (--answer-key-salt-file).
The same config, cache and salt give a byte-identical release; a release published without the
salt reveals nothing about it (the manifest names only a fingerprint: 12 hex digits of its sha256,
so an owner can tell which salt a release was dealt with). Losing the salt means the next build
deals new positions (a new content hash and version), nothing worse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

Record = dict
SALT_FILE = "answer-key.salt"
SALT_BYTES = 32


class SaltError(ValueError):
    """The salt file is unusable; the message names the fix."""


@dataclass(frozen=True)
class Slot:
    """One question of a record: which options it has and where its gold is now."""

    stratum: str  # slots balanced together (a track, a dimension...); "" for one stratum
    options: int  # how many options the question has
    gold: int  # the gold's current 0-based position


@dataclass(frozen=True)
class AnswerKey:
    """How a benchmark's records expose their questions to the dealer (declared on its Benchmark).

    slots(record) -> the record's questions, in a fixed order;
    place(record, slot index, order) -> the record with that question's options reordered so that
        new option j is old option order[j] (everything that names an option by position, e.g. a
        rendered prompt or a provenance field, follows)."""

    slots: Callable[[Record], list[Slot]]
    place: Callable[[Record, int, list[int]], Record]


# -- the salt -------------------------------------------------------------------------------------


def load_salt(cache_dir: Path, salt_file: Path | None = None) -> bytes:
    """The owner's salt: from `salt_file` when given, else <cache_dir>/answer-key.salt (created once)."""
    path = salt_file or cache_dir / SALT_FILE
    if salt_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _create(path)
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise SaltError(f"answer-key salt {path} cannot be read ({error.strerror}); fix its permissions, or pass "
                        "--answer-key-salt-file with a readable copy") from None
    try:
        salt = bytes.fromhex(text)
    except ValueError:
        salt = b""
    if len(salt) < 16:
        raise SaltError(f"answer-key salt {path} is not a salt (expected {2 * SALT_BYTES} hex digits); restore it "
                        f"from your backup, or move it aside to deal new answer positions (the next release then "
                        f"differs from earlier ones in its gold positions)")
    return salt


def _create(path: Path) -> None:
    # Created with owner-only permissions in one step: the salt must never be readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(SALT_BYTES) + "\n")


def fingerprint(salt: bytes) -> str:
    """Names a salt without revealing it (a release's manifest carries this)."""
    return hashlib.sha256(b"answer-key-fingerprint:" + salt).hexdigest()[:12]


# -- dealing --------------------------------------------------------------------------------------


def deal(benchmark_name: str, key: AnswerKey, records: list[Record], id_field: str, salt: bytes) -> list[Record]:
    """The records with every question's gold at its dealt position (new dicts; input untouched)."""
    strata: dict[tuple[str, int], list[tuple[bytes, int, int]]] = defaultdict(list)
    for index, record in enumerate(records):
        for slot_index, slot in enumerate(key.slots(record)):
            rank = _mac(salt, benchmark_name, slot.stratum, str(record[id_field]), str(slot_index))
            strata[(slot.stratum, slot.options)].append((rank, index, slot_index))
    positions: dict[tuple[int, int], int] = {}
    for (stratum, options), slots in strata.items():
        # A stratum of n slots leaves n mod k positions with one gold more; a salted start spreads
        # those extras over the positions, so many small strata do not pile them on the first ones.
        start = int.from_bytes(_mac(salt, benchmark_name, "start", stratum, str(options))[:4], "big") % options
        for turn, (_, index, slot_index) in enumerate(sorted(slots)):
            positions[(index, slot_index)] = (start + turn) % options
    placed = []
    for index, record in enumerate(records):
        for slot_index, slot in enumerate(key.slots(record)):
            order = _order(slot, positions[(index, slot_index)],
                           _mac(salt, benchmark_name, "distractors", str(record[id_field]), str(slot_index)))
            record = key.place(record, slot_index, order)
        placed.append(record)
    return placed


def _order(slot: Slot, position: int, digest: bytes) -> list[int]:
    """old option indices in their new order: the gold at `position`, the others shuffled by `digest`."""
    others = [i for i in range(slot.options) if i != slot.gold]
    random.Random(digest).shuffle(others)
    others.insert(position, slot.gold)
    return others


def _mac(salt: bytes, *parts: str) -> bytes:
    return hmac.new(salt, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def reorder(values: list, order: list[int]) -> list:
    """`values` (one per option) in the new order: new j = old order[j]. For `place` functions."""
    return [values[i] for i in order]
