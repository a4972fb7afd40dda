"""CoSER dialogue messages: `[inner thought] (visible action) speech`, and the verbatim check.

The spoken words of a source scene are never rewritten: a message is built around them, and
`spoken_part` takes them back out (the leading `[...]` thought and `(...)` actions removed), so
`is_verbatim` can confirm, word for word after normalisation, that the message still carries
exactly the source speech.
"""

from __future__ import annotations

import re

from builders.scenes.anchors import words_with_offsets

ENVIRONMENT = "Environment"
_LEADING_THOUGHT = re.compile(r"^\s*\[[^\]]*\]\s*")
_LEADING_ACTION = re.compile(r"^\s*\([^)]*\)\s*")
_BRACKETS = re.compile(r"[\[\]()]")


def clean_inner(text: str) -> str:
    """A thought or action as one line without brackets, so it cannot close its own delimiters."""
    return " ".join(_BRACKETS.sub(" ", text).split())


def format_message(thought: str, speech: str, actions: tuple[str, ...] | list[str] = ()) -> str:
    parts = [f"[{clean_inner(thought)}]"] + [f"({clean_inner(a)})" for a in actions if clean_inner(a)]
    return " ".join(parts + [speech])


def spoken_part(message: str) -> str:
    """The speech of a message: what follows the leading thought and actions."""
    rest = _LEADING_THOUGHT.sub("", message, count=1)
    while _LEADING_ACTION.match(rest):
        rest = _LEADING_ACTION.sub("", rest, count=1)
    return rest


def normalised_words(text: str) -> list[str]:
    return [word for word, _, _ in words_with_offsets(text)]


def is_verbatim(message: str, source_text: str) -> bool:
    """Whether the message's speech equals the source speech (case, spacing and punctuation aside)."""
    return normalised_words(spoken_part(message)) == normalised_words(source_text)


def strip_thoughts(message: str) -> str:
    """The message as other characters see it: without the leading `[thought]`."""
    return _LEADING_THOUGHT.sub("", message, count=1)
