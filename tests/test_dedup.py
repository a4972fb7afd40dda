"""Dedup stage: the fast (Arrow + numpy) path against a plain-Python reference of the same algorithm,
against exact Jaccard on clear-cut inputs, determinism, first-occurrence semantics and leakage."""

from __future__ import annotations

import itertools
import random
import unicodedata

import numpy as np
import pytest
import xxhash

from builders.dedup import (
    EMPTY_BIN,
    dedup_records,
    fingerprint_texts,
    leakage_check,
    lsh_parameters,
    normalise_text,
    normalise_texts,
)

TRICKY_TEXTS = [
    "",
    "   ",
    "!!!",
    "Hello, World!  How are   you?",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds",
    "file\x1cseparators\x1dcount\x1eas\x1fspace",
    "under_score and dash-es and 'quotes' and \"double\" (parens) [brackets] {braces}",
    "Straße STRASSE straße",  # casefold: ß -> ss
    "ＦＵＬＬ ｗｉｄｔｈ ＡＢＣ １２３",  # NFKC: full width -> ASCII
    "ﬁne ﬂour",  # NFKC: ligatures
    "cafe\u0301 café",  # combining accent composes
    "zero\u200bwidth non\u00a0breaking",
    "emoji 🙂 and symbols € $ + = ©",
    "Ünïcödé ÀÉÎÕÜ ΣΊΣΥΦΟΣ",
    "ab",
    "x",
]

# --------------------------------------------------------------------------------------------
# A plain-Python reference: the documented algorithm written as directly as possible.


def reference_normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if c.isalnum() or c == "_" or c.isspace())
    return " ".join(kept.split())


def reference_shingle_hash(shingle: bytes, ngram: int) -> int:
    window = shingle[:ngram].ljust(8, b"\0")
    low = int.from_bytes(window[:4], "little") & ((1 << (8 * min(ngram, 4))) - 1)
    high = int.from_bytes(window[4:], "little") & ((1 << (8 * max(ngram - 4, 0))) - 1)
    h = (low ^ (high * 0x9E3779B1)) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def reference_mix64(value: int) -> int:
    mask = (1 << 64) - 1
    value = (value ^ 0x243F6A8885A308D3) & mask
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & mask
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & mask
    return value ^ (value >> 33)


def reference_signature(text: str, num_perm: int, ngram: int) -> list[int]:
    data = reference_normalise(text).encode("utf-8")
    empty = int(EMPTY_BIN)
    if not data:
        return [empty] * num_perm
    shingles = [data[i : i + ngram] for i in range(len(data) - ngram + 1)] or [data]
    value_bits = 32 - (num_perm.bit_length() - 1)
    bins = [empty] * num_perm
    for shingle in shingles:
        h = reference_shingle_hash(shingle, ngram)
        slot = h >> value_bits
        bins[slot] = min(bins[slot], h & ((1 << value_bits) - 1))
    signature = list(bins)
    for j in range(num_perm):
        if bins[j] == empty:
            probes = sorted((k for k in range(num_perm) if k != j), key=lambda k: (reference_mix64((j << 32) | k), k))
            signature[j] = next(bins[k] for k in probes if bins[k] != empty)
    return signature


def reference_dedup(records, key, text, threshold=0.85, num_perm=128, ngram=5):
    """Same contract as dedup_records, written with dicts, sets and loops."""
    removed, first_of_digest, survivors = {}, {}, []
    normalised = [reference_normalise(text(r)) for r in records]
    for index, norm in enumerate(normalised):
        digest = xxhash.xxh3_128_intdigest(norm.encode("utf-8"))
        if digest in first_of_digest:
            removed[index] = (first_of_digest[digest], "exact", 1.0)
        else:
            first_of_digest[digest] = index
            if norm:
                survivors.append(index)
    signatures = {i: reference_signature(text(records[i]), num_perm, ngram) for i in survivors}
    bands, rows = lsh_parameters(threshold, num_perm)
    candidates = set()
    for band in range(bands):
        buckets = {}
        for i in survivors:
            buckets.setdefault(tuple(signatures[i][band * rows : (band + 1) * rows]), []).append(i)
        for members in buckets.values():
            candidates.update(itertools.combinations(sorted(members), 2))
    for later in survivors:
        for earlier in sorted(i for i, j in candidates if j == later):
            similarity = sum(a == b for a, b in zip(signatures[earlier], signatures[later])) / num_perm
            if similarity >= threshold and earlier not in removed:
                removed[later] = (earlier, "near", similarity)
                break
    return [
        {"id": records[i][key], "duplicate_of": records[o][key], "kind": kind, "similarity": round(s, 4)}
        for i, (o, kind, s) in sorted(removed.items())
    ]


def byte_shingles(text: str, ngram: int = 5) -> set[bytes]:
    data = reference_normalise(text).encode("utf-8")
    return {data[i : i + ngram] for i in range(len(data) - ngram + 1)} or {data}


# --------------------------------------------------------------------------------------------
# Fixed small inputs


SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "pe", "da", "ri", "on", "el", "an", "is", "th", "ee", "ou", "ar", "st")


def sentence(rng: random.Random, words: int) -> str:
    """Made-up words of 1-3 syllables: unrelated sentences share few byte 5-grams (Jaccard ~0.07)."""
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(words))


def change_words(rng: random.Random, text: str, count: int) -> str:
    words = text.split(" ")
    for position in rng.sample(range(len(words)), count):
        words[position] = words[position] + "zq"
    return " ".join(words)


def planted_records(seed: int = 7, originals: int = 120):
    """Originals plus exact variants (case, spacing, punctuation) and near variants (2 words changed)."""
    rng = random.Random(seed)
    texts = [sentence(rng, 110) for _ in range(originals)]
    records = [{"id": f"o{i}", "text": t} for i, t in enumerate(texts)]
    for number, source in enumerate(rng.sample(range(originals), 30)):
        text = texts[source]
        if number % 2:
            variant, kind = text.upper().replace(" ", " ,  ", 3) + "!", "exact"
        else:
            variant, kind = change_words(rng, text, 2), "near"
        source_position = next(i for i, r in enumerate(records) if r["id"] == f"o{source}")
        position = rng.randint(source_position + 1, len(records))  # always after its source
        records.insert(position, {"id": f"{kind}{number}-of-o{source}", "text": variant})
    records += [{"id": f"t{i}", "text": t} for i, t in enumerate(TRICKY_TEXTS)]
    return records


def text_of(record: dict) -> str:
    return record["text"]


# --------------------------------------------------------------------------------------------
# Tests


def test_normalise_fast_path_equals_definition_and_reference():
    texts = TRICKY_TEXTS + [sentence(random.Random(n), 30) + " Mixed, CASE!" for n in range(5)]
    fast = normalise_texts(texts).to_pylist()
    assert fast == [normalise_text(t) for t in texts] == [reference_normalise(t) for t in texts]
    assert normalise_text("Straße,  FINE\tﬁne!") == "strasse fine fine"


@pytest.mark.parametrize("num_perm, ngram", [(128, 5), (16, 3), (64, 8), (32, 1)])
def test_signatures_equal_reference(num_perm, ngram):
    rng = random.Random(num_perm + ngram)
    texts = TRICKY_TEXTS + [sentence(rng, rng.randint(1, 60)) for _ in range(25)]
    records = [{"text": t} for t in texts]
    fingerprints = fingerprint_texts(records, text_of, num_perm=num_perm, ngram=ngram)
    expected = np.array([reference_signature(t, num_perm, ngram) for t in texts], dtype=np.uint32)
    np.testing.assert_array_equal(fingerprints.signatures, expected)
    assert fingerprints.empty.tolist() == [reference_normalise(t) == "" for t in texts]


def test_fingerprints_do_not_depend_on_chunking_or_threads(monkeypatch):
    import builders.dedup as dedup

    records = [{"text": sentence(random.Random(n), 40)} for n in range(50)] + [{"text": t} for t in TRICKY_TEXTS]
    whole = fingerprint_texts(records, text_of).signatures
    monkeypatch.setattr(dedup, "RECORDS_PER_CHUNK", 7)
    monkeypatch.setattr(dedup, "BYTES_PER_HASH_BLOCK", 64)
    for workers in (1, 3):  # threads finish in any order; rows land in place
        monkeypatch.setattr(dedup, "WORKERS", workers)
        chunked = fingerprint_texts(records, text_of, bands=4)
        np.testing.assert_array_equal(chunked.signatures, whole)
        assert chunked.digests == [xxhash.xxh3_128_intdigest(reference_normalise(r["text"]).encode()) for r in records]


def test_dedup_equals_reference_path():
    records = planted_records()
    result = dedup_records(records, key="id", text=text_of)
    assert result.removed == reference_dedup(records, "id", text_of)


def test_dedup_finds_every_planted_duplicate_and_nothing_else():
    records = planted_records()
    result = dedup_records(records, key="id", text=text_of)
    removed = {entry["id"]: entry for entry in result.removed}
    planted = {r["id"] for r in records if r["id"].startswith(("exact", "near"))}
    empty_after_normalising = {"t1", "t2"}  # "   " and "!!!" normalise to "", like t0
    assert set(removed) == planted | empty_after_normalising
    for record_id in planted:
        kind, _, source = record_id.partition("-of-")
        assert removed[record_id]["kind"] == kind.rstrip("0123456789")
        assert removed[record_id]["duplicate_of"] == source
    assert all(entry["similarity"] == 1.0 for entry in removed.values() if entry["kind"] == "exact")
    assert [r["id"] for r in result.kept] == [r["id"] for r in records if r["id"] not in removed]
    assert result.stats["input"] == len(records) and result.stats["kept"] == len(result.kept)
    assert result.stats["exact"] + result.stats["near"] == len(result.removed)


def test_dedup_agrees_with_exact_jaccard_on_clear_cut_inputs():
    """Near variants are far above the threshold and unrelated texts far below it, so MinHash must
    agree with brute-force Jaccard over all pairs."""
    records = [r for r in planted_records(seed=3) if not r["id"].startswith("t")]
    shingles = [byte_shingles(r["text"]) for r in records]
    expected_removed, kept = set(), []
    for index, mine in enumerate(shingles):
        similarities = [len(mine & shingles[k]) / len(mine | shingles[k]) for k in kept]
        assert all(s > 0.93 or s < 0.5 for s in similarities)  # the inputs really are clear-cut
        if any(s >= 0.85 for s in similarities):
            expected_removed.add(records[index]["id"])
        else:
            kept.append(index)
    result = dedup_records(records, key="id", text=text_of)
    assert {entry["id"] for entry in result.removed} == expected_removed


def test_first_occurrence_is_kept_and_result_is_deterministic():
    records = planted_records()
    first = dedup_records(records, key="id", text=text_of)
    second = dedup_records([dict(r) for r in records], key="id", text=text_of)
    assert first.removed == second.removed and first.stats == second.stats
    reversed_result = dedup_records(records[::-1], key="id", text=text_of)
    # A planted duplicate now comes before its source, so the duplicate is kept instead.
    kept_ids = {r["id"] for r in reversed_result.kept}
    assert {r["id"] for r in records if r["id"].startswith(("exact", "near"))} & kept_ids


def test_exact_duplicate_of_a_removed_record_names_that_record():
    base = sentence(random.Random(1), 100)
    near = change_words(random.Random(2), base, 1)
    records = [{"id": "a", "text": base}, {"id": "b", "text": near}, {"id": "c", "text": near.upper()}]
    result = dedup_records(records, key="id", text=text_of)
    assert [(e["id"], e["duplicate_of"], e["kind"]) for e in result.removed] == [("b", "a", "near"), ("c", "b", "exact")]


def test_unrelated_short_and_empty_texts_are_kept():
    records = [{"id": str(i), "text": t} for i, t in enumerate(["a", "b", "ab", "ba", "", "abc", "the cat"])]
    result = dedup_records(records, key="id", text=text_of)
    assert [r["id"] for r in result.kept] == ["0", "1", "2", "3", "4", "5", "6"]
    assert dedup_records([], key="id", text=text_of).kept == []


def test_bad_arguments_get_clear_errors():
    records = [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]
    with pytest.raises(ValueError, match="record #1 has no id field 'id'"):
        dedup_records([records[0], {"text": "y"}], key="id", text=text_of)
    with pytest.raises(ValueError, match=r"id field 'id' is not unique: \['a'\]"):
        dedup_records([records[0], records[0]], key="id", text=text_of)
    with pytest.raises(TypeError, match="must return str, got int"):
        dedup_records(records, key="id", text=lambda r: 3)
    with pytest.raises(ValueError, match="threshold must be a number in"):
        dedup_records(records, key="id", text=text_of, threshold=1.5)
    with pytest.raises(ValueError, match="num_perm must be a power of two"):
        dedup_records(records, key="id", text=text_of, num_perm=100)
    with pytest.raises(ValueError, match=r"ngram must be an integer in \[1, 8\]"):
        dedup_records(records, key="id", text=text_of, ngram=9)


def test_lsh_parameters_catch_pairs_above_the_threshold():
    bands, rows = lsh_parameters(0.85, 128)
    assert bands * rows <= 128
    assert 1 - (1 - 0.9**rows) ** bands > 0.97  # a pair at 0.9 is almost always a candidate
    assert 1 - (1 - 0.3**rows) ** bands < 1e-4  # unrelated pairs almost never are


def test_leakage_check_finds_copies_of_previous_records():
    rng = random.Random(11)
    previous = [{"id": f"p{i}", "text": sentence(rng, 90)} for i in range(60)]
    new = [{"id": f"n{i}", "text": sentence(rng, 90)} for i in range(30)]
    new.insert(5, {"id": "copy-of-p3", "text": previous[3]["text"].title()})
    new.insert(9, {"id": "edit-of-p40", "text": change_words(rng, previous[40]["text"], 2)})
    previous.append({"id": "p-again", "text": previous[3]["text"]})  # a later exact copy: p3 is reported
    result = leakage_check(new, previous, key="id", text=text_of, threshold=0.85)
    assert [(m["id"], m["duplicate_of"], m["kind"]) for m in result.matches] == [
        ("copy-of-p3", "p3", "exact"),
        ("edit-of-p40", "p40", "near"),
    ]
    assert result.matches[1]["similarity"] >= 0.85
    summary = result.summary
    assert (summary["new_records"], summary["previous_records"], summary["leaked_records"]) == (32, 61, 2)
    assert (summary["exact"], summary["near"], summary["leaked_share"]) == (1, 1, round(2 / 32, 6))
    assert summary["threshold"] == 0.85 and summary["num_perm"] == 128


def test_leakage_check_without_overlap_and_on_empty_sets():
    rng = random.Random(5)
    a = [{"id": f"a{i}", "text": sentence(rng, 50)} for i in range(20)]
    b = [{"id": f"b{i}", "text": sentence(rng, 50)} for i in range(20)]
    assert leakage_check(a, b, key="id", text=text_of, threshold=0.85).matches == []
    empty = leakage_check([], b, key="id", text=text_of, threshold=0.85)
    assert empty.matches == [] and empty.summary["leaked_share"] == 0.0
