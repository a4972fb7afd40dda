"""Reading an answer out of a model's reply: a letter (ToMATO, LitCharToM) or option probabilities
(PersonaEval).

Models rarely follow an answer format to the letter, and the originals' extractors were brittle
(ToMATO takes only the first "[A]"-"[D]", LitCharToM only "Answer: X"). A reply is read by the
most explicit rule that matches, so a reply that states its answer plainly is never scored wrong
for its punctuation; a reply no rule can read is *unparseable*: it counts as wrong and is counted.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

LETTERS = "ABCDE"


@dataclass(frozen=True)
class LetterAnswer:
    letter: str | None  # None: unparseable
    rule: str  # which rule read it (or "unparseable"), kept with the prediction for audits


# Rules in the order they are tried: the most explicit statement of an answer first. A capital
# letter is an answer wherever it stands; a small one only when nothing follows it but punctuation,
# so that "the answer is a tricky one" is not read as A. A mere mention of an option ("option A is
# wrong") is not an answer statement; "the correct option is C" and "I choose C" are.
_STATEMENT = (r"(?i:\b(?:final\s+)?answer\s*(?:is|would\s+be)?|\b(?:correct|right|best)\s+(?:option|choice)"
              r"\s*(?:is|would\s+be)?|\bI\s+(?:choose|pick|select)|\bmy\s+choice\s*(?:is)?)"
              r"\s*:?\s*(?:(?i:option)\s+)?[\[(*\"']*\s*")
# A-H, so that a stated answer past the options ("[E]") is caught, but never the pronoun "I".
_ANSWER_PHRASE = (re.compile(_STATEMENT + r"([A-H])(?![A-Za-z'])"),
                  re.compile(_STATEMENT + r"([a-e])(?=\s*(?:$|[.)\]:,;!*\"']))"))
_BRACKETED = (re.compile(r"\[\s*([A-Ea-e])\s*\]"),)
# A reply that is only a letter ("B", "b.", "B)") or opens with one the way options are written
# ("B. He thinks ..."); "A man ..." is an article, not an answer.
_LEADING_LETTER = (re.compile(r"^\W*([A-Ea-e])\s*(?:$|[.):]\s*)"),)
_PARENTHESISED = (re.compile(r"\(([A-E])\)"),)  # capitals only: "(a)" usually enumerates points
# (rule, patterns, which match counts, whether it must be an option letter to count at all)
RULES = (("answer phrase", _ANSWER_PHRASE, -1, False),  # the last one: a reply may think aloud first
         ("bracketed", _BRACKETED, 0, True),  # the first [A]-[D], as ToMATO's extractor reads it
         ("leading letter", _LEADING_LETTER, 0, True),
         ("parenthesised", _PARENTHESISED, 0, True))


def parse_letter(reply: str, options: list[str], letters: str = LETTERS[:4]) -> LetterAnswer:
    """The option letter a reply gives, among `letters`; `options` are the option texts in order.
    A reply whose stated answer is no option ("The answer is [E]" with four options) is unparseable."""
    text = reply or ""
    for rule, patterns, pick, only_options in RULES:
        found = [letter for _, letter in sorted((m.start(), m.group(1).upper())
                                                for pattern in patterns for m in pattern.finditer(text))]
        if only_options:
            found = [letter for letter in found if letter in letters]
        if found:
            letter = found[pick]
            if letter not in letters:
                return LetterAnswer(None, f"answer {letter} is no option")
            return LetterAnswer(letter, rule)
    letter = _letter_of_quoted_option(text, options, letters)
    if letter is not None:
        return LetterAnswer(letter, "option text")
    return LetterAnswer(None, "unparseable")


def _letter_of_quoted_option(reply: str, options: list[str], letters: str) -> str | None:
    """The letter of the one option whose text the reply contains (none or several: None)."""
    said = _normalised(reply)
    if not said:
        return None
    quoted = [letter for letter, option in zip(letters, options)
              if (text := _normalised(_without_letter_prefix(option))) and text in said]
    return quoted[0] if len(quoted) == 1 else None


def _without_letter_prefix(option: str) -> str:
    """LitCharToM options carry their letter ("A. He believes ..."); the text is what follows."""
    return re.sub(r"^[A-E]\.\s+", "", option)


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


# -- option probabilities (PersonaEval) ---------------------------------------------------------


@dataclass(frozen=True)
class Probabilities:
    values: dict[str, float] | None  # option name -> probability, every option present; None: unparseable
    problem: str  # why it could not be read, or what was repaired ("" when the reply was clean)


def parse_probabilities(reply: str, options: list[str]) -> Probabilities:
    """The last JSON object in the reply (in a code fence or not), mapping option names to
    probabilities. Keys are matched to options ignoring case, spacing and punctuation; an option
    the object leaves out gets 0; a sum other than 1 is renormalised (and said so)."""
    candidates = _json_objects(reply or "")
    if not candidates:
        return Probabilities(None, "no JSON object in the reply")
    raw = candidates[-1]
    matched, unknown = _match_keys(raw, options)
    if unknown:
        return Probabilities(None, f"keys that are not options: {sorted(unknown)[:3]}")
    if not matched:
        return Probabilities(None, "the JSON object names no option")
    try:
        values = {option: float(matched.get(option, 0.0)) for option in options}
    except (TypeError, ValueError):
        return Probabilities(None, "a probability is not a number")
    total = sum(values.values())
    if any(v < 0 for v in values.values()) or total <= 0:
        return Probabilities(None, "probabilities are negative or sum to 0")
    if abs(total - 1.0) <= 1e-5:
        return Probabilities(values, "")
    return Probabilities({option: v / total for option, v in values.items()}, f"renormalised from a sum of {total:g}")


def _match_keys(raw: dict, options: list[str]) -> tuple[dict[str, object], set[str]]:
    by_form = {_normalised(option): option for option in options}
    matched, unknown = {}, set()
    for key, value in raw.items():
        option = by_form.get(_normalised(str(key)))
        if option is None:
            unknown.add(str(key))
        else:
            matched[option] = value
    return matched, unknown


def _json_objects(text: str) -> list[dict]:
    """Every top-level {...} in the text that reads as an object, in order (lenient repairs)."""
    objects = []
    for chunk in _brace_spans(text):
        value = _lenient_load(chunk)
        if isinstance(value, dict):
            objects.append(value)
    return objects


def _brace_spans(text: str) -> list[str]:
    """Balanced {...} spans, outermost only (braces inside strings are rare enough in a reply of
    probabilities that they are not tracked)."""
    spans, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start:index + 1])
    return spans


def _lenient_load(chunk: str):
    """JSON, else JSON with trailing commas removed, else a Python literal (single quotes)."""
    for attempt in (chunk, re.sub(r",\s*([}\]])", r"\1", chunk)):
        try:
            return json.loads(attempt)
        except ValueError:
            pass
    try:
        return ast.literal_eval(chunk)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
