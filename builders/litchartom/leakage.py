"""The no-future-leakage rule: text written for plot i may only use what the story has shown by the
end of plot i.

Checked programmatically on names: every name in a triple object, question or option must occur
in the work's text before the end of plot i's span. A capitalised word counts as a name only when
the source never writes it in lower case (so "That" or "Duty" at the start of a sentence is not
one, while "Dover" is). A name the source first
uses later (a character who has not appeared yet, a place the story has not reached) is a leak.
Words the source never uses are not leaks (they cannot come from a later plot) and are left to
the other checks. The work's title is known before the story starts ("Daisy Miller" is on the
cover even though the text names her only later), so its words count as seen at offset 0. A name
is seen where the source first writes it in any case: a play labels a speaker "OSWALD" long before
anyone says "Oswald".
"""

from __future__ import annotations

import re
from functools import lru_cache

_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:['’][a-z]+)?\b")


class FutureLeakCheck:
    def __init__(self, work_text: str, *, title: str = ""):
        self._text = work_text
        self._title_words = set(_CAPITALISED.findall(title))
        self._first = lru_cache(maxsize=None)(self._first_offset)

    def _first_offset(self, word: str, any_case: bool = False) -> int | None:
        match = re.search(rf"\b{re.escape(word)}\b", self._text, re.IGNORECASE if any_case else 0)
        return match.start() if match else None

    def _is_name(self, word: str) -> bool:
        return self._first(word.lower()) is None

    def leaks(self, text: str, *, until: int) -> list[str]:
        """Names in `text` that the source first uses after offset `until`."""
        found = []
        for word in dict.fromkeys(_CAPITALISED.findall(text)):
            if not self._is_name(word):
                continue
            first = self._first(word, any_case=True)  # a name never written in lower case: its capitals too
            if first is not None and first >= until and word not in self._title_words:
                found.append(word)
        return found
