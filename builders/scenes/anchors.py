"""Finding a model's quote back in the source: the check that ties every plot to a real span.

A model quoting "the first line of the plot" may change spacing, case, punctuation or curly
quotes, so both sides are compared in a normalised form (lower-case words), and an offset map
leads from the normalised match back to a character offset in the source. A quote that is not
found word for word may still match on its longest run of consecutive words (models often add a
word or paraphrase the tail of a line); below `MIN_ANCHOR_WORDS` matching words an anchor is not
trusted.
"""

from __future__ import annotations

import re

MIN_ANCHOR_WORDS = 3
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """(lower-cased word, start, end) for every word of `text`."""
    return [(m.group().lower().replace("’", "'"), m.start(), m.end()) for m in _WORD.finditer(text)]


def find_quote(text: str, quote: str, *, min_words: int = MIN_ANCHOR_WORDS,
               after: int = 0) -> tuple[int, int] | None:
    """The (start, end) character span in `text` of the first occurrence of `quote` at or after
    offset `after`, matched word for word, or on its longest run of consecutive words, of at least
    `min_words` words and half the quote (all of it when the quote is shorter; earlier runs win
    ties). None when it is not in the text."""
    wanted = [w for w, _, _ in words_with_offsets(quote)]
    if not wanted:
        return None
    source = [item for item in words_with_offsets(text) if item[1] >= after]
    words = [w for w, _, _ in source]
    shortest = max(min(len(wanted), min_words), (len(wanted) + 1) // 2)  # and at least half the quote
    for length in range(len(wanted), shortest - 1, -1):
        for offset in range(len(wanted) - length + 1):
            position = _find_run(words, wanted[offset:offset + length])
            if position is not None:
                return source[position][1], source[position + length - 1][2]
    return None


def _find_run(words: list[str], run: list[str]) -> int | None:
    first = run[0]
    for index, word in enumerate(words):
        if word == first and words[index:index + len(run)] == run:
            return index
    return None
