"""Fitting a capable model's prose into the published ToMATO format, instead of asking again.

A released conversation line is `First Last: "utterance"` and a raw message `(thought) "utterance"`
(spec §3, §5 Step 3). So an utterance cannot hold a straight double quote, neither text can hold a
parenthesis (the partner hears a message with its parenthesised spans removed), and no text can hold
a line break. A strong model writes all three now and then in otherwise good prose; re-asking would
pay again for nothing. The program rewrites those characters instead, and each rule it applied is
recorded, with the text as the model wrote it, in the record's provenance (`normalisations`):

- a line break or tab becomes a space (runs of spaces are always collapsed, as in the strict contract);
- a straight double quote becomes a curly one, opening after a space or at the start, else closing
  (utterances only: a thought is not quoted in the published form);
- a parenthesised aside goes between em dashes: "I was (honestly) tired" -> "I was — honestly — tired".

Everything else a model writes (curly quotes and apostrophes, dashes, accents, digits) is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_BREAKS = "line break became a space"
STRAIGHT_QUOTES = "straight double quote became a curly one"
PARENTHESES = "parentheses became em dashes"

_OPENS_AFTER = set(" ([{—–-‘“")  # a quote after these (or at the start) opens a quotation


@dataclass(frozen=True)
class Fitted:
    text: str
    rules: tuple[str, ...]  # the rules that changed something, in the order applied


def fit_utterance(text: str) -> Fitted:
    return _fit(text, quotes=True)


def fit_thought(text: str) -> Fitted:
    return _fit(text, quotes=False)


def _fit(text: str, *, quotes: bool) -> Fitted:
    rules = []
    if re.search(r"[\n\r\t]", text):
        rules.append(LINE_BREAKS)
    text = " ".join(text.split())
    if quotes and '"' in text:
        rules.append(STRAIGHT_QUOTES)
        text = curly_quotes(text)
    if re.search(r"[()]", text):
        rules.append(PARENTHESES)
        text = dashed_asides(text)
    return Fitted(text, tuple(rules))


def curly_quotes(text: str) -> str:
    out = []
    for i, char in enumerate(text):
        if char == '"':
            char = "“" if i == 0 or text[i - 1] in _OPENS_AFTER else "”"
        out.append(char)
    return "".join(out)


def dashed_asides(text: str) -> str:
    text = re.sub(r"\s*[()]\s*", " — ", text)
    text = re.sub(r"(?:\s*[—–]\s*){2,}", " — ", text)  # ")(", ") —": one break, not two
    text = re.sub(r" — (?=[.,;:!?…”’]|$)", "", text)  # "tired (very)." -> "tired — very."
    return text.strip()
