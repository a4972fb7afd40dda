"""A deterministic stand-in that writes like a strong hosted model (GPT-4o, Claude), for tests and benchmarks.

schema_faker.py answers every schema with the shortest valid ASCII instance; this is its opposite.
`StrongStandIn` is a responder for the scripted servers (tests/support/scripted_llm.py):

    ScriptedOpenAIServer(responder=StrongStandIn())      # or ScriptedAnthropicServer(...)

and answers the way a capable model does, so that builders can be proven on the kind of text users
will publish with. Its rules:

- Deterministic per request: every choice comes from a Random seeded by a hash of the canonical
  request body (which holds OpenAI's `seed`, so a re-ask with another seed may differ). Anthropic
  bodies carry no seed: the n-th identical body gets the n-th sample, as a model sampling at its
  default temperature would (so a re-ask can succeed); a fresh server replays the same sequence.
- Structure is followed: objects with every required property (optional ones usually), arrays
  within minItems/maxItems, enums, const, booleans, numbers within their bounds, anyOf/oneOf and
  nullable types (never the null branch), local $ref. Anthropic's moved keywords (see
  providers/anthropic_api.py) are read back from the descriptions, as a model reads them there.
- Strings are natural English prose from a shipped phrase bank (standin_text.json): one or two
  sentences by default, with the Unicode a real model writes (— ’ “ ” …, accented names, £, %,
  3:30, 1920s), naming the request's own characters now and then. `pattern`, minLength and
  maxLength are IGNORED (Anthropic and most OpenAI-compatible servers do not enforce them), except
  that a literal prefix ("^I feel ...", or a description saying `starts with "..."`) is honoured.
- Stated lengths are followed approximately ("about 25 words", "20-30 words", "at most 60 words",
  "one or two sentences"...), from the field's description, else from the messages: a message-level
  length applies to a field named next to it, or to the only string field of the schema; a share
  `overrun_rate` of the fields with a stated maximum come out 20-60% longer than that maximum.
- Fields asking for a quote (quote, first_line, last_line, line, quotes[].text, or a description
  saying verbatim/quote/copy) copy a real span of the passage in the last user message.
- Judge fields (enums, booleans) are right at the rate `judge_accuracy`: "right" is what `oracle`
  says, else the affirmative value of a yes/no-like enum, else the lettered option sharing the most
  words with the rest of the prompt; other enums are chosen at random. A list of enum values that
  may be empty (`"also_valid": []`) is a verdict too: empty, i.e. accepting, at the same rate.
- A share `markup_rate` of prose fields holds a habit of real models that a published format may
  not hold: a straight-quoted "word", an (aside) or a line break; builders must normalise these,
  not re-ask them.
- Replies report token usage at about four characters a token; `stats` counts what was served.

Manual use, like scripted_llm's (reusing its servers):
    python -m tests.support.standin --protocol openai|anthropic [--latency S] [--overrun-rate R] [--judge-accuracy A]
prints `PORT <n>` once listening and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from builders.llm.providers.anthropic_api import CONSTRAINTS_NOTE
from tests.support.schema_faker import with_described_constraints
from tests.support.scripted_llm import SERVERS, Action, RecordedRequest, reply_json, reply_text

BANK_PATH = Path(__file__).with_name("standin_text.json")

# A word is a run of characters holding a letter or digit, split by spaces, dashes and ellipses:
# "Zoë’s", "£40", "3:30" and "50/50" are one word each, a spaced em dash is none.
WORD = re.compile(r"[^\s—–…]*[^\W_][^\s—–…]*")

# Default lengths: a string field is one or two sentences, free text one paragraph.
DEFAULT_FIELD_WORDS = (12, 45)
DEFAULT_TEXT_WORDS = (45, 110)
SENTENCE_WORDS = (10, 24)
SHORT_SENTENCE_WORDS = (6, 14)
PHRASE_MAX_WORDS = 6  # a target this short is a phrase ("a few words"), not a sentence
OVERRUN = (1.2, 1.6)  # an overrun is this many times the stated maximum

Oracle = Callable[[dict, tuple, list], Any]


def count_words(text: str) -> int:
    return len(WORD.findall(text))


@cache
def bank() -> dict[str, list[str]]:
    return {k: v for k, v in json.loads(BANK_PATH.read_text(encoding="utf-8")).items() if not k.startswith("_")}


# ---------------------------------------------------------------------------------------------
# Reading the request
# ---------------------------------------------------------------------------------------------


def request_schema(body: dict) -> dict | None:
    """The reply schema, found where answer_the_schema (scripted_llm.py) finds it for each protocol."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if schema is None and body.get("tools"):
        schema = body["tools"][0].get("input_schema")
    return schema


def _text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a list of blocks (both protocols)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


@dataclass(frozen=True)
class Messages:
    system: str
    last_user: str
    everything: str


def read_messages(body: dict) -> Messages:
    messages = body.get("messages") or []
    # OpenAI keeps the system prompt among the messages; Anthropic sends it as a top-level field.
    system = "\n\n".join([_text_of(body.get("system"))]
                         + [_text_of(m.get("content")) for m in messages if m.get("role") == "system"]).strip()
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    everything = "\n\n".join([system] + [_text_of(m.get("content")) for m in messages if m.get("role") != "system"])
    return Messages(system=system, last_user=users[-1] if users else "", everything=everything)


def described(schema: dict) -> dict:
    """`schema` with the keywords the Anthropic provider moved into its description put back
    (schema_faker.with_described_constraints). A node that is one object shared by two places of the
    request's schema gets the note twice (describe_constraints visits it once per place); then the
    first note is read."""
    try:
        return with_described_constraints(schema)
    except ValueError:
        note = schema["description"].split(CONSTRAINTS_NOTE, 1)[1]
        keywords, _ = json.JSONDecoder().raw_decode(note)
        return {**schema, **keywords}


def human_description(schema: dict) -> str:
    """The description a person wrote, without the keywords the Anthropic provider appended to it."""
    description = schema.get("description")
    if not isinstance(description, str):
        return ""
    return description.split(CONSTRAINTS_NOTE, 1)[0].strip()


# ---------------------------------------------------------------------------------------------
# Stated lengths
# ---------------------------------------------------------------------------------------------

NUMBER_WORDS = {"a": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "hundred": 100}
N = r"(\d+|" + "|".join(NUMBER_WORDS) + r")"
N_COUNT = r"(\d+|" + "|".join(w for w in NUMBER_WORDS if w not in ("a", "single")) + r")"  # not "a few words"
TO = r"\s*(?:-|–|—|to|or)\s*"
WORDS_ = r"\s+(?:\w+\s+)?words?\b"  # "30 words", "30 plain words"
SENTENCES_ = r"\s+(?:short\s+|brief\s+|full\s+|complete\s+)?sentences?\b"

# (regex, kind); the earliest match in a text wins, the longer one on a tie.
TARGET_FORMS = [
    (rf"\bbetween\s+{N}\s+and\s+{N}{WORDS_}", "words-range"),
    (rf"\b{N}{TO}{N}{WORDS_}", "words-range"),
    (rf"\b(?:about|around|roughly|approximately|approx\.?|some|~)\s*{N}{WORDS_}", "words-about"),
    ((rf"\b(?:at\s+most|no\s+more\s+than|not\s+more\s+than|under|fewer\s+than|less\s+than|up\s+to|"
      rf"(?:a\s+)?maximum\s+of|max\.?|within)\s+{N}{WORDS_}"), "words-max"),
    (rf"\b{N}{WORDS_}\s+or\s+(?:fewer|less)", "words-max"),
    (rf"\b(?:at\s+least|more\s+than|over)\s+{N}{WORDS_}", "words-min"),
    (r"\ba\s+few\s+words\b", "few-words"),
    (r"\ba\s+(?:word\s+or\s+two|couple\s+of\s+words)\b", "couple-words"),
    (r"\ba\s+(?:single\s+)?word\b", "one-word"),
    (rf"\b{N_COUNT}{WORDS_}", "words-about"),
    (r"\b(?:a|one)\s+(?:short\s+)?paragraph\b", "paragraph"),
    (rf"\b(?:at\s+most|no\s+more\s+than|up\s+to)\s+{N}{SENTENCES_}", "sentences-max"),
    (rf"\b{N}{TO}{N}{SENTENCES_}", "sentences-range"),
    (r"\b(?:a|one|1|a\s+single)\s+(?:short|brief)\s+sentence\b", "short-sentence"),
    (r"\ba\s+few\s+sentences\b", "few-sentences"),
    (rf"\b{N}{SENTENCES_}", "sentences"),
]
TARGET_RES = [(re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in TARGET_FORMS]


def _number(text: str) -> int:
    return int(text) if text.isdigit() else NUMBER_WORDS[text.lower()]


@dataclass(frozen=True)
class Target:
    """A stated length. `words` is the range the word count is drawn from, or None when only a
    sentence count was stated (each sentence then takes a natural length); `maximum` (words) is
    what an overrun goes beyond (None: nothing stated caps the length)."""

    words: tuple[int, int] | None
    sentences: tuple[int, int] | None = None
    maximum: int | None = None
    sentence_words: tuple[int, int] = SENTENCE_WORDS


def _target_from(kind: str, numbers: list[int]) -> Target:
    if kind == "words-range":
        low, high = sorted(numbers)
        return Target((low, high), maximum=high)
    if kind == "words-about":  # a strong model lands within about 15% of a stated number
        (n,) = numbers
        return Target((max(1, round(n * 0.85)), max(1, round(n * 1.15))), maximum=n)
    if kind == "words-max":
        (n,) = numbers
        return Target((max(1, round(n * 0.55)), n), maximum=n)
    if kind == "words-min":
        (n,) = numbers
        return Target((n, round(n * 1.4)))
    if kind == "few-words":
        return Target((2, 5), maximum=5)
    if kind == "couple-words":
        return Target((1, 3), maximum=3)
    if kind == "one-word":
        return Target((1, 1), maximum=1)
    if kind == "paragraph":
        return Target((50, 110), maximum=120)
    if kind == "short-sentence":
        return Target(None, sentences=(1, 1), maximum=SHORT_SENTENCE_WORDS[1], sentence_words=SHORT_SENTENCE_WORDS)
    if kind == "few-sentences":
        numbers = [2, 4]
    low, high = (1, numbers[0]) if kind == "sentences-max" else (min(numbers), max(numbers))
    return Target(None, sentences=(low, high), maximum=high * SENTENCE_WORDS[1])


def parse_target(text: str) -> Target | None:
    """The first length stated in `text`. A word count and a sentence count stated side by side
    combine ("one or two sentences, about 30 words"): the words from one, the sentences from the other."""
    found = []
    for regex, kind in TARGET_RES:
        for match in regex.finditer(text or ""):
            found.append((match.start(), -len(match.group(0)), match.end(), kind,
                          [_number(g) for g in match.groups() if g]))
    if not found:
        return None
    found.sort(key=lambda item: item[:2])
    _, _, end, kind, numbers = found[0]
    target = _target_from(kind, numbers)
    for start, _, _, other_kind, other_numbers in found[1:]:
        if start > end + 40:  # too far away to be the same instruction
            break
        other = _target_from(other_kind, other_numbers)
        if (target.words is None) != (other.words is None):
            counted, sentenced = (other, target) if target.words is None else (target, other)
            return Target(counted.words, sentenced.sentences, counted.maximum, sentenced.sentence_words)
    return target


@lru_cache(maxsize=1024)
def field_segments(text: str, name: str) -> tuple[str, ...]:
    """What `text` says right after naming the field: from `"name":` / `name:` / `"name" (` to the
    end of the line or the next quoted field name, whichever comes first. Quoted mentions first."""
    if not name or not text:
        return ()
    quoted = re.compile(r"[\"“'`]" + re.escape(name) + r"[\"”'`]\s*(?::|\(|—|–|-\s)")
    bare = re.compile(r"(?<![\w\"“'`])" + re.escape(name) + r"\s*(?::|\(|—|–|\s-\s)")
    next_field = re.compile(r"[\"“][\w ]{1,40}[\"”]\s*(?::|\()")
    segments = []
    for regex in (quoted, bare):
        for match in regex.finditer(text):
            rest = text[match.end():]
            end = len(rest)
            newline = rest.find("\n")
            if newline >= 0:
                end = newline
            other = next_field.search(rest, 0, end)
            if other:
                end = other.start()
            segments.append(rest[:end])
    return tuple(segments)


# ---------------------------------------------------------------------------------------------
# Required prefixes (the one part of a pattern a strong model follows)
# ---------------------------------------------------------------------------------------------

_REGEX_SPECIAL = set("^$*+?()[]{}|")
_CLASS_ESCAPES = set("dDwWsSbBAZzntrfv0123456789pP")


def pattern_prefix(pattern: Any) -> str:
    """The literal text an anchored pattern begins with: "^I feel [a-z ]+$" -> "I feel ".
    Escaped characters and one-character classes ("[.]", from grammar_literal) count as literal;
    an atom made optional by ?, * or {0,..} ends the prefix before it."""
    if not isinstance(pattern, str) or not pattern.startswith("^") or _has_top_level_alternation(pattern):
        return ""
    out, i = [], 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1] in _CLASS_ESCAPES:
                break
            atom, step = pattern[i + 1], 2
        elif char == "[":
            single = re.match(r"\[(\\.|[^\]\\^])\]", pattern[i:])
            if not single:
                break
            atom, step = single.group(1)[-1], len(single.group(0))
        elif char in _REGEX_SPECIAL:
            break
        else:
            atom, step = char, 1  # a "." counts as itself: in "^Yes. " it means a full stop
        quantifier = pattern[i + step:i + step + 2]
        if quantifier[:1] in ("?", "*") or quantifier.startswith("{0"):
            break
        out.append(atom)
        if quantifier[:1] in ("+", "{"):
            break  # one copy is certain, how many more is not
        i += step
    return "".join(out)


def _has_top_level_alternation(pattern: str) -> bool:
    depth, escaped, in_class = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


_QUOTED = r"(?:\"([^\"]+)\"|“([^”]+)”|'([^']+)'(?=[\s.,;:)]|$)|‘([^’]+)’)"
PREFIX_CUE = re.compile(r"\b(?:begins?|beginning|starts?|starting)\s+(?:with\s+)?(?:the\s+(?:words?|text)\s+)?"
                        + _QUOTED, re.IGNORECASE)
SUFFIX_CUE = re.compile(r"\b(?:ends?|ending)\s+(?:with\s+)?" + _QUOTED, re.IGNORECASE)


def described_literal(text: str, cue: re.Pattern) -> str:
    match = cue.search(text or "")
    return next((g for g in match.groups() if g), "") if match else ""


# ---------------------------------------------------------------------------------------------
# Quotes from the passage
# ---------------------------------------------------------------------------------------------

QUOTE_FIELDS = {"quote", "quotation", "first_line", "last_line", "line", "verbatim"}
QUOTE_CUE = re.compile(r"\b(?:verbatim|quot(?:e|es|ed|ing)|cop(?:y|ied))\b", re.IGNORECASE)
NEGATION = re.compile(r"(?:\bnot|\bnever|n[’']t|\bwithout|\bno)\s+(?:\w+\s+)?$", re.IGNORECASE)
PASSAGE_HEADER = re.compile(r"\s*#*\s*(?:the\s+)?(?:passage|text|scene|excerpt|conversation|transcript|dialogue|"
                            r"story|chapter|scene so far|conversation so far)\s*:?\s*", re.IGNORECASE)
# "EDGAR: ...", "Clara Díaz: ...", "[Character1] ...": a speaker's name, every word of it capitalised.
SPEAKER_LABEL = re.compile(r"^\s*(?:\[[^\]\n]{1,30}\]:?|(?=[^\W\d_])(?:\b[^\W_][\w’'.-]*(?: |(?=:))){1,4}:)\s+")


def _speaker_label(line: str) -> re.Match | None:
    match = SPEAKER_LABEL.match(line)
    label = match.group(0).strip() if match else ""
    if label and not label.startswith("[") and not all(word[0].isupper() for word in label.rstrip(":").split()):
        return None  # "In three our kingdom: and 'tis our fast intent" is verse, not a speaker
    return match


def asks_for_quote(text: str) -> bool:
    return any(not NEGATION.search(text[:match.start()]) for match in QUOTE_CUE.finditer(text or ""))


def _instruction_like(line: str, previous: str) -> bool:
    stripped = line.strip()
    # A line ending with ":" after a blank line introduces instructions ("For each plot give:"),
    # unless it is as short as a speaker's label on its own line ("EDGAR:").
    return (stripped.startswith("#") or "{" in stripped or bool(re.search(r"[\"“]\w+[\"”]\s*:", stripped))
            or (stripped.endswith(":") and not previous.strip() and count_words(stripped) >= 4))


def passage_lines(text: str) -> list[tuple[str, str]]:
    """The quotable lines of a prompt, each with its speaker ("" when none is labelled): the lines
    under a passage header ("PASSAGE:", "# Transcript") up to the next instruction, else every line
    that is not an instruction. A label ("EDGAR: ...") is removed from the words, as a quote gives
    what was said, and carries on to the unlabelled lines after it, as in a play."""
    lines = text.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if PASSAGE_HEADER.fullmatch(line)), None)
    chosen, previous, speaker = [], "", ""
    for line in lines[start or 0:]:
        if _instruction_like(line, previous):
            if start is not None and chosen:
                break
            previous = line
            continue
        previous = line
        label = _speaker_label(line)
        if label:
            speaker = label.group(0).strip().rstrip(":").strip("[] ")
        spoken = line[label.end():].strip() if label else line.strip()
        if count_words(spoken) >= 3:
            chosen.append((speaker, spoken))
    return chosen


def _first_words(text: str, n: int) -> str:
    """The first n words of `text`, exactly as written there (a verbatim span)."""
    match = re.match(rf"\s*(?:\S+\s+){{{n - 1}}}\S+", text)
    span = match.group(0).strip() if match else text.strip()
    return span.rstrip(",;:—–")


# ---------------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------------

AFFIRMATIVE = {"yes", "true", "compatible", "consistent", "accept", "accepted", "plausible", "valid", "correct",
               "agree", "pass", "supported", "approve", "approved", "keep"}
NEGATIVE = {"no", "false", "incompatible", "inconsistent", "reject", "rejected", "implausible", "invalid",
            "incorrect", "disagree", "fail", "unsupported", "disapprove", "drop"}
STOPWORDS = set("the a an and or but of to in on at for with from by about as is are was were be been it its this "
                "that these those he she they them his her their you your we our i me my not no yes do does did "
                "what which who whom how why when where will would can could should has have had there here than "
                "then so if just only very into out up down over after before".split())


def affirmative_choice(choices: list) -> Any:
    """The accepting value of a yes/no-like set of choices (True, "yes", "compatible"...), else None."""
    def key(choice):
        return str(choice).strip().lower()

    if not 2 <= len(choices) <= 4:  # a verdict has a few values; a vocabulary (77 traits) is no verdict
        return None
    keys = [key(c) for c in choices]
    positive = [c for c, k in zip(choices, keys, strict=True) if k in AFFIRMATIVE]
    if len(positive) == 1 and any(k in NEGATIVE for k in keys):
        return positive[0]
    for choice, k in zip(choices, keys, strict=True):  # "relevant" / "irrelevant", "likely" / "unlikely"
        if any(other in (f"in{k}", f"un{k}", f"im{k}", f"ir{k}", f"not {k}", f"non-{k}") for other in keys):
            return choice
    return None


ASIDES = ("(as usual)", "(or so it seems)", "(again)", "(at least for now)", "(to be fair)")


def with_markup(text: str, rng: random.Random, *, keep: int = 0) -> str:
    """`text` with one plain-ASCII habit of real models: a "quoted" word, an (aside), or a line break
    between sentences; the first `keep` characters (a required prefix) stay as they are."""
    head, body = text[:keep], text[keep:]
    words = body.split(" ")
    if len(words) < 4:
        return text
    kind = rng.choice(("quote", "aside", "break"))
    at = rng.randrange(1, len(words) - 1)
    if kind == "quote":
        words[at] = f'"{words[at].strip(".,;:!?")}"' + words[at][len(words[at].rstrip(".,;:!?")):]
        return head + " ".join(words)
    if kind == "aside":
        words.insert(at, rng.choice(ASIDES))
        return head + " ".join(words)
    sentences = re.split(r"(?<=[.!?…]) ", body)
    if len(sentences) < 2:
        return head + " ".join(words[:at]) + "\n" + " ".join(words[at:])
    cut = rng.randrange(1, len(sentences))
    return head + " ".join(sentences[:cut]) + "\n" + " ".join(sentences[cut:])


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W\d_][\w’']+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def best_letter(letters: list[str], prompt: str) -> str | None:
    """The lettered option ("A. ...", "[B] ...", "(C) ...") sharing the most words with the rest of the prompt."""
    options, rest = {}, prompt
    for letter in letters:
        regex = re.compile(rf"^[ \t]*(?:\[{letter}\]|\({letter}\)|{letter}[.):])[ \t]+(.+)$", re.MULTILINE)
        match = regex.search(prompt)
        if match:
            options[letter] = match.group(1)
            rest = rest.replace(match.group(0), "")
    if len(options) < 2:
        return None
    context = _content_words(rest)
    return max(options, key=lambda letter: len(_content_words(options[letter]) & context))


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

NOT_NAMES = set(("Feels Believes Desires Intends Knows Wants Thinks I I’m I'm I’ll I've The A An You Your We He She They It This That What How Why Who When Where "
                 "Which Answer Question Questions Options Option JSON English Scenario Goal Book Character Place "
                 "Scene Characters Earlier Transcript Dialogue Candidates Context Situation Reply Write Use Each "
                 "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June "
                 "July August September October November December Mr Mrs Ms Dr Sir Lady Lord King Queen Act "
                 "Chapter Do Does Did Is Are Give Read Rewrite Hold Vary Then Before After Just Could Not "
                 "Compatible Incompatible Correct Other Divide For Yes No True False").split())
NAME_TOKEN = re.compile(r"[^\W\d_][\w’'-]*")


@cache
def bank_places() -> frozenset[str]:
    """Capitalised words of the bank that are not people ("Lisbon", "Market Street"): a prompt that
    quotes this stand-in's own earlier reply (a generated scenario) must not make them characters."""
    words = {word for kind, entries in bank().items() if kind != "bank_name" for entry in entries
             for word in NAME_TOKEN.findall(entry) if word[0].isupper()}
    return frozenset(words)


@lru_cache(maxsize=256)
def names_in(text: str) -> tuple[str, ...]:
    """Capitalised names used mid-sentence ("You are Clara Díaz", "What does Edgar believe"), in order."""
    found: list[str] = []
    tokens = list(NAME_TOKEN.finditer(text or ""))
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word = token.group(0)
        k = token.start() - 1
        while k >= 0 and text[k] in " \t":
            k -= 1
        sentence_start = k < 0 or text[k] in ".!?:\n\"“#*-([>"
        if (word[0].isupper() and not word.isupper() and word not in NOT_NAMES and word not in bank_places()
                and not sentence_start and not any(char.isdigit() for char in word)):
            parts, j = [word], i + 1
            while (j < len(tokens) and tokens[j].group(0)[0].isupper() and not tokens[j].group(0).isupper()
                   and text[tokens[j - 1].end():tokens[j].start()] == " " and len(parts) < 3):
                parts.append(tokens[j].group(0))
                j += 1
            name = " ".join(parts).rstrip("’'")
            if name.endswith(("’s", "'s")):
                name = name[:-2]
            if name and name not in found:
                found.append(name)
            i = j
        else:
            i += 1
    return tuple(found)


# One word with a capital inside ("BelievesAboutKent", "FeelsToward"): a relation or a code, not a name.
CAMEL_COMPOUND = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]*)+")


def names_in_enum(values: list) -> list[str]:
    looks_like_name = re.compile(r"[^\W\d_][\w’'.-]+(?: [^\W\d_][\w’'.-]+){0,2}")
    return [v for v in values if isinstance(v, str) and looks_like_name.fullmatch(v) and v[0].isupper()
            and not v.isupper() and v.lower() not in AFFIRMATIVE | NEGATIVE and v not in NOT_NAMES
            and not CAMEL_COMPOUND.fullmatch(v)]


# ---------------------------------------------------------------------------------------------
# Prose
# ---------------------------------------------------------------------------------------------

TRAILING_JUNK = set("the a an and but or so to of in on at for with that which because about my our their her his "
                    "is was as by from than even though when whether not if while after before all".split())
QUESTION_WORDS = {"what", "how", "why", "who", "whom", "whose", "where", "when", "which", "does", "do", "did", "is",
                  "are", "was", "were", "can", "could", "will", "would", "should", "has", "have"}
FEELING_VERBS = {"feel", "feels", "felt", "feeling", "am", "is", "are", "was", "were", "seems", "seem", "looks",
                 "sounds", "became", "become", "becomes"}
MODAL_VERBS = {"will", "to", "would", "can", "could", "should", "must", "might", "shall", "’ll", "'ll", "may"}
WANT_VERBS = {"want", "wants", "wanted", "wish", "wishes", "hope", "hopes", "plan", "plans", "intend", "intends",
              "decided", "decides", "try", "tries", "need", "needs", "refuses", "promised", "promises", "going",
              "means", "mean", "expects", "expect"}
WONDER_VERBS = {"wonder", "wonders", "wondering", "asks", "asked", "doubt", "doubts"}


def capitalise(text: str) -> str:
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1:]
    return text


def _clean_end(text: str) -> str:
    """A truncated sentence ended where a sentence can end: no dangling "the", comma or open quote."""
    words = text.split()
    while len(words) > 1 and (words[-1].lower().strip(",;:") in TRAILING_JUNK or not WORD.search(words[-1])):
        words.pop()
    text = " ".join(words).rstrip(",;:—–-… ")
    if text.count("“") > text.count("”"):
        text += "”"
    return text


def truncate_words(text: str, n: int) -> str:
    if count_words(text) <= n:
        return text
    cut = WORD.finditer(text)
    end = 0
    for i, match in enumerate(cut):
        if i == n:
            break
        end = match.end()
    return _clean_end(text[:end])


class Writer:
    """Writes prose from the bank for one string; `names` are the request's characters, best first.
    `used` (shared by the writers of one reply) keeps a template from coming back in the same reply."""

    def __init__(self, rng: random.Random, names: list[str], *, spaced_dashes: bool, used: set[str] | None = None):
        self.rng = rng
        self.names = names
        self.spaced_dashes = spaced_dashes  # one house style per reply, as a model keeps its own
        self.used = used if used is not None else set()

    # ---- filling templates ----

    def name(self, avoid: set[str] = frozenset()) -> str:
        # The request's characters most of the time; the bank's (accented) names otherwise.
        pool = self.names if self.names and self.rng.random() < 0.75 else bank()["bank_name"]
        choices = [n for n in pool if n not in avoid and n.split()[0] not in avoid] or pool
        weights = [1.0 / (1 + i) for i in range(len(choices))] if pool is self.names else None
        chosen = self.rng.choices(choices, weights=weights)[0]
        return chosen.split()[0] if " " in chosen and self.rng.random() < 0.5 else chosen

    def template(self, kind: str) -> str:
        """A template of `kind` this reply has not used yet, if any is left."""
        options = bank()[kind]
        return self.rng.choice([t for t in options if t not in self.used] or options)

    def fill(self, template: str, depth: int = 0) -> str:
        names: set[str] = set()

        def slot(match: re.Match) -> str:
            key = match.group(1)
            if key in ("name", "name2"):
                value = self.name(avoid=names)
                names.update((value, value.split()[0]))
                return value
            if key == "clause" and depth >= 2:
                return "it was late"
            chosen = self.template(key)
            if key == "clause":
                self.used.add(chosen)
            return self.fill(chosen, depth + 1)

        text = re.sub(r"\{(\w+)\}", slot, template)
        if not self.spaced_dashes:
            text = text.replace(" — ", "—")
        return text

    def pick(self, kind: str, budget: int, tries: int = 6) -> str | None:
        """A filled template of `kind` with at most `budget` words (the longest of a few draws), or None."""
        best, best_template = None, None
        for _ in range(tries):
            template = self.template(kind)
            text = self.fill(template)
            if count_words(text) <= budget and (best is None or count_words(text) > count_words(best)):
                best, best_template = text, template
        if best_template is not None:
            self.used.add(best_template)
        return best

    # ---- sentences ----

    def sentence(self, goal: int) -> str:
        """One sentence of about `goal` words, a little under rather than over: a clause from the
        bank (after an opener now and then) with tails added while they fit; sometimes speech."""
        if goal <= 8:
            short = self.pick("short", goal)
            if short:
                return short
        if goal >= 10 and self.rng.random() < 0.12:
            quoted = self.pick("quoted", goal + 1)
            if quoted and count_words(quoted) >= goal - 4:
                return quoted
        text = self.fill(self.template("opener")) if goal >= 14 and self.rng.random() < 0.25 else ""
        text += self.pick_or_cut("clause", goal - count_words(text))
        while goal - count_words(text) >= 3:
            tail = self.pick("tail", goal - count_words(text) + 1)
            if tail is None or (tail.startswith(", which") and "which" in text):  # one "which" a sentence
                break
            text += tail
        return self.close(capitalise(text))

    def close(self, text: str, end: str = ".") -> str:
        text = text.rstrip()
        if text.endswith(("”", ".", "!", "?", "…")):
            return text
        if end == "." and self.rng.random() < 0.05:
            end = "…"
        return text + end

    def continuation(self, prefix: str, goal: int) -> str:
        """The first sentence, continuing a required prefix the way its last word asks for."""
        words = prefix.lower().split()
        last = words[-1].strip(",;") if words else ""
        glue = "" if not prefix or prefix.endswith((" ", "\n")) else " "
        if re.search(r"[.!?:]\s*$", prefix) or not words:
            return prefix + glue + self.sentence(goal)
        budget = max(2, goal - count_words(prefix))
        if is_question(prefix):  # "What does Edgar believe" + " about the lease after the funeral?"
            return self.question_tails(prefix + glue + self.pick_or_cut("question_tail", budget), goal)
        if last in FEELING_VERBS:
            kind, lead = "feeling_phrase", ""
        elif last in MODAL_VERBS:
            kind, lead = "verb_phrase", ""
        elif last in WANT_VERBS:
            kind, lead = "verb_phrase", "to "
        elif last in WONDER_VERBS:
            kind, lead = "clause", "whether "
        else:  # "I think ", "Lear believes ", "I know that ", "Dear Zoë, ": a clause follows
            kind, lead = "clause", ""
        text = prefix + glue + lead + self.pick_or_cut(kind, budget - count_words(lead))
        while goal - count_words(text) >= 3 and (tail := self.pick("tail", goal - count_words(text) + 1)):
            text += tail
        return self.close(text)

    def question(self, goal: int) -> str:
        """A question of about `goal` words: "Are we still meeting at 3:30 now that the lease has come out?"."""
        return self.question_tails(capitalise(self.fill(self.template("question"))), goal)

    def question_tails(self, text: str, goal: int) -> str:
        if goal - count_words(text) >= 3:
            more = self.pick("question_tail", goal - count_words(text))
            if more and more.startswith(("after", "when", "now")) and not text.endswith(("after", "when")):
                text += " " + more
        return self.close(text, "?")

    def pick_or_cut(self, kind: str, budget: int) -> str:
        """A template of `kind` within `budget` words, or one cut down to it when none fits."""
        return self.pick(kind, budget) or truncate_words(self.fill(self.template(kind)), max(3, budget))

    def phrase(self, words: int) -> str:
        """A few words, no sentence: "uneasy about the deposit", "the spare key"."""
        best = None
        for kind in self.rng.sample(["feeling_phrase", "verb_phrase", "object", "feeling", "event"], 5):
            found = self.pick(kind, words, tries=4)
            if found and (best is None or abs(count_words(found) - words) < abs(count_words(best) - words)):
                best = found
        return best or truncate_words(self.fill(self.template("feeling_phrase")), max(1, words))

    def prose(self, words: int, sentences: int | None = None, *, prefix: str = "", suffix: str = "",
              sentence_words: tuple[int, int] = SENTENCE_WORDS) -> str:
        """About `words` words in `sentences` sentences (or as many as read naturally), beginning
        with `prefix` exactly and ending with `suffix`."""
        if words <= PHRASE_MAX_WORDS and not suffix and not sentences:
            if not prefix:
                return self.phrase(words)
            text = prefix + ("" if prefix.endswith(" ") else " ") + self.phrase(max(1, words - count_words(prefix)))
            return text
        parts, remaining = [], words
        left = sentences

        def goal_for() -> int:
            if left:
                return max(3, round(remaining / left))
            goal = self.rng.randint(*sentence_words)
            return remaining if remaining - goal < 6 else goal

        if prefix and is_question(prefix):  # a question field holds one question
            return _with_suffix(self.continuation(prefix, words), suffix)
        if prefix:
            first = self.continuation(prefix, goal_for())
            parts.append(first)
            remaining -= count_words(first)
            left = left - 1 if left else left
        # A stated sentence count is kept; otherwise sentences follow until the words are used up.
        while remaining >= 3 and (left is None or left > 0):
            text = self.sentence(goal_for())
            parts.append(text)
            remaining -= count_words(text)
            left = left - 1 if left else left
        return _with_suffix(" ".join(parts), suffix)


def is_question(prefix: str) -> bool:
    """A prefix that opens a question ("What does Edgar believe") rather than a statement."""
    words = prefix.lower().split()
    return bool(words) and words[0] in QUESTION_WORDS and not re.search(r"[.!?:]\s*$", prefix)


def _with_suffix(text: str, suffix: str) -> str:
    """`text` ending with `suffix` ("ends with "?""): in place of its final punctuation."""
    if not suffix or text.endswith(suffix):
        return text
    return text.rstrip(".!?…") + ("" if suffix[0] in ".!?…,;:" else " ") + suffix


# ---------------------------------------------------------------------------------------------
# One reply
# ---------------------------------------------------------------------------------------------

NAME_FIELDS = {"name", "speaker", "character", "addressee", "listener", "author", "full_name", "first_name",
               "target_character"}
NAME_LISTS = {"characters", "names", "speakers", "participants"}


def body_digest(body: dict) -> str:
    """The hash every choice is drawn from: the whole canonical body (OpenAI's seed included)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def count_string_fields(schema: Any, root: dict, depth: int = 0) -> int:
    """How many distinct string-valued nodes (free text, not enums) the schema has."""
    if not isinstance(schema, dict) or depth > 20:
        return 0
    schema = _resolve(schema, root)
    if "enum" in schema or "const" in schema:
        return 0
    total = sum(count_string_fields(s, root, depth + 1) for s in (schema.get("properties") or {}).values())
    for key in ("items", "additionalProperties"):
        total += count_string_fields(schema.get(key), root, depth + 1)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        total += sum(count_string_fields(s, root, depth + 1) for s in schema.get(key) or [])
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return total + ("string" in kinds)


def _resolve(schema: dict, root: dict) -> dict:
    """A local "$ref" ("#/$defs/turn") replaced by what it points to, its siblings kept."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return schema
    target: Any = root
    for part in ref.lstrip("#/").split("/"):
        if part:
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    return {**_resolve(target, root), **rest} if isinstance(target, dict) else rest


class Reply:
    """Builds the answer to one request body; every choice is drawn from the body's digest and the
    path of the value, so one field's draws do not move when another field changes."""

    def __init__(self, standin: StrongStandIn, body: dict, schema: dict | None, occurrence: int = 0):
        self.standin = standin
        self.body = body
        self.schema = schema or {}
        # A body without a seed (Anthropic's) asked again is sampled again, as a real model at its
        # default temperature does: the n-th identical body draws its n-th reply.
        self.digest = body_digest(body) + (f"#{occurrence}" if occurrence else "")
        self.messages = read_messages(body)
        self.string_fields = count_string_fields(self.schema, self.schema) if schema else 1
        style = self.rng(("style",))
        self.spaced_dashes = style.random() < 0.5
        self.names = self._request_names()
        self.counts: Counter = Counter()
        self.used_templates: set[str] = set()
        self.quoted: set[str] = set()
        self._passage: list[tuple[str, str]] | None = None
        self.quote_speakers: dict[tuple, str] = {}  # path of a quote -> the speaker of its line

    def rng(self, path: tuple, *salt: str) -> random.Random:
        return random.Random(f"{self.digest}|{json.dumps(path, ensure_ascii=False)}|{'|'.join(salt)}")

    def _request_names(self) -> list[str]:
        """The characters the request names, best first: those the last user message uses (this
        turn's people) and those offered in an enum (the characters to choose from) before the rest."""
        in_last = list(names_in(self.messages.last_user))
        in_enum = names_in_enum(_enum_values(self.schema))
        everywhere = list(dict.fromkeys([*in_last, *in_enum, *names_in(self.messages.everything)]))
        score = {name: 2 * (name in in_last) + 2 * (name in in_enum) for name in everywhere}
        return sorted(everywhere, key=lambda name: -score[name])[:12]  # stable: ties keep their order

    def writer(self, rng: random.Random, extra_names: list[str] = ()) -> Writer:
        names = list(dict.fromkeys([*extra_names, *self.names]))
        return Writer(rng, names, spaced_dashes=self.spaced_dashes, used=self.used_templates)

    # ---- the instance ----

    def value(self, schema: Any, path: tuple = (), position: tuple[int, int] | None = None) -> Any:
        if not isinstance(schema, dict):
            return self.string({}, path, position)
        schema = described(_resolve(schema, self.schema))
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.choose([v for v in schema["enum"] if v is not None] or [None], path)
        for union in ("anyOf", "oneOf"):
            if union in schema:
                options = [s for s in schema[union] if not (isinstance(s, dict) and s.get("type") == "null")]
                options = options or schema[union]
                base = {k: v for k, v in schema.items() if k != union}
                return self.value({**base, **self.rng(path, union).choice(options)}, path, position)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(described(_resolve(part, self.schema)) if isinstance(part, dict) else {})
            return self.value(merged, path, position)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.object(schema, path, position)
        if kind == "array":
            return self.array(schema, path)
        if kind == "boolean":
            return self.choose([True, False], path)
        if kind == "integer":
            return self.integer(schema, path)
        if kind == "number":
            return self.number(schema, path)
        if kind == "null":
            return None
        return self.string(schema, path, position)

    def object(self, schema: dict, path: tuple, position: tuple[int, int] | None = None) -> dict:
        """Every required property, optional ones usually; `position` (the item's place in the
        nearest enclosing array) reaches its fields, so the n-th plot quotes the n-th part of a passage."""
        required = set(schema.get("required") or [])
        properties = schema.get("properties") or {}
        out = {}
        for name, sub in properties.items():
            if name in required or self.rng(path + (name,), "present").random() < self.standin.optional_rate:
                out[name] = self.value(sub, path + (name,), position)
        self._attribute_quote(out, properties, path)
        return out

    def _attribute_quote(self, out: dict, properties: dict, path: tuple) -> None:
        """{"speaker": ..., "text": <a quote>}: the speaker is the one the quoted line belongs to,
        as a model reading the passage gives it (when the schema lets that name be given)."""
        speakers = [self.quote_speakers[path + (name,)] for name in out if self.quote_speakers.get(path + (name,))]
        if not speakers:
            return
        label = speakers[0]
        for name, value in out.items():
            if name not in NAME_FIELDS or not isinstance(value, str):
                continue
            node = described(_resolve(properties[name], self.schema)) if isinstance(properties[name], dict) else {}
            if "enum" in node:  # the label "KING LEAR" names "King Lear" or "Lear"
                said = label.casefold().split()
                match = [v for v in node["enum"] if isinstance(v, str) and v.split()
                         and (v.casefold().split() == said or v.casefold().split()[0] in said)]
                if match:
                    out[name] = match[0]
            elif "const" not in node:
                out[name] = label.title() if label.isupper() else label

    def array(self, schema: dict, path: tuple) -> list:
        """A natural count within minItems/maxItems (1-4 items when free)."""
        rng = self.rng(path, "count")
        low = schema.get("minItems")
        high = schema.get("maxItems")
        items = schema.get("items")
        flags = isinstance(items, dict) and "enum" in described(_resolve(items, self.schema))
        # A list that may be empty often is. A list of flagged choices ("also_valid": ["B"]) is a
        # verdict whose accepting answer is the empty list: a judge gives it at its accuracy.
        if low == 0 and rng.random() < (self.standin.judge_accuracy if flags else 0.5):
            return []
        low = max(1, low or 0) if high != 0 else 0
        high = low + 3 if high is None else high
        count = rng.randint(low, max(low, min(high, max(low + 3, 4))))
        prefix_items = schema.get("prefixItems") or []
        unique = schema.get("uniqueItems", False)
        if flags:
            # A model lists each character once, asked to or not; a list longer than the choices repeats.
            choices = len(_resolve(items, self.schema)["enum"])
            unique = unique or low <= choices
            count = min(count, choices) if unique else count
        values: list = []
        for slot in range(count):
            sub = prefix_items[slot] if slot < len(prefix_items) else items
            sub = sub if sub is not None else {"type": "string"}
            for attempt in range(8):  # unique items: a duplicate is drawn again, under another path
                item_path = path + (slot,) if attempt == 0 else path + (slot, f"redraw {attempt}")
                value = self.value(sub, item_path, (slot, count))
                if not unique or value not in values:
                    values.append(value)
                    break
        return values

    def integer(self, schema: dict, path: tuple) -> int:
        low = schema.get("minimum", schema["exclusiveMinimum"] + 1 if "exclusiveMinimum" in schema else None)
        high = schema.get("maximum", schema["exclusiveMaximum"] - 1 if "exclusiveMaximum" in schema else None)
        low = math.ceil(low) if low is not None else (math.floor(high) - 9 if high is not None else 1)
        high = math.floor(high) if high is not None else low + 9
        return self.rng(path, "int").randint(low, max(low, high))

    def number(self, schema: dict, path: tuple) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        low = low if low is not None else (high - 1 if high is not None else 0.0)
        high = high if high is not None else low + 1
        value = round(self.rng(path, "number").uniform(low, high), 2)
        if "exclusiveMinimum" in schema and value <= low or "exclusiveMaximum" in schema and value >= high:
            value = round((low + high) / 2, 4)
        return value

    # ---- enums and booleans ----

    def choose(self, choices: list, path: tuple) -> Any:
        """A judge's answer: right at the rate judge_accuracy, when there is a way to tell right."""
        rng = self.rng(path, "judge")
        if len(choices) == 1:
            return choices[0]
        right = self.standin.oracle(self.body, path, list(choices)) if self.standin.oracle else None
        if right is None or right not in choices:
            right = affirmative_choice(choices)
        if right is None and all(isinstance(c, str) and re.fullmatch(r"[A-Z]", c) for c in choices):
            right = best_letter(choices, self.messages.everything)
        if right is None:
            return rng.choice(choices)
        self.counts["judged"] += 1
        if rng.random() < self.standin.judge_accuracy:
            return right
        self.counts["judged_wrong"] += 1
        return rng.choice([c for c in choices if c != right])

    # ---- strings ----

    def string(self, schema: dict, path: tuple, position: tuple[int, int] | None) -> str:
        rng = self.rng(path, "text")
        names = [p for p in path if isinstance(p, str)]
        leaf = names[-1] if names else ""
        description = human_description(schema)
        segments = self._segments(names)
        self.counts["strings"] += 1

        special = self._special_format(schema.get("format"), rng)
        if special is not None:
            return special
        if leaf in NAME_FIELDS or (path and isinstance(path[-1], int) and leaf in NAME_LISTS):
            return rng.choice(self.names[:4] or bank()["bank_name"])  # a character of the request
        if self._is_quote(leaf, names, description, segments):
            quote = self._quote(leaf, position, rng)
            if quote is not None:
                self.counts["quotes"] += 1
                self.quote_speakers[path] = quote[0]
                return quote[1]

        prefix = (pattern_prefix(schema.get("pattern")) or described_literal(description, PREFIX_CUE)
                  or next((p for s in segments if (p := described_literal(s, PREFIX_CUE))), ""))
        suffix = described_literal(description, SUFFIX_CUE) or next(
            (p for s in segments if (p := described_literal(s, SUFFIX_CUE))), "")
        if prefix:
            self.counts["prefixes"] += 1
        target = parse_target(description) or next((t for s in segments if (t := parse_target(s))), None)
        if target is None and self.string_fields == 1:
            target = parse_target(self.messages.last_user) or parse_target(self.messages.system)
        words, sentences, sentence_words = self._draw_length(target, rng, DEFAULT_FIELD_WORDS)
        writer = self.writer(rng, names_in(description))
        if leaf == "question" and not prefix:  # asked for a question, a model writes one
            return _with_suffix(writer.question(min(words, 30)), suffix)
        text = writer.prose(words, sentences, prefix=prefix, suffix=suffix, sentence_words=sentence_words)
        if rng.random() < self.standin.markup_rate:
            self.counts["markup"] += 1
            text = with_markup(text, rng, keep=len(prefix))
        return text

    def free_text(self) -> str:
        rng = self.rng(("text",))
        target = parse_target(self.messages.last_user) or parse_target(self.messages.system)
        words, sentences, sentence_words = self._draw_length(target, rng, DEFAULT_TEXT_WORDS)
        return self.writer(rng).prose(words, sentences, sentence_words=sentence_words)

    def _draw_length(self, target: Target | None, rng: random.Random,
                     default: tuple[int, int]) -> tuple[int, int | None, tuple[int, int]]:
        """(words, sentences or None, words per sentence) for one text, overrun now and then."""
        if target is None:
            words = rng.randint(*default)
            return words, (1 if words <= SENTENCE_WORDS[1] else None), SENTENCE_WORDS
        if target.maximum is not None:
            self.counts["stated_maximum"] += 1
            if rng.random() < self.standin.overrun_rate:
                self.counts["overruns"] += 1
                return max(target.maximum + 1, round(target.maximum * rng.uniform(*OVERRUN))), None, \
                    target.sentence_words
        sentences = rng.randint(*target.sentences) if target.sentences else None
        if target.words is None:  # only a sentence count was stated: each sentence takes a natural length
            words = sum(rng.randint(*target.sentence_words) for _ in range(sentences))
        else:
            words = rng.randint(*target.words)
        if sentences:
            sentences = max(1, min(sentences, words // 4 or 1))
        return words, sentences, target.sentence_words

    def _segments(self, names: list[str]) -> list[str]:
        """What the messages say next to this field's name, or its enclosing fields' names."""
        for name in reversed(names):
            found = [s for text in (self.messages.last_user, self.messages.system)
                     for s in field_segments(text, name)]
            if found:
                return found
        return []

    @staticmethod
    def _is_quote(leaf: str, names: list[str], description: str, segments: list[str]) -> bool:
        if leaf in QUOTE_FIELDS or (leaf == "quotes") or (leaf == "text" and "quotes" in names[:-1]):
            return True
        return asks_for_quote(description) or any(asks_for_quote(s) for s in segments)

    def _quote(self, leaf: str, position: tuple[int, int] | None, rng: random.Random) -> tuple[str, str] | None:
        """(speaker, words) copied from the passage; a reply quotes each line once while lines last."""
        if self._passage is None:  # read once per reply, however many quotes it holds
            self._passage = passage_lines(self.messages.last_user) or passage_lines(self.messages.everything)
        lines = self._passage
        if not lines:
            return None
        if leaf in ("first_line", "last_line"):
            # In the n-th of several items (plots), the lines of the n-th part of the passage.
            index, count = position or (0, 1)
            part = lines[index * len(lines) // count:(index + 1) * len(lines) // count] or lines
            speaker, line = part[0] if leaf == "first_line" else part[-1]
        else:
            speaker, line = rng.choice([entry for entry in lines if entry[1] not in self.quoted] or lines)
            self.quoted.add(line)
            sentences = [s for s in re.split(r"(?<=[.!?…])\s+", line) if count_words(s) >= 4]
            if count_words(line) > 15 and sentences:
                line = rng.choice(sentences)
        if count_words(line) > 15:
            line = _first_words(line, rng.randint(8, 15))
        return speaker, line

    @staticmethod
    def _special_format(fmt: Any, rng: random.Random) -> str | None:
        if fmt == "date":
            return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if fmt == "date-time":
            return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(8, 20):02d}:30:00Z"
        if fmt == "email":
            return f"{rng.choice(['clara', 'jose', 'zoe', 'renee'])}@example.org"
        if fmt in ("uri", "url"):
            return f"https://example.org/{rng.randint(100, 999)}"
        return None


def _enum_values(schema: Any) -> list:
    """Every enum value anywhere in the schema (names offered to choose from are characters)."""
    if isinstance(schema, dict):
        found = list(schema.get("enum") or []) if isinstance(schema.get("enum"), list) else []
        for value in schema.values():
            found += _enum_values(value)
        return found
    if isinstance(schema, list):
        return [v for item in schema for v in _enum_values(item)]
    return []


# ---------------------------------------------------------------------------------------------
# The responder
# ---------------------------------------------------------------------------------------------


class StrongStandIn:
    """A scripted-server responder that answers like a strong hosted model (see the module docstring).

    overrun_rate    share of string fields with a stated maximum length written 20-60% longer than it
    judge_accuracy  how often an enum/boolean answer is the right one, when right can be told
    oracle          (body, path, choices) -> the right choice, or None to fall back to the defaults;
                    asked for every enum/boolean value (path: property names and item indices)
    optional_rate   how often an optional (not required) property is present
    markup_rate     share of prose fields holding what a real model writes now and then and a published
                    format may not hold: a straight-quoted word, a parenthetical aside, or a line break
    """

    def __init__(self, *, overrun_rate: float = 0.1, judge_accuracy: float = 0.9, oracle: Oracle | None = None,
                 optional_rate: float = 0.85, markup_rate: float = 0.05):
        self.overrun_rate = overrun_rate
        self.markup_rate = markup_rate
        self.judge_accuracy = judge_accuracy
        self.oracle = oracle
        self.optional_rate = optional_rate
        self.stats: Counter = Counter()
        self._lock = threading.Lock()  # the servers call responders from many handler threads
        self._seen: Counter = Counter()  # seedless bodies answered so far (their next sample)

    def reply_for(self, body: dict) -> Any:
        """The reply to one request body: the JSON instance for a schema, else a string."""
        schema = request_schema(body)
        occurrence = 0
        if "seed" not in body:
            with self._lock:
                digest = body_digest(body)
                occurrence = self._seen[digest]
                self._seen[digest] += 1
        reply = Reply(self, body, schema, occurrence)
        value = reply.value(schema) if schema is not None else reply.free_text()
        with self._lock:
            self.stats["requests"] += 1
            self.stats["structured" if schema is not None else "free_text"] += 1
            self.stats.update(reply.counts)
        return value

    def __call__(self, request: RecordedRequest) -> Action:
        body = request.json if isinstance(request.json, dict) else {}
        value = self.reply_for(body)
        messages = read_messages(body)
        schema = request_schema(body)
        prompt_chars = len(messages.everything) + (len(json.dumps(schema, ensure_ascii=False)) if schema else 0)
        if isinstance(value, str):
            return reply_text(value, usage=(_tokens(prompt_chars), _tokens(len(value))))
        return reply_json(value, usage=(_tokens(prompt_chars), _tokens(len(json.dumps(value, ensure_ascii=False)))))


def _tokens(characters: int) -> int:
    return max(1, round(characters / 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.standin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(SERVERS), default="openai")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--overrun-rate", type=float, default=0.1)
    parser.add_argument("--judge-accuracy", type=float, default=0.9)
    args = parser.parse_args(argv)
    standin = StrongStandIn(overrun_rate=args.overrun_rate, judge_accuracy=args.judge_accuracy)
    with SERVERS[args.protocol](responder=standin, latency=args.latency, port=args.port, record=False) as server:
        print(f"PORT {server.port}", flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin (or exits)
        print(f"SERVED {server.served} MAX_IN_FLIGHT {server.max_in_flight} "
              f"OVERRUNS {standin.stats['overruns']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
