"""Instances: two adjacent turns by different speakers; the first speaker is named, the second hidden.

Extraction is a pure function of the work and the options (spec section 6, step 2):
- turn t and t+1 are adjacent in the work, in the same scene or chapter, by different speakers
  who are both named characters with enough lines (`eligible_speakers`);
- both turns have at least `min_words` words; in novels at most `max_gap` characters of narration
  lie between them;
- optional context: up to `context_turns` earlier turns of the same two-person exchange;
- at most `per_section` instances per scene or chapter, and no turn is the target of two items;
  within a scene the pick goes to the hidden speaker with the fewest picks so far;
- golds balanced (`balance_golds`): no character is the hidden speaker of more than `max_share` of
  a work's instances, and the instances take turns between hidden speakers, so a build that stops
  early is as balanced as the work allows. A novel's narrator or hero otherwise holds most golds.

Main characters (`main_characters`): the source's "major" characters (PDNC), else the
MAIN_SPEAKERS characters with the most lines; they are always eligible and a failed profile of
theirs gets more samples and is named in the build report (profiles.py).

Every pair that fails a rule is counted under the rule's name, so the funnel explains the yield.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass, field

from builders.sources import Turn, Work

NON_PERSON_CATEGORIES = frozenset({"generic", "collective", "joint"})  # "First Servant", "All", "A & B"
GROUP_CATEGORIES = frozenset({"collective", "joint"})  # never a named Character1 either
MIN_LINES = 5  # a character needs this many turns in the work to get a grounded profile (spec step 4)
MIN_WORDS = 8
MAX_WORDS = 120
MAX_NARRATION_GAP = 1500  # characters between two quotes of a novel (spec step 2)
SAME_SCENE_WINDOW = 10  # turns either side that count as "present in the scene"
# A gold may hold at most this share of its work's instances (unless the work has fewer than
# 1/MAX_GOLD_SHARE hidden speakers): measured before this cap, one character was the gold of 42-55%
# of a novel's items (Elizabeth, Emma, Anne Shirley), 8 of 12 in The Sign of the Four (Holmes).
MAX_GOLD_SHARE = 0.25
MAIN_CATEGORY = "major"  # PDNC's Category for a novel's main characters
MAIN_SPEAKERS = 3  # without such a category (plays, scripts): the characters with the most lines

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'’”)\]]*\s+")


@dataclass(frozen=True)
class Instance:
    work_id: str
    index: int  # position of turn t in work.turns
    first: Turn  # turn t: Character1, named
    second: Turn  # turn t+1: Character2, hidden (the gold speaker)
    context: tuple[Turn, ...] = ()  # earlier turns of the same exchange, oldest first

    @property
    def section(self) -> str:
        return self.first.section or ""

    @property
    def character1(self) -> str:
        return self.first.speaker

    @property
    def gold(self) -> str:
        return self.second.speaker

    @property
    def shown_turns(self) -> tuple[Turn, ...]:
        return (*self.context, self.first, self.second)


@dataclass
class Extraction:
    instances: list[Instance]
    drops: Counter = field(default_factory=Counter)  # rule -> pairs dropped by it
    pairs: int = 0  # adjacent turn pairs looked at


def eligible_speakers(work: Work, *, min_lines: int = MIN_LINES, max_characters: int | None = None) -> list[str]:
    """Characters who can be the gold or a distractor: named persons with at least `min_lines` turns.

    With `max_characters`, only the characters with the most lines (ties by id), and any main
    ("major") character beyond them: this bounds the number of profiles a work needs. Returned in
    descending order of lines.
    """
    lines = Counter(turn.speaker for turn in work.turns if turn.speaker is not None)
    named = [
        char_id for char_id, character in work.characters.items()
        if character.category not in NON_PERSON_CATEGORIES and lines[char_id] >= min_lines
    ]
    ranked = sorted(named, key=lambda char_id: (-lines[char_id], char_id))
    if not max_characters:
        return ranked
    # a main character outside the most-speaking few is still a candidate: main characters must be present
    return [c for c in ranked if c in ranked[:max_characters] or work.characters[c].category == MAIN_CATEGORY]


def main_characters(work: Work, eligible: list[str]) -> frozenset[str]:
    """The eligible characters a reader would miss: PDNC's major ones, else the most-speaking few
    (`eligible` comes in descending order of lines)."""
    major = frozenset(c for c in eligible if work.characters[c].category == MAIN_CATEGORY)
    return major or frozenset(eligible[:MAIN_SPEAKERS])


def word_count(text: str) -> int:
    return len(text.split())


def candidate_pairs(work: Work, eligible: set[str], *, min_words: int = MIN_WORDS, context_turns: int = 0,
                    max_gap: int = MAX_NARRATION_GAP) -> Extraction:
    """Every adjacent pair that passes the structural rules, with its context attached."""
    result = Extraction(instances=[])
    turns = work.turns
    for index in range(len(turns) - 1):
        first, second = turns[index], turns[index + 1]
        result.pairs += 1
        reason = _pair_problem(work, first, second, eligible, min_words, max_gap)
        if reason:
            result.drops[reason] += 1
            continue
        context = _context(work, index, context_turns, max_gap)
        result.instances.append(Instance(work.id, index, first, second, context))
    return result


def _pair_problem(work: Work, first: Turn, second: Turn, eligible: set[str], min_words: int,
                  max_gap: int) -> str | None:
    if first.speaker is None or second.speaker is None:
        return "speaker not annotated"
    if first.speaker == second.speaker:
        return "same speaker"
    if first.section != second.section:
        return "scene or chapter break"
    if work.kind == "novel" and second.span[0] - first.span[1] > max_gap:
        return "narration gap too long"
    if second.speaker not in eligible:
        return "Character2 not an eligible character"
    if work.characters[first.speaker].category in GROUP_CATEGORIES:
        return "Character1 is a group"
    if word_count(first.text) < min_words or word_count(second.text) < min_words:
        return "turn under min words"
    return None


def _context(work: Work, index: int, context_turns: int, max_gap: int) -> tuple[Turn, ...]:
    """Up to `context_turns` turns before turn t, stopping at anything that is not the same exchange.

    Only the two speakers of the pair may appear: a third named speaker in the context would tell
    the model that this person is not Character2.
    """
    first = work.turns[index]
    pair = {first.speaker, work.turns[index + 1].speaker}
    context: list[Turn] = []
    later = first
    for earlier in reversed(work.turns[max(0, index - context_turns):index]):
        if earlier.speaker not in pair or earlier.section != first.section:
            break
        if work.kind == "novel" and later.span[0] - earlier.span[1] > max_gap:
            break
        context.append(earlier)
        later = earlier
    return tuple(reversed(context))


def select_per_section(instances: list[Instance], *, per_section: int, seed: int) -> tuple[list[Instance], Counter]:
    """At most `per_section` instances per scene, never reusing a target turn; spread over scenes and golds.

    Within a scene the candidates are in a seeded shuffle, so picks are not biased to scene
    openings, and each pick goes to the candidate whose hidden speaker has the fewest picks so far
    in the work: a character who speaks in every chapter does not take every chapter's pick. The
    result lists every scene's first pick before any scene's second pick, so a build that stops
    early still has about one item per scene.
    """
    drops: Counter = Counter()
    by_section: dict[str, list[Instance]] = {}
    for instance in instances:
        by_section.setdefault(instance.section, []).append(instance)
    queues = []
    for section, members in by_section.items():
        members = list(members)
        random.Random(f"personaeval-select:{seed}:{members[0].work_id}:{section}").shuffle(members)
        queues.append(members)
    picks_per_gold: Counter = Counter()
    picks_per_scene = [0] * len(queues)
    used: set[str] = set()
    rounds: list[list[Instance]] = []
    for _ in range(per_section):
        picked = []
        for scene, members in enumerate(queues):
            open_ = [i for i in members if i.first.id not in used and i.second.id not in used]
            if not open_:
                continue
            choice = min(open_, key=lambda i: picks_per_gold[i.gold])  # min keeps the shuffled order on ties
            members.remove(choice)
            used.update((choice.first.id, choice.second.id))
            picks_per_gold[choice.gold] += 1
            picks_per_scene[scene] += 1
            picked.append(choice)
        rounds.append(picked)
    for members, picked in zip(queues, picks_per_scene):
        drops["per-scene cap" if picked == per_section else "turn already used"] += len(members)
    return [instance for round_ in rounds for instance in round_], +drops


def gold_cap(per_gold: Counter, max_share: float) -> int:
    """Instances one gold may keep: the largest c with c <= share * (instances kept under c).

    The share is at least 1/(number of golds): a work with two speakers keeps both evenly."""
    share = max(max_share, 1 / len(per_gold))
    cap = max(per_gold.values())
    while cap > 1 and cap > share * sum(min(k, cap) for k in per_gold.values()) + 1e-9:
        cap -= 1
    return cap


def balance_golds(instances: list[Instance], *, max_share: float = MAX_GOLD_SHARE) -> tuple[list[Instance], int]:
    """Cap every gold at `max_share` of the work's instances and let the golds take turns.

    Each gold keeps its first instances in the given order (every scene's first pick before any
    second); then the order is a round robin over golds, the gold with most instances first. Returns
    the instances in that order and how many were dropped by the cap. `max_share` >= 1: no cap.
    """
    if not instances:
        return [], 0
    per_gold: dict[str, list[Instance]] = {}
    for instance in instances:
        per_gold.setdefault(instance.gold, []).append(instance)
    cap = len(instances) if max_share >= 1 else gold_cap(Counter({g: len(v) for g, v in per_gold.items()}), max_share)
    queues = sorted((members[:cap] for members in per_gold.values()), key=lambda members: -len(members))
    ordered = [instance for turn in itertools.zip_longest(*queues) for instance in turn if instance is not None]
    return ordered, len(instances) - len(ordered)


# Text shown in a prompt


def display_text(work: Work, turn: Turn) -> str:
    """A turn as the prompt shows it: verse lines joined by " / ", prose on one line."""
    text = turn.repaired_text or turn.text
    if work.kind == "play":
        return " / ".join(" ".join(line.split()) for line in text.split("\n") if line.strip())
    return " ".join(text.split())


def trim_words(text: str, max_words: int = MAX_WORDS, *, keep: str = "start") -> str:
    """At most `max_words` words, cut at sentence ends; keep the "start" or the "end" of the turn.

    Character2's reply keeps its opening and Character1's line keeps its ending, the parts that
    touch the exchange. A single sentence longer than the limit is cut mid-sentence with "…".
    """
    if word_count(text) <= max_words:
        return text
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    ordered = sentences if keep == "start" else list(reversed(sentences))
    chosen: list[str] = []
    total = 0
    for sentence in ordered:
        if total + word_count(sentence) > max_words:
            break
        chosen.append(sentence)
        total += word_count(sentence)
    if chosen:
        return " ".join(chosen if keep == "start" else reversed(chosen))
    words = text.split()
    return " ".join(words[:max_words]) + " …" if keep == "start" else "… " + " ".join(words[-max_words:])
