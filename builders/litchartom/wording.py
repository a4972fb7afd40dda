"""The wording rules: generated text is written in the source's own words, not in invented ones,
and reads as finished, non-looping English.

Under grammar constraints a 135M model still writes letters-only gibberish ("Desirat d'adoption des
amis", "kedonarielgerman"). A word counts as known when the work's text uses it (any case, with a
trailing "'s" or "s" dropped); text with more than MAX_UNKNOWN_SHARE unknown words is rejected. A
novel or a play uses tens of thousands of word forms, so plain English about its characters passes.

The rules answer a small model's failures. A capable model's accented names, its own vocabulary
and Unicode punctuation are not invented words, and it neither loops nor stops mid-phrase, so the
generator's profile says whether they apply (`litchartom.wording_checks`); `Wording` applies them
or not.
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
        """A reason when too many words of `text` are unknown to the source (more than one, and more
        than MAX_UNKNOWN_SHARE of them), else None."""
        words = _WORD.findall(text.lower())
        unknown = self.unknown(text)
        count = sum(_stem(w) not in self._known for w in words)
        if count > 1 and count / len(words) > MAX_UNKNOWN_SHARE:
            return f"words the source never uses: {', '.join(unknown[:5])}"
        return None


SHORT_TEXT_WORDS = 15
# Words a finished phrase does not end on: "his life is worth the death of" was cut by the length cap.
DANGLING = frozenset("a an the of to and or but that his her their its my our your is was are were be "
                     "with for from by at in on as than if which who whom whose not".split())


def repetition_problem(text: str) -> str | None:
    """A reason when the text loops (without a repetition penalty a small model writes "he is mortal,
    he is mortal" or "Believes that, Believes that"): a three-word sequence that occurs twice, or, in
    a short text (SHORT_TEXT_WORDS or fewer), a two-word sequence with a content word that does.
    Longer prose repeats names and "in the" naturally."""
    words = _WORD.findall(text.lower())
    for size in (3, 2):
        if size == 2 and len(words) > SHORT_TEXT_WORDS:
            break
        grams = list(zip(*(words[k:] for k in range(size))))
        repeated = next((g for i, g in enumerate(grams) if g in grams[i + 1:] and not set(g) <= DANGLING), None)
        if repeated:
            return f"repeats itself: {' '.join(repeated)!r} twice"
    return None


def unfinished_problem(text: str) -> str | None:
    """A reason when the text stops on a word a finished phrase does not end on."""
    words = _WORD.findall(text.lower())
    return f"unfinished: ends on {words[-1]!r}" if words and words[-1] in DANGLING else None


class Wording:
    """The rules above for one work: `problem` (invented words, loops) for any text, and
    `phrase_problem` (also an unfinished ending) for a phrase that must read as finished. Without a
    vocabulary, invented words are not checked; with `enabled=False` nothing is."""

    def __init__(self, vocabulary: SourceVocabulary | None = None, *, enabled: bool = True):
        self.vocabulary = vocabulary
        self.enabled = enabled

    def problem(self, text: str) -> str | None:
        if not self.enabled:
            return None
        return (self.vocabulary.problem(text) if self.vocabulary else None) or repetition_problem(text)

    def phrase_problem(self, text: str) -> str | None:
        return self.problem(text) or (unfinished_problem(text) if self.enabled else None)


def plot_problem(summary: str, scenario: str, wording: Wording) -> str | None:
    """Why a plot's summary or scenario cannot be shown to generators and readers, or None. The
    embedded model's scene summaries include strings such as "ࣴ\\cabbacamblaBAMBANANKLA...": a
    question built on them would be about nothing."""
    for name, text in (("summary", summary), ("scenario", scenario)):
        problem = wording.problem(text)
        if problem:
            return f"unreadable plot {name}: {problem}"
    return None

