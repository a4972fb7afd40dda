"""Small text measures shared by the ToMATO checks (goal leakage, option near-duplicates)."""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    "a an the and or but if of to in on at for with by from about as into over after before is are was were be "
    "been being am do does did have has had you your yours i me my we our they them their he him his she her "
    "it its this that these those not no so than then there here what which who whom when where why how all "
    "any some more most very can could will would should may might must just also".split()
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOP_WORDS and len(w) > 2}


def jaccard(first: set, second: set) -> float:
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


def token_jaccard(first: str, second: str) -> float:
    return jaccard(set(words(first)), set(words(second)))


def normalise(text: str) -> str:
    return " ".join(words(text))
