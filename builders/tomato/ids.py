"""Synthetic SOTOPIA-style ids: 26-character Crockford base32 ULIDs derived from a card's hash.

The published records reference SOTOPIA primary keys (ULIDs). Generated personas and scenarios have
none, so their ids are a hash of the card's canonical JSON: rebuilding the same card gives the same
id, and `combo5` (the last 5 characters of a combo id, used in `q_id`) stays meaningful.
"""

from __future__ import annotations

import hashlib
import json

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def canonical_json(card: dict) -> str:
    return json.dumps(card, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def ulid_from_card(card: dict) -> str:
    """A 128-bit hash of the card, written as a ULID (first character 0-7, like real ULIDs)."""
    value = int.from_bytes(hashlib.blake2b(canonical_json(card).encode(), digest_size=16).digest(), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(CROCKFORD[digit])
    return "".join(reversed(chars))


def combo5(combo_id: str) -> str:
    return combo_id[-5:]
