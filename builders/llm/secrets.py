"""The secrets a build knows, and `redact(text)`, which takes them out of any text it keeps.

A provider's error may echo the key whole, cut short ("sk-proj-abc..."), or masked the way
OpenAI prints it ("sk-proj-****CDEF"). Text is redacted before anything shortens it: cutting
first would leave a prefix that no longer matches the whole key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

# Every variable whose value authenticates somewhere.
SECRET_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPATIBLE_API_KEY", "HF_TOKEN",
                    "HUGGING_FACE_HUB_TOKEN", "ANTHROPIC_AUTH_TOKEN")
PLACEHOLDER = "<API key>"
MIN_SECRET = 6  # shorter values ("none", "x") are placeholders, and replacing them would garble text
MIN_PREFIX = 8  # a cut-off key is caught from this many characters of its start (or end) on
MIN_MASK_CLUE = 4  # characters of a key around the asterisks of a masked form: "****CDEF", "sk-p****"
# Where a key may be masked or elided: asterisks, bullets or an ellipsis, with key characters around.
_MASK = re.compile(r"\*{3,}|\u2022{3,}|\.{3,}|\u2026")
_KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def known_secrets(extra: Iterable[str | None] = ()) -> list[str]:
    """The secret values in the environment, plus `extra` (the key a client was given), longest first."""
    values = {os.environ.get(name, "").strip() for name in SECRET_VARIABLES}
    values |= {value.strip() for value in extra if value}
    return sorted((v for v in values if len(v) >= MIN_SECRET), key=len, reverse=True)


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every known secret, any start or end of one of MIN_PREFIX characters or more, and
    its masked forms replaced by PLACEHOLDER."""
    secrets = known_secrets(extra)
    if not secrets or not text:
        return text
    # masked forms first: a run cut out first would leave its asterisks and last characters behind
    text = _unmask(text, secrets)
    for secret in secrets:
        text = _cut_out_runs(text, secret)
    return text


def _cut_out_runs(text: str, secret: str) -> str:
    """Replace every run of text that starts like `secret` (>= MIN_PREFIX characters of it) or ends
    like it, extended as far as it keeps matching."""
    clue = min(MIN_PREFIX, len(secret))
    head, tail = secret[:clue], secret[-clue:]
    spans = []
    start = text.find(head)
    while start != -1:
        end = start + clue
        while end - start < len(secret) and end < len(text) and text[end] == secret[end - start]:
            end += 1
        spans.append((start, end))
        start = text.find(head, end)
    end = text.find(tail)
    while end != -1:
        stop = end + clue
        begin = end
        while stop - begin < len(secret) and begin > 0 and text[begin - 1] == secret[-(stop - begin) - 1]:
            begin -= 1
        spans.append((begin, stop))
        end = text.find(tail, stop)
    return _replace_spans(text, spans)


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, at = [], 0
    for start, end in merged:
        pieces += [text[at:start], PLACEHOLDER]
        at = end
    return "".join(pieces) + text[at:]


def _unmask(text: str, secrets: list[str]) -> str:
    """Replace every masked form of a secret: its start, a mask, its end (either may be empty)."""
    spans = []
    for mask in _MASK.finditer(text):
        start, end = mask.start(), mask.end()
        while start > 0 and text[start - 1] in _KEY_CHARACTERS:
            start -= 1
        while end < len(text) and text[end] in _KEY_CHARACTERS:
            end += 1
        head, tail = text[start:mask.start()], text[mask.end():end]
        if len(head) + len(tail) >= MIN_MASK_CLUE and any(
                secret.startswith(head) and secret.endswith(tail) and len(head) + len(tail) < len(secret)
                for secret in secrets):
            spans.append((start, end))
    return _replace_spans(text, spans)
