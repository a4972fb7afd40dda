"""Character profiles: one per character per work, written by the LLM from the character's own lines.

- The prompt (prompts/personaeval/profile.j2) shows an evenly spaced sample of the character's
  lines, never a turn shown in any item of the work, and asks for background, personality,
  relationships, manner of speech and arc (reply schema: prompts/personaeval/profile.schema.json).
- A reply is accepted when the joined profile has at least MIN_WORDS words (longer ones are cut at a
  sentence end to MAX_WORDS) and shares no 8-word sequence with any evaluation turn of the work.
  Otherwise the next sample index is asked, up to `attempts`; when only the overlap is left after
  the last attempt, the overlapping words are masked with "[…]".
- Profiles are asked once per character (shared asyncio tasks) and come back from the response
  cache on a rebuild.
- `match_lengths` cuts the profiles of one item so that the longest is at most 1.25 times the
  shortest: length must not cue the answer (spec section 6, step 5).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from builders.llm import ChatRequest, RequestFailed
from builders.personaeval.instances import display_text, trim_words, word_count
from builders.prompts import render, template_hash
from builders.resources import PROMPTS, file_sha256
from builders.sources import Work
from builders.sources.aliases import name_key

TEMPLATE = "personaeval/profile.j2"
SCHEMA_FILE = PROMPTS / "personaeval" / "profile.schema.json"
PARTS = ("background", "personality", "relationships", "speech", "arc")
MIN_WORDS, MAX_WORDS = 150, 400
TARGET_WORDS = 220
LENGTH_RATIO = 1.25
NGRAM = 8
MAX_LINES = 8  # lines shown to the model (a short prompt: small local models are slow)
MIN_LINES = 3  # a profile needs at least this many lines outside the items
LINE_WORDS = 30
MAX_PLACES = 8
MASK = "[…]"

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1)
def reply_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def prompt_hash() -> str:
    """Template and reply schema together: either changing changes the profiles."""
    return hashlib.sha256(f"{template_hash(TEMPLATE)}:{file_sha256(SCHEMA_FILE)}".encode()).hexdigest()


@dataclass(frozen=True)
class Profile:
    char_id: str
    text: str
    sample: int  # the sample index whose reply was accepted
    masked_words: int  # words replaced by MASK for 8-gram overlap
    provenance: dict  # the accepted reply's provenance (model, request hash, prompt hash, ...)

    @property
    def words(self) -> int:
        return word_count(self.text)


@dataclass(frozen=True)
class ProfileOutcome:
    char_id: str
    profile: Profile | None
    rejected: tuple[str, ...] = ()  # one reason per rejected sample
    failure: str | None = None  # why there is no profile


@dataclass
class WorkEvidence:
    """What profiles of one work must stay away from: the turns shown in its items."""

    work: Work
    evaluation_turns: set[str]  # turn ids shown in any item of the work
    ngrams: set[tuple[str, ...]] = field(default_factory=set)

    @classmethod
    def of(cls, work: Work, evaluation_turns: set[str]) -> WorkEvidence:
        grams: set[tuple[str, ...]] = set()
        for turn in work.turns:
            if turn.id in evaluation_turns:
                grams.update(ngrams(tokens(turn.repaired_text or turn.text)))
        return cls(work, set(evaluation_turns), grams)


def tokens(text: str) -> list[str]:
    return [match.group(0).lower().replace("’", "'") for match in _TOKEN.finditer(text)]


def ngrams(words: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def profile_lines(evidence: WorkEvidence, char_id: str) -> list[str]:
    """An evenly spaced sample of the character's lines outside every item, in text order."""
    work = evidence.work
    own = [turn for turn in work.speaker_lines(char_id) if turn.id not in evidence.evaluation_turns]
    if len(own) > MAX_LINES:
        step = len(own) / MAX_LINES
        own = [own[int(i * step)] for i in range(MAX_LINES)]
    return [trim_words(display_text(work, turn), LINE_WORDS) for turn in own]


def render_prompt(evidence: WorkEvidence, char_id: str, lines: list[str]) -> str:
    work = evidence.work
    character = work.characters[char_id]
    other_names = [alias for alias in character.aliases if name_key(alias) != name_key(character.name)]
    other_names = list(dict.fromkeys(alias.title() if alias.isupper() else alias for alias in other_names))
    sections = {turn.section for turn in work.speaker_lines(char_id)}
    places = [section.title for section in work.sections if section.id in sections and work.kind != "novel"]
    return render(TEMPLATE, work=work, character=character, other_names=other_names, lines=lines,
                  places=places[:MAX_PLACES], target_words=TARGET_WORDS)


def accept(data: dict, evidence: WorkEvidence, *, last_attempt: bool) -> tuple[str | None, int, str | None]:
    """(profile text, masked words, rejection reason) for one reply."""
    text = " ".join(" ".join(str(data[part]).split()) for part in PARTS)
    if word_count(text) < MIN_WORDS:
        return None, 0, f"shorter than {MIN_WORDS} words ({word_count(text)})"
    text = cut_at_sentence(text, MAX_WORDS)
    overlap = ngrams(tokens(text)) & evidence.ngrams
    if overlap and not last_attempt:
        return None, 0, f"quotes an evaluation turn ({len(overlap)} shared {NGRAM}-grams)"
    if overlap:
        text, masked = mask_overlap(text, evidence.ngrams)
        return text, masked, None
    return text, 0, None


def mask_overlap(text: str, forbidden: set[tuple[str, ...]], n: int = NGRAM) -> tuple[str, int]:
    """Replace every word inside a forbidden n-gram by MASK (runs of masked words become one MASK)."""
    matches = list(_TOKEN.finditer(text))
    words = [m.group(0).lower().replace("’", "'") for m in matches]
    masked = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) in forbidden:
            masked[i:i + n] = [True] * n
    pieces, cursor, index = [], 0, 0
    while index < len(matches):
        if not masked[index]:
            index += 1
            continue
        start = index
        while index < len(matches) and masked[index]:
            index += 1
        pieces.append(text[cursor:matches[start].start()] + MASK)
        cursor = matches[index - 1].end()
    pieces.append(text[cursor:])
    return "".join(pieces), sum(masked)


def cut_at_sentence(text: str, max_words: int) -> str:
    """At most `max_words` words: whole sentences when they fit, else the first words and "…"."""
    if word_count(text) <= max_words:
        return text
    kept, total = [], 0
    for sentence in _SENTENCE_END.split(text):
        if total + word_count(sentence) > max_words:
            break
        kept.append(sentence)
        total += word_count(sentence)
    return " ".join(kept) if kept else " ".join(text.split()[:max_words]) + " …"


def match_lengths(texts: list[str], ratio: float = LENGTH_RATIO) -> list[str]:
    """Cut longer profiles so the longest has at most `ratio` times the words of the shortest.

    A profile is cut at a sentence end when that keeps it at least as long as the shortest; else
    at the word limit with "…". The shortest profile is never touched.
    """
    shortest = min(word_count(text) for text in texts)
    limit = int(shortest * ratio)
    matched = []
    for text in texts:
        if word_count(text) <= limit:
            matched.append(text)
            continue
        cut = cut_at_sentence(text, limit)
        if word_count(cut) < shortest or cut.endswith(" …"):
            cut = " ".join(text.split()[:limit - 1]) + " …"
        matched.append(cut)
    return matched


class ProfileWriter:
    """Writes (or fetches from cache) each character's profile once and shares it across items."""

    def __init__(self, llm, *, attempts: int = 3, temperature: float = 0.7, max_tokens: int = 700):
        self._llm = llm
        self._attempts = attempts
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._tasks: dict[tuple[str, str], asyncio.Task] = {}

    def get(self, evidence: WorkEvidence, char_id: str) -> asyncio.Task:
        key = (evidence.work.id, char_id)
        if key not in self._tasks:
            self._tasks[key] = asyncio.ensure_future(self._write(evidence, char_id))
        return self._tasks[key]

    async def close(self) -> None:
        """Cancel profiles still being written when the build has enough records (paid replies stay cached)."""
        pending = [task for task in self._tasks.values() if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _write(self, evidence: WorkEvidence, char_id: str) -> ProfileOutcome:
        lines = profile_lines(evidence, char_id)
        if len(lines) < MIN_LINES:
            return ProfileOutcome(char_id, None, failure="too few lines outside the items")
        prompt = render_prompt(evidence, char_id, lines)
        rejected = []
        for sample in range(self._attempts):
            request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=reply_schema(),
                                  temperature=self._temperature, max_tokens=self._max_tokens, sample=sample,
                                  step="personaeval.profile", prompt_hash=prompt_hash())
            try:
                reply = await self._llm.chat(request)
            except RequestFailed as error:
                rejected.append(f"request failed: {error}")
                continue
            text, masked, reason = accept(reply.data, evidence, last_attempt=sample == self._attempts - 1)
            if text is None:
                rejected.append(reason)
                continue
            return ProfileOutcome(char_id, Profile(char_id, text, sample, masked, dict(reply.provenance)),
                                  tuple(rejected))
        return ProfileOutcome(char_id, None, tuple(rejected), failure="no acceptable profile")
