"""The wording rule: generated text is written in the source's own words, not in invented ones.

Under grammar constraints a 135M model still writes letters-only gibberish ("Desirat d'adoption des
amis", "kedonarielgerman"). A word counts as known when the work's text uses it (any case, with a
trailing "'s" or "s" dropped); text with more than MAX_UNKNOWN_SHARE unknown words is rejected. A
novel or a play uses tens of thousands of word forms, so plain English about its characters passes.
"""

from __future__ import annotations

import re

MAX_UNKNOWN_SHARE = 0.25
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _stem(word: str) -> str:
    word = word.removesuffix("'s").removesuffix("’s")
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


class SourceVocabulary:
    def __init__(self, work_text: str):
        self._known = {_stem(w) for w in _WORD.findall(work_text.lower())}

    def unknown(self, text: str) -> list[str]:
        """The words of `text` the source never uses, in order, without repeats."""
        return list(dict.fromkeys(w for w in _WORD.findall(text.lower()) if _stem(w) not in self._known))

    def problem(self, text: str) -> str | None:
        """A reason when too many words of `text` are unknown to the source, else None."""
        words = _WORD.findall(text.lower())
        unknown = self.unknown(text)
        if words and sum(_stem(w) not in self._known for w in words) / len(words) > MAX_UNKNOWN_SHARE:
            return f"words the source never uses: {', '.join(unknown[:5])}"
        return None
