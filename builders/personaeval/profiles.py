"""Character profiles: one per character per work, written by the LLM from the character's own lines.

- The prompt (prompts/personaeval/profile.j2) shows an evenly spaced sample of the character's
  lines, never a turn shown in any item of the work, and asks for background, personality,
  relationships, manner of speech and arc.
- How much is shown and how the reply is held come from the model's profile
  (builders/llm/profiles.yaml, `limits.personaeval`; `ProfileContract`): the embedded model (strict
  contract) sees a few short lines and answers under prompts/personaeval/profile.schema.json, whose
  tight plain-text patterns its grammar needs; a capable model (natural contract) sees many more
  lines and answers under profile.natural.schema.json: five keys of any Unicode prose, each
  property's description stating its length target.
- A reply is accepted when the joined profile has at least MIN_WORDS words and shares no 8-word
  sequence with any evaluation turn of the work. Otherwise the next sample index is asked (a
  re-ask, `ChatRequest.reask`), up to `attempts`. What the published profile cannot hold is
  normalised, never re-asked, and listed in `Profile.normalised` (provenance): line breaks joined,
  a profile over MAX_WORDS cut at a sentence end, and, when only the overlap is left after the
  last attempt, the overlapping words masked with "[…]".
- A main character (instances.main_characters) gets MAIN_EXTRA_SAMPLES more samples (re-asks)
  before its profile is given up: a character a reader would miss must not vanish from the items
  because a few replies failed. One that still has none is named in the build report's notes, with
  why (`missing_main_note`).
- Profiles are asked once per character (shared asyncio tasks) and come back from the response
  cache on a rebuild.
- `match_lengths` cuts the profiles of one item so that the longest is at most 1.25 times the
  shortest: length must not cue the answer (spec section 6, step 5).

The benchmark's own figures (150-400 words, the 1.25 ratio) come from data/original.json, where
the builder's figures (figures.py) read them too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from builders.cli import UserError
from builders.figures import load_original
from builders.llm import ChatRequest, RequestFailed
from builders.personaeval.instances import display_text, trim_words, word_count
from builders.prompts import render, template_hash
from builders.resources import PROMPTS, file_sha256
from builders.sources import Work
from builders.sources.aliases import name_key

TEMPLATE = "personaeval/profile.j2"
SCHEMA_FILES = {  # reply schema per contract (builders/llm/profiles.py: ModelProfile.contract)
    "strict": PROMPTS / "personaeval" / "profile.schema.json",
    "natural": PROMPTS / "personaeval" / "profile.natural.schema.json",
}
PARTS = ("background", "personality", "relationships", "speech", "arc")
_ORIGINAL = load_original(Path(__file__).parent)
MIN_WORDS, MAX_WORDS = _ORIGINAL["profile_words"]["range"]  # the spec's profile length (step 5)
LENGTH_RATIO = _ORIGINAL["profile_length_ratio"]["max"]  # longest / shortest profile within an item
# Asked for: well inside MIN_WORDS-MAX_WORDS, so cutting an item's profiles to a common length
# rarely leaves one short. The natural contract states it per part too, in each property's
# description in profile.natural.schema.json ("About 45 words"): PART_WORDS must match it.
TARGET_WORDS = 220
PART_WORDS = 45
NGRAM = 8
MIN_LINES = 3  # a profile needs at least this many lines outside the items
MASK = "[…]"
MAIN_EXTRA_SAMPLES = 3  # more samples for a main character's profile than --profile-attempts gives others

# The longest profile prompt, for the context check: the template, a header (title, names,
# gender, role), every shown line at its word limit and every place heading. Generous averages.
HEADER_CHARS = 600
CHARS_PER_WORD = 8  # a word and its space
PLACE_CHARS = 80

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=2)
def reply_schema(contract: str) -> dict:
    return json.loads(SCHEMA_FILES[contract].read_text(encoding="utf-8"))


@lru_cache(maxsize=2)
def prompt_hash(contract: str) -> str:
    """Template and reply schema together: either changing changes the profiles."""
    return hashlib.sha256(f"{template_hash(TEMPLATE)}:{file_sha256(SCHEMA_FILES[contract])}".encode()).hexdigest()


@dataclass(frozen=True)
class ProfileContract:
    """How profiles are asked of one model: its contract and its `personaeval` limits
    (builders/llm/profiles.yaml). A small model gets a short prompt (it is slow and its context is
    small) and a tight schema; a capable one sees more of the character and writes freely."""

    contract: str  # "strict" | "natural"
    max_lines: int  # personaeval.profile_lines: the character's lines shown in the prompt
    line_words: int  # personaeval.profile_line_words: each shown line cut to this many words
    max_places: int  # personaeval.profile_places: scene headings listed
    max_tokens: int  # personaeval.profile_max_tokens: the reply's bound against runaway output

    @classmethod
    def of(cls, model_profile) -> ProfileContract:
        contract = cls(contract=model_profile.contract,
                       max_lines=model_profile.limit("personaeval.profile_lines"),
                       line_words=model_profile.limit("personaeval.profile_line_words"),
                       max_places=model_profile.limit("personaeval.profile_places"),
                       max_tokens=model_profile.limit("personaeval.profile_max_tokens"))
        contract.check_fits(model_profile)
        return contract

    def check_fits(self, model_profile) -> None:
        """Refuse limits whose longest prompt and reply overflow the model's context, before any request."""
        longest = (len((PROMPTS / TEMPLATE).read_text(encoding="utf-8")) + HEADER_CHARS
                   + self.max_lines * self.line_words * CHARS_PER_WORD + self.max_places * PLACE_CHARS)
        room = model_profile.chars_for_tokens(model_profile.context_tokens - self.max_tokens)
        if longest > room:
            raise UserError(
                f"model profile {model_profile.name!r}: a PersonaEval profile prompt of up to {self.max_lines} lines "
                f"of {self.line_words} words (about {longest} characters) and a {self.max_tokens}-token reply do not "
                f"fit its {model_profile.context_tokens}-token context; lower personaeval.profile_lines or "
                "personaeval.profile_line_words in the profile (--model-profile FILE.yaml)")

    @property
    def natural(self) -> bool:
        return self.contract == "natural"

    def schema(self) -> dict:
        return reply_schema(self.contract)

    def prompt_hash(self) -> str:
        return prompt_hash(self.contract)


@dataclass(frozen=True)
class Profile:
    char_id: str
    text: str
    sample: int  # the sample index whose reply was accepted
    masked_words: int  # words replaced by MASK for 8-gram overlap
    provenance: dict  # the accepted reply's provenance (model, request hash, prompt hash, ...)
    normalised: tuple[str, ...] = ()  # what the program changed in the reply's text, one line each

    @property
    def words(self) -> int:
        return word_count(self.text)


@dataclass(frozen=True)
class ProfileOutcome:
    char_id: str
    profile: Profile | None
    rejected: tuple[str, ...] = ()  # one reason per rejected sample
    failure: str | None = None  # why there is no profile
    main: bool = False  # a main character of its work (asked with MAIN_EXTRA_SAMPLES more samples)


def refusal_summary(rejected: tuple[str, ...]) -> str:
    """Each refused sample's kind of reason, counted: "request failed ×4, shorter than 150 words ×2"."""
    kinds: dict[str, int] = {}
    for reason in rejected:
        kind = re.sub(r" \(.*\)$", "", reason.split(":", 1)[0])
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{kind} ×{count}" for kind, count in kinds.items())


def missing_main_note(track: str, work: Work, outcome: ProfileOutcome) -> str:
    """The build report's note for a main character left without a profile: who, where and why."""
    samples = f" after {len(outcome.rejected)} samples ({refusal_summary(outcome.rejected)})" if outcome.rejected else ""
    return (f"{track}: main character {work.characters[outcome.char_id].name} of {work.title} has no profile, so "
            f"no item shows them: {outcome.failure}{samples}; rejects.jsonl gives each reason")


@dataclass
class WorkEvidence:
    """What profiles of one work must stay away from: the turns shown in its items."""

    work: Work
    evaluation_turns: set[str]  # turn ids shown in any item of the work
    ngrams: set[tuple[str, ...]] = field(default_factory=set)
    main: frozenset[str] = frozenset()  # the work's main characters (instances.main_characters)

    @classmethod
    def of(cls, work: Work, evaluation_turns: set[str], main: frozenset[str] = frozenset()) -> WorkEvidence:
        grams: set[tuple[str, ...]] = set()
        for turn in work.turns:
            if turn.id in evaluation_turns:
                grams.update(ngrams(tokens(turn.repaired_text or turn.text)))
        return cls(work, set(evaluation_turns), grams, frozenset(main))


def tokens(text: str) -> list[str]:
    return [match.group(0).lower().replace("’", "'") for match in _TOKEN.finditer(text)]


def ngrams(words: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def profile_lines(evidence: WorkEvidence, char_id: str, *, max_lines: int, line_words: int) -> list[str]:
    """An evenly spaced sample of the character's lines outside every item, in text order."""
    work = evidence.work
    own = [turn for turn in work.speaker_lines(char_id) if turn.id not in evidence.evaluation_turns]
    if len(own) > max_lines:
        step = len(own) / max_lines
        own = [own[int(i * step)] for i in range(max_lines)]
    return [trim_words(display_text(work, turn), line_words) for turn in own]


def render_prompt(evidence: WorkEvidence, char_id: str, lines: list[str], contract: ProfileContract) -> str:
    work = evidence.work
    character = work.characters[char_id]
    other_names = [alias for alias in character.aliases if name_key(alias) != name_key(character.name)]
    other_names = list(dict.fromkeys(alias.title() if alias.isupper() else alias for alias in other_names))
    sections = {turn.section for turn in work.speaker_lines(char_id)}
    places = [section.title for section in work.sections if section.id in sections and work.kind != "novel"]
    return render(TEMPLATE, work=work, character=character, other_names=other_names, lines=lines,
                  places=places[:contract.max_places], target_words=TARGET_WORDS, natural=contract.natural,
                  part_words=PART_WORDS)


@dataclass(frozen=True)
class Verdict:
    """One reply judged: the profile text, or the reason to ask again."""

    text: str | None
    masked: int = 0  # words masked for overlap with an evaluation turn
    reason: str | None = None  # why the reply was refused (text is None)
    normalised: tuple[str, ...] = ()  # what was changed to publish it


def accept(data: dict, evidence: WorkEvidence, *, last_attempt: bool) -> Verdict:
    """Refuse a reply that is too short, or quotes an evaluation turn before the last attempt;
    normalise the rest (one paragraph, at most MAX_WORDS, overlap masked on the last attempt)."""
    normalised = []
    if any(len(str(data[part]).splitlines()) > 1 for part in PARTS):
        normalised.append("line breaks joined into one paragraph")
    text = " ".join(" ".join(str(data[part]).split()) for part in PARTS)
    written = word_count(text)
    if written < MIN_WORDS:
        return Verdict(None, reason=f"shorter than {MIN_WORDS} words ({written})")
    text = cut_at_sentence(text, MAX_WORDS)
    if word_count(text) < written:
        normalised.append(f"cut from {written} to {word_count(text)} words (at most {MAX_WORDS})")
    overlap = ngrams(tokens(text)) & evidence.ngrams
    if overlap and not last_attempt:
        return Verdict(None, reason=f"quotes an evaluation turn ({len(overlap)} shared {NGRAM}-grams)")
    if overlap:
        text, masked = mask_overlap(text, evidence.ngrams)
        normalised.append(f"{masked} words shared with a shown turn masked")
        return Verdict(text, masked, normalised=tuple(normalised))
    return Verdict(text, normalised=tuple(normalised))


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

    def __init__(self, llm, *, attempts: int = 3, temperature: float = 0.7):
        self._llm = llm
        self.contract = ProfileContract.of(llm.profile)
        self._attempts = attempts
        self.temperature = temperature
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
        contract = self.contract
        main = char_id in evidence.main
        lines = profile_lines(evidence, char_id, max_lines=contract.max_lines, line_words=contract.line_words)
        if len(lines) < MIN_LINES:
            return ProfileOutcome(char_id, None, failure="too few lines outside the items", main=main)
        prompt = render_prompt(evidence, char_id, lines, contract)
        rejected = []
        attempts = self._attempts + (MAIN_EXTRA_SAMPLES if main else 0)
        for sample in range(attempts):
            # sample k > 0 is asked only because sample k-1 was refused: a re-ask, counted as one
            request = ChatRequest(messages=[{"role": "user", "content": prompt}], schema=contract.schema(),
                                  temperature=self.temperature, max_tokens=contract.max_tokens, sample=sample,
                                  step="personaeval.profile", prompt_hash=contract.prompt_hash(), reask=sample > 0)
            try:
                reply = await self._llm.chat(request)
            except RequestFailed as error:
                rejected.append(f"request failed: {error}")
                continue
            verdict = accept(reply.data, evidence, last_attempt=sample == attempts - 1)
            if verdict.text is None:
                rejected.append(verdict.reason)
                continue
            profile = Profile(char_id, verdict.text, sample, verdict.masked, dict(reply.provenance), verdict.normalised)
            return ProfileOutcome(char_id, profile, tuple(rejected), main=main)
        return ProfileOutcome(char_id, None, tuple(rejected), failure="no acceptable profile", main=main)
