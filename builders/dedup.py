"""Dedup stage: drop exact and near-duplicate records, keeping the first occurrence in input order.

1. Normalise the dedup text: NFKC, casefold, delete punctuation and symbols (every character that
   is neither alphanumeric, "_" nor whitespace), collapse whitespace runs to one space, strip.
2. Exact duplicates: equal xxh3-128 digests of the normalised UTF-8 text.
3. Near duplicates (among the exact survivors): MinHash over **byte 5-grams** of the normalised
   UTF-8 text (the same as character 5-grams for ASCII), LSH banding for candidates, and the
   signature-estimated Jaccard similarity >= threshold to accept a candidate.

Why character (byte) shingles and not word shingles: "a few words changed" breaks n word
n-grams per changed word, so a 125-word item with 3 changed words keeps only ~0.78 Jaccard on
word 5-grams and falls under a 0.85 threshold, while on character 5-grams it keeps ~0.93.
Bytes also let numpy build every shingle straight from the Arrow string buffer, with no Python
object per shingle.

Why one-permutation MinHash: classic MinHash hashes every shingle num_perm times; one-permutation
hashing (Li, Owen & Zhang 2012) hashes it once into 32 bits, whose top log2(num_perm) bits pick a
bin and whose remaining bits are the value; a signature is the minimum value per bin. Empty bins
borrow from other bins along a fixed pseudo-random probe order (optimal densification,
Shrivastava 2017) so that signatures stay comparable. It estimates Jaccard similarity as well as
classic MinHash at 1/num_perm of the hashing, and numpy computes it for all the shingles of a
block of texts at once. `tests/test_dedup.py` holds a plain-Python reference of the same
algorithm and checks that both give identical signatures and results.

Determinism: no randomness and no Python `hash()`; the hash constants are fixed, so the same
records give the same kept/removed lists on every machine.
"""

from __future__ import annotations

import functools
import math
import os
import re
import time
import unicodedata
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

Record = dict
TextOf = Callable[[Record], str]

EMPTY_BIN = np.uint32(0xFFFFFFFF)  # signature value of a bin no shingle fell into (no real value is)
MAX_NGRAM = 8  # a shingle is read as two little-endian 32-bit words
RECORDS_PER_CHUNK = 8192  # texts held as Python strings at any one time
BYTES_PER_HASH_BLOCK = 1 << 18  # numpy work arrays of ~1 MiB stay in the CPU cache
WORKERS = min(2, os.cpu_count() or 1)  # hashing threads; 2 already keeps a 2-core machine busy

# Fixed constants: signatures must not change between runs or machines.
_FOLD = np.uint32(0x9E3779B1)  # folds shingle bytes 4-7 into 32 bits
_FMIX1, _FMIX2 = np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35)  # murmur3 fmix32
_MASK64 = (1 << 64) - 1
_SEED = 0x243F6A8885A308D3
_MIX1, _MIX2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53  # murmur3 fmix64
_BAND_MULTIPLIER = 0x100000001B3  # FNV-1a 64-bit prime


@dataclass
class DedupResult:
    kept: list[Record]
    removed: list[dict]  # {"id", "duplicate_of", "kind": "exact" | "near", "similarity"}
    stats: dict
    # Seconds per phase, for benchmarks and build reports; never written into a release.
    timings: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass
class LeakageResult:
    matches: list[dict]  # {"id", "duplicate_of", "kind", "similarity"}: one per leaked new record
    summary: dict  # counts and settings, for the dataset card


def dedup_records(
    records: Sequence[Record],
    *,
    key: str,
    text: TextOf,
    threshold: float = 0.85,
    num_perm: int = 128,
    ngram: int = 5,
) -> DedupResult:
    """Remove exact then near duplicates of `text(record)`, keeping the first occurrence.

    `duplicate_of` names the earliest earlier record the removed one duplicates; for an exact
    duplicate of a record that was itself removed as a near duplicate, it names that record.
    """
    _check_settings(threshold, num_perm, ngram)
    records = list(records)
    ids = _record_ids(records, key, unique=True)
    timings: dict[str, float] = {}
    bands, rows = lsh_parameters(threshold, num_perm)
    fingerprints = fingerprint_texts(records, text, num_perm=num_perm, ngram=ngram, bands=bands, timings=timings)

    started = time.perf_counter()
    exact_of = _first_occurrence_of_digest(fingerprints.digests)
    survivors = np.flatnonzero(exact_of < 0)
    timings["exact_match"] = time.perf_counter() - started

    started = time.perf_counter()
    near_of, near_similarity = _greedy_near_duplicates(fingerprints, survivors, threshold)
    timings["near_match"] = time.perf_counter() - started

    removed = []
    removed_flags = (exact_of >= 0) | (near_of >= 0)
    for index in np.flatnonzero(removed_flags).tolist():  # input order
        if exact_of[index] >= 0:
            removed.append(_removal(ids, index, exact_of[index], "exact", 1.0))
        else:
            removed.append(_removal(ids, index, near_of[index], "near", near_similarity[index]))
    kept = [record for record, flag in zip(records, removed_flags.tolist()) if not flag]
    stats = {
        "input": len(records),
        "kept": len(kept),
        "exact": sum(1 for entry in removed if entry["kind"] == "exact"),
        "near": sum(1 for entry in removed if entry["kind"] == "near"),
        **_settings(threshold, num_perm, ngram, bands, rows),
    }
    return DedupResult(kept=kept, removed=removed, stats=stats, timings=timings)


def leakage_check(
    new_records: Sequence[Record],
    previous_records: Sequence[Record],
    *,
    key: str,
    text: TextOf,
    threshold: float = 0.85,
    num_perm: int = 128,
    ngram: int = 5,
) -> LeakageResult:
    """Find new records that duplicate (exactly or nearly) any previous record.

    Typical use: a new release's test split against the train splits of earlier releases. Each
    leaked new record is reported once, with its best match: an exact match first, else the
    most similar previous record (the earliest one on ties).
    """
    _check_settings(threshold, num_perm, ngram)
    new_records, previous_records = list(new_records), list(previous_records)
    new_ids = _record_ids(new_records, key, unique=False)
    previous_ids = _record_ids(previous_records, key, unique=False)
    bands, rows = lsh_parameters(threshold, num_perm)
    new = fingerprint_texts(new_records, text, num_perm=num_perm, ngram=ngram, bands=bands)
    previous = fingerprint_texts(previous_records, text, num_perm=num_perm, ngram=ngram, bands=bands)

    first_previous = {}
    for index, digest in enumerate(previous.digests):
        first_previous.setdefault(digest, index)
    exact = {i: first_previous[d] for i, d in enumerate(new.digests) if d in first_previous}

    pairs = _cross_candidate_pairs(new.band_keys, previous.band_keys)
    pairs = pairs[~new.empty[pairs[:, 0]] & ~previous.empty[pairs[:, 1]]]
    similarity = _pair_similarity(new.signatures, previous.signatures, pairs)
    accepted = similarity >= threshold
    pairs, similarity = pairs[accepted], similarity[accepted]
    # Best match per new record: highest similarity, then earliest previous record.
    order = np.lexsort((pairs[:, 1], -similarity, pairs[:, 0]))
    best_near: dict[int, tuple[int, float]] = {}
    for position in order:
        best_near.setdefault(int(pairs[position, 0]), (int(pairs[position, 1]), float(similarity[position])))

    matches = []
    for index in sorted(set(exact) | set(best_near)):
        if index in exact:
            matches.append(_removal(new_ids, index, exact[index], "exact", 1.0, previous_ids))
        else:
            match, score = best_near[index]
            matches.append(_removal(new_ids, index, match, "near", score, previous_ids))
    exact_count = sum(1 for m in matches if m["kind"] == "exact")
    summary = {
        "new_records": len(new_records),
        "previous_records": len(previous_records),
        "leaked_records": len(matches),
        "leaked_share": round(len(matches) / len(new_records), 6) if new_records else 0.0,
        "exact": exact_count,
        "near": len(matches) - exact_count,
        **_settings(threshold, num_perm, ngram, bands, rows),
    }
    return LeakageResult(matches=matches, summary=summary)


# ---------------------------------------------------------------------------------------------
# Normalisation


_NOT_WORD_OR_SPACE = re.compile(r"[^\w\s]+")  # \w is alnum or "_", \s is str.isspace, in Unicode
# The same classes spelled out for ASCII text, in RE2 syntax (whose \s lacks \v and \x1c-\x1f).
_ASCII_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "
_ASCII_NOT_WORD_OR_SPACE = rf"[^a-z0-9_{_ASCII_SPACE}]+"
_ASCII_SPACE_TO_COLLAPSE = rf"[{_ASCII_SPACE}]{{2,}}|[\t\n\x0b\x0c\r\x1c-\x1f]"


def normalise_text(text: str) -> str:
    """The dedup normal form of one text (the definition; `normalise_texts` is the fast path)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD_OR_SPACE.sub("", folded).split())


def normalise_texts(texts: Sequence[str]) -> pa.LargeStringArray:
    """`normalise_text` over many texts at once: Arrow kernels for ASCII texts, Python for the rest.

    For ASCII text NFKC is the identity and casefold is lowercasing, so three vectorised Arrow
    kernels give exactly `normalise_text`; tests check the two agree.
    """
    try:
        array = pa.array(texts, type=pa.large_string(), from_pandas=False)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        wrong = next(t for t in texts if not isinstance(t, str))
        raise TypeError(f"the dedup text function must return str, got {type(wrong).__name__}") from None
    if array.null_count:
        raise TypeError("the dedup text function must return str, got None")
    folded = pc.ascii_lower(array)
    deleted = pc.replace_substring_regex(folded, pattern=_ASCII_NOT_WORD_OR_SPACE, replacement="")
    collapsed = pc.replace_substring_regex(deleted, pattern=_ASCII_SPACE_TO_COLLAPSE, replacement=" ")
    normalised = pc.utf8_trim(collapsed, characters=" ")
    not_ascii = pc.invert(pc.string_is_ascii(array))
    if pc.any(not_ascii).as_py():
        slow = [normalise_text(texts[i]) for i in np.flatnonzero(not_ascii.to_numpy(zero_copy_only=False))]
        normalised = pc.replace_with_mask(normalised, not_ascii, pa.array(slow, type=pa.large_string()))
    return normalised


# ---------------------------------------------------------------------------------------------
# Fingerprints: exact digests and MinHash signatures, computed chunk by chunk


@dataclass
class Fingerprints:
    digests: list[int]  # xxh3-128 of the normalised text
    signatures: np.ndarray  # (n, num_perm) uint32 one-permutation MinHash
    band_keys: np.ndarray  # (bands, n) uint64: one LSH key per band of each signature
    empty: np.ndarray  # (n,) bool: the normalised text is empty (no shingles)


def fingerprint_texts(
    records: Sequence[Record],
    text: TextOf,
    *,
    num_perm: int = 128,
    ngram: int = 5,
    bands: int = 1,
    timings: dict[str, float] | None = None,
) -> Fingerprints:
    """Digests, signatures and band keys of `text(record)` for every record.

    Chunk by chunk: the main thread extracts a chunk's texts (the caller's function runs there),
    worker threads hash up to WORKERS chunks at a time (Arrow and numpy release the GIL, so this
    uses more than one core), and at most WORKERS + 1 chunks of texts are alive at once. Results
    land at their chunk's rows, so they do not depend on which thread finishes first.
    """
    timings = {} if timings is None else timings
    for phase in ("text", "hash"):
        timings.setdefault(phase, 0.0)
    fingerprints = Fingerprints(
        digests=[],
        signatures=np.empty((len(records), num_perm), dtype=np.uint32),
        band_keys=np.empty((bands, len(records)), dtype=np.uint64),
        empty=np.zeros(len(records), dtype=bool),
    )
    chunk_digests: dict[int, list[int]] = {}

    def hash_chunk(start: int, texts: list[str]) -> None:
        rows = slice(start, start + len(texts))
        data, offsets = _utf8_buffers(normalise_texts(texts))
        chunk_digests[start] = _xxh3_digests(data, offsets)
        signatures = minhash_signatures(data, offsets, num_perm=num_perm, ngram=ngram)
        fingerprints.signatures[rows] = signatures
        for band in range(bands):
            fingerprints.band_keys[band, rows] = _band_key(signatures, band, num_perm // bands)
        fingerprints.empty[rows] = offsets[1:] == offsets[:-1]

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: deque = deque()
        for start in range(0, len(records), RECORDS_PER_CHUNK):
            clock = time.perf_counter()
            texts = [text(record) for record in records[start : start + RECORDS_PER_CHUNK]]
            clock = _lap(timings, "text", clock)
            pending.append(pool.submit(hash_chunk, start, texts))
            while len(pending) > WORKERS or (pending and pending[0].done()):
                pending.popleft().result()  # re-raises a worker's error here
            _lap(timings, "hash", clock)
        clock = time.perf_counter()
        while pending:
            pending.popleft().result()
        _lap(timings, "hash", clock)
    for start in sorted(chunk_digests):
        fingerprints.digests.extend(chunk_digests[start])
    return fingerprints


def _utf8_buffers(strings: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets) of an Arrow large_string array; offsets rebased to start at 0."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64, count=len(strings) + 1, offset=strings.offset * 8)
    data_buffer = strings.buffers()[2]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def _xxh3_digests(data: np.ndarray, offsets: np.ndarray) -> list[int]:
    view = memoryview(data)
    digest = xxhash.xxh3_128_intdigest
    bounds = offsets.tolist()
    return [digest(view[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]


# ---------------------------------------------------------------------------------------------
# One-permutation MinHash over byte n-grams
#
# Shingle hash, for the ngram bytes b[i : i + ngram] (zero bytes past the end of the text):
#   low  = bytes 0-3 read as a little-endian uint32, masked to the shingle's first min(ngram, 4)
#   high = bytes 4-7 read likewise, masked to the remaining ngram - 4 bytes (0 when ngram <= 4)
#   hash = fmix32(low xor (high * FOLD mod 2**32))   (murmur3's 32-bit finaliser, a bijection)
# The top log2(num_perm) bits of the hash pick the bin, the remaining bits are the value.


def minhash_signatures(data: np.ndarray, offsets: np.ndarray, *, num_perm: int, ngram: int) -> np.ndarray:
    """Signatures (len(offsets) - 1, num_perm) of the byte strings data[offsets[i]:offsets[i+1]].

    A text shorter than `ngram` bytes has one shingle, itself zero-padded; an empty text has none
    and an all-EMPTY_BIN signature (callers skip those).
    """
    count = len(offsets) - 1
    signatures = np.full((count, num_perm), EMPTY_BIN, dtype=np.uint32)
    flat = signatures.reshape(-1)
    # Blocks of whole texts, so that the work arrays stay in the CPU cache.
    first = 0
    while first < count:
        last = int(np.searchsorted(offsets, offsets[first] + BYTES_PER_HASH_BLOCK, side="right")) - 1
        last = min(max(last, first + 1), count)
        _minhash_block(data, offsets[first : last + 1], flat, first * num_perm, num_perm, ngram)
        first = last
    _densify(signatures)
    return signatures


def _minhash_block(data, offsets, flat, flat_start, num_perm, ngram) -> None:
    start, end = int(offsets[0]), int(offsets[-1])
    size = end - start
    if size == 0:
        return
    padded = np.zeros(size + 8, dtype=np.uint8)  # reads of 8 bytes from the last start stay inside
    padded[:size] = data[start:end]
    local = offsets - start
    lengths = np.diff(local)
    hashes = _shingle_hashes(padded, size, ngram)
    value_bits = 32 - _bin_bits(num_perm)
    values = hashes & np.uint32((1 << value_bits) - 1)
    # The last ngram-1 starts of each text would read into the next text: not shingles.
    tail = local[1:, None] - np.arange(1, ngram, dtype=np.int64)[None, :]
    values[tail[tail >= local[:-1, None]]] = EMPTY_BIN  # such a value never lowers a minimum
    for doc in np.flatnonzero((lengths > 0) & (lengths < ngram)):  # rare: one padded shingle
        begin = int(local[doc])
        window = padded[begin : begin + lengths[doc]].tobytes().ljust(8, b"\0")
        hashed = shingle_hash(window, ngram)
        values[begin] = hashed & ((1 << value_bits) - 1)
        hashes[begin] = hashed
    slots = np.repeat(np.arange(len(lengths), dtype=np.int64) * num_perm + flat_start, lengths)
    np.right_shift(hashes, np.uint32(value_bits), out=hashes)  # the bin
    np.add(slots, hashes, out=slots)
    np.minimum.at(flat, slots, values)


def _shingle_hashes(padded: np.ndarray, size: int, ngram: int) -> np.ndarray:
    """uint32 hash of the shingle starting at each of the first `size` bytes (see above)."""
    low_view = np.ndarray((size,), dtype="<u4", buffer=padded, strides=(1,))
    hashes = np.bitwise_and(low_view, np.uint32(_byte_mask(min(ngram, 4))))
    if ngram > 4:
        high_view = np.ndarray((size,), dtype="<u4", buffer=padded, offset=4, strides=(1,))
        high = np.bitwise_and(high_view, np.uint32(_byte_mask(ngram - 4)))
        np.multiply(high, _FOLD, out=high)
        np.bitwise_xor(hashes, high, out=hashes)
    else:
        high = np.empty_like(hashes)
    # fmix32, in place, with `high` as scratch
    for shift, multiplier in ((16, _FMIX1), (13, _FMIX2), (16, None)):
        np.right_shift(hashes, np.uint32(shift), out=high)
        np.bitwise_xor(hashes, high, out=hashes)
        if multiplier is not None:
            np.multiply(hashes, multiplier, out=hashes)
    return hashes


def shingle_hash(window: bytes, ngram: int) -> int:
    """The shingle hash of one 8-byte window (its first `ngram` bytes count), for scalar code."""
    low = int.from_bytes(window[:4], "little") & _byte_mask(min(ngram, 4))
    high = int.from_bytes(window[4:8], "little") & _byte_mask(max(ngram - 4, 0))
    value = (low ^ (high * int(_FOLD))) & 0xFFFFFFFF
    value ^= value >> 16
    value = (value * int(_FMIX1)) & 0xFFFFFFFF
    value ^= value >> 13
    value = (value * int(_FMIX2)) & 0xFFFFFFFF
    return value ^ (value >> 16)


def _byte_mask(byte_count: int) -> int:
    return (1 << (8 * byte_count)) - 1


def _bin_bits(num_perm: int) -> int:
    return num_perm.bit_length() - 1


def probe_order(num_perm: int) -> np.ndarray:
    """(num_perm, num_perm - 1): for each bin, the other bins in the order an empty bin tries them."""
    return np.array(
        [sorted((k for k in range(num_perm) if k != j), key=lambda k: (mix64((j << 32) | k), k)) for j in range(num_perm)],
        dtype=np.int64,
    ).reshape(num_perm, num_perm - 1)


_PROBE_ORDERS: dict[int, np.ndarray] = {}


def _densify(signatures: np.ndarray) -> None:
    """Fill empty bins from the first non-empty bin along each bin's probe order (in place)."""
    num_perm = signatures.shape[1]
    is_empty = signatures == EMPTY_BIN
    has_any = ~is_empty.all(axis=1)
    rows, bins = np.nonzero(is_empty & has_any[:, None])
    if len(rows) == 0:
        return
    if num_perm not in _PROBE_ORDERS:
        _PROBE_ORDERS[num_perm] = probe_order(num_perm)
    order = _PROBE_ORDERS[num_perm]
    original = signatures.copy()
    for attempt in range(num_perm - 1):
        donors = order[bins, attempt]
        found = ~is_empty[rows, donors]
        signatures[rows[found], bins[found]] = original[rows[found], donors[found]]
        rows, bins = rows[~found], bins[~found]
        if len(rows) == 0:
            return


def _mix64(values: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser of (value xor seed), vectorised (for LSH band keys)."""
    hashed = values ^ np.uint64(_SEED)
    hashed ^= hashed >> np.uint64(33)
    hashed *= np.uint64(_MIX1)
    hashed ^= hashed >> np.uint64(33)
    hashed *= np.uint64(_MIX2)
    hashed ^= hashed >> np.uint64(33)
    return hashed


def mix64(value: int) -> int:
    """The same finaliser for one Python int."""
    value = (value ^ _SEED) & _MASK64
    value ^= value >> 33
    value = (value * _MIX1) & _MASK64
    value ^= value >> 33
    value = (value * _MIX2) & _MASK64
    return value ^ (value >> 33)


# ---------------------------------------------------------------------------------------------
# LSH banding and matching


@functools.lru_cache(maxsize=None)
def lsh_parameters(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the probability mass of false positives plus false negatives.

    A pair of similarity s becomes a candidate with probability 1 - (1 - s**rows)**bands. A missed
    candidate costs recall for good, an extra one only a signature comparison, so misses weigh 9x
    more. For 0.85 and 128 bins that gives 11 bands of 11 rows: a pair at 0.9 is a candidate with
    probability 0.98, a pair at 0.3 with 2e-5.
    """
    below = np.linspace(0.0, threshold, 400)
    above = np.linspace(threshold, 1.0, 400)
    best, best_cost = (1, num_perm), math.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = np.trapezoid(1 - (1 - below**rows) ** bands, below)
            false_negative = np.trapezoid((1 - above**rows) ** bands, above)
            cost = 0.1 * false_positive + 0.9 * false_negative
            if cost < best_cost - 1e-12:
                best, best_cost = (bands, rows), cost
    return best


def _band_key(signatures: np.ndarray, band: int, rows: int) -> np.ndarray:
    """One 64-bit key per signature for the given band: equal bands give equal keys.

    A polynomial over the band's values (wrapping at 2**64), then a finaliser; a rare collision
    only adds a candidate, which the similarity check then judges.
    """
    key = np.full(len(signatures), np.uint64(band), dtype=np.uint64)
    for column in range(band * rows, (band + 1) * rows):
        key *= np.uint64(_BAND_MULTIPLIER)
        key += signatures[:, column]
    return _mix64(key)


def _candidate_pairs(band_keys: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Unique (i, j), i < j, of member records sharing at least one band key."""
    found = [np.zeros((0, 2), dtype=np.int64)]
    for keys in band_keys:
        keys = keys[members]
        order = np.argsort(keys)  # any order of equal keys: pairs are sorted and deduplicated below
        sorted_keys = keys[order]
        boundaries = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        starts = np.concatenate(([0], boundaries))
        sizes = np.diff(np.concatenate((starts, [len(keys)])))
        pairs_of_two = starts[sizes == 2]
        found.append(np.stack((order[pairs_of_two], order[pairs_of_two + 1]), axis=1))
        for start, size in zip(starts[sizes > 2].tolist(), sizes[sizes > 2].tolist()):
            bucket = order[start : start + size]
            first, second = np.triu_indices(size, k=1)
            found.append(np.stack((bucket[first], bucket[second]), axis=1))
    pairs = np.sort(members[np.concatenate(found)], axis=1)
    return _unique_pairs(pairs, int(members.max(initial=0)) + 1)


def _cross_candidate_pairs(new_keys: np.ndarray, previous_keys: np.ndarray) -> np.ndarray:
    """Unique (new row, previous row) sharing at least one band key."""
    found = [np.zeros((0, 2), dtype=np.int64)]
    for new, previous in zip(new_keys, previous_keys):
        order = np.argsort(previous)
        sorted_previous = previous[order]
        low = np.searchsorted(sorted_previous, new, side="left")
        high = np.searchsorted(sorted_previous, new, side="right")
        hits = np.flatnonzero(high > low)
        counts = (high - low)[hits]
        # positions low[h], low[h] + 1, ..., high[h] - 1 of every hit h, flattened
        steps = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        found.append(np.stack((np.repeat(hits, counts), order[np.repeat(low[hits], counts) + steps]), axis=1))
    return _unique_pairs(np.concatenate(found), previous_keys.shape[1])


def _unique_pairs(pairs: np.ndarray, right_count: int) -> np.ndarray:
    """Sorted unique rows of an (m, 2) index array (one int64 code per pair: faster than axis=0)."""
    codes = np.unique(pairs[:, 0].astype(np.int64) * max(right_count, 1) + pairs[:, 1])
    return np.stack(np.divmod(codes, max(right_count, 1)), axis=1)


def _pair_similarity(left: np.ndarray, right: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity (share of equal bins) of each (left row, right row) pair."""
    similarity = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), 65536):  # bounded temporary (pairs x num_perm)
        block = pairs[start : start + 65536]
        similarity[start : start + len(block)] = (left[block[:, 0]] == right[block[:, 1]]).mean(axis=1)
    return similarity


def _greedy_near_duplicates(fingerprints: Fingerprints, survivors: np.ndarray, threshold: float):
    """near_of[i] = the earliest kept earlier record i nearly duplicates, or -1; with its similarity.

    Records are visited in input order; a record is removed when a candidate pair links it to an
    earlier record that is still kept and their estimated similarity reaches the threshold.
    """
    signatures = fingerprints.signatures
    near_of = np.full(len(signatures), -1, dtype=np.int64)
    near_similarity = np.zeros(len(signatures), dtype=np.float64)
    survivors = survivors[~fingerprints.empty[survivors]]
    if len(survivors) < 2:
        return near_of, near_similarity
    pairs = _candidate_pairs(fingerprints.band_keys, survivors)
    similarity = _pair_similarity(signatures, signatures, pairs)
    accepted = similarity >= threshold
    pairs, similarity = pairs[accepted], similarity[accepted]
    for position in np.lexsort((pairs[:, 0], pairs[:, 1])).tolist():  # by later record, then earlier
        earlier, later = int(pairs[position, 0]), int(pairs[position, 1])
        if near_of[later] < 0 and near_of[earlier] < 0:
            near_of[later] = earlier
            near_similarity[later] = similarity[position]
    return near_of, near_similarity


def _first_occurrence_of_digest(digests: list[int]) -> np.ndarray:
    """exact_of[i] = index of the first record with the same digest, or -1 for that first one."""
    first_index: dict[int, int] = {}
    exact_of = np.full(len(digests), -1, dtype=np.int64)
    for index, digest in enumerate(digests):
        first = first_index.setdefault(digest, index)
        if first != index:
            exact_of[index] = first
    return exact_of


# ---------------------------------------------------------------------------------------------
# Small helpers


_ALLOWED_NUM_PERM = tuple(2**k for k in range(4, 11))


def _check_settings(threshold: float, num_perm: int, ngram: int) -> None:
    if not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not isinstance(num_perm, int) or num_perm not in _ALLOWED_NUM_PERM:
        raise ValueError(f"num_perm must be a power of two from 16 to 1024 (bins of one hash), got {num_perm!r}")
    if not isinstance(ngram, int) or not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"ngram must be an integer in [1, {MAX_NGRAM}] (bytes per shingle), got {ngram!r}")


def _record_ids(records: Sequence[Record], key: str, *, unique: bool) -> list:
    try:
        ids = [record[key] for record in records]
    except (KeyError, TypeError):
        position = next(i for i, r in enumerate(records) if not isinstance(r, dict) or key not in r)
        raise ValueError(f"record #{position} has no id field {key!r}; every record needs one") from None
    if unique and len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for record_id in ids:
            if record_id in seen and record_id not in repeated:
                repeated.append(record_id)
            seen.add(record_id)
        raise ValueError(f"id field {key!r} is not unique: {repeated[:5]!r} occur more than once")
    return ids


def _removal(ids, index, other, kind, similarity, other_ids=None) -> dict:
    other_ids = ids if other_ids is None else other_ids
    return {"id": ids[index], "duplicate_of": other_ids[int(other)], "kind": kind, "similarity": round(float(similarity), 4)}


def _settings(threshold, num_perm, ngram, bands, rows) -> dict:
    return {
        "threshold": threshold,
        "num_perm": num_perm,
        "ngram": ngram,
        "shingles": f"utf-8 byte {ngram}-grams of the normalised text",
        "lsh_bands": bands,
        "lsh_rows": rows,
    }


def _lap(timings: dict[str, float], phase: str, since: float) -> float:
    now = time.perf_counter()
    timings[phase] += now - since
    return now
