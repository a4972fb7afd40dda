"""Question candidates: one per generated message, with the thought as the gold answer (spec §4 Step 4).

- Gold: the thought written right before the utterance, rewritten in third person (rewrite.py).
- Distractors: three of the same speaker's other distinct thoughts in the same conversation (the
  spec's rule), rewritten by the same procedure so no option stands out by its form. Near-duplicates
  of the gold (token Jaccard >= 0.8) are not eligible.
- Which three: the question quotes the utterance the gold thought led to, so the gold tends to share
  words with the question that other thoughts do not (in the original FB file, picking the option
  sharing most words with the question scores 0.42 against chance 0.25). Among the eligible thoughts,
  those sharing about as many words with the question as the gold does are preferred (at an equal
  gap, one sharing more before one sharing fewer), in a seeded random order otherwise. Nothing else
  is matched: a random draw keeps every other property of the gold (its length, its wording) as
  likely in a distractor, where matching it would make the gold the typical option.
  builders/audit.py measures the result on every release.
- An agent with fewer than 4 distinct thoughts yields no questions (diversity filter).
- Question text: one of the two surface forms of §4.3, picked by a seeded coin per item.
The options' order here is provisional (records.py); the released positions are dealt over the
whole release from the owner's private salt (answer_key.py, builders/answer_key.py).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from builders.audit import STOPWORDS, WORD
from builders.tomato.conversation import Conversation
from builders.tomato.personas import Agent
from builders.tomato.rewrite import Person, third_person
from builders.tomato.seeds import DATA_DIR
from builders.tomato.textutil import token_jaccard
from builders.tomato.vocab import agree

MIN_DISTINCT_THOUGHTS = 4
NEAR_DUPLICATE = 0.8  # token Jaccard at or above which a distractor is too close to the gold
OPTION_WORDS = (3, 60)
FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'll|I'd)\b|\b(me|my|mine|myself)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Option:
    text: str  # the third-person option
    thought: str  # the raw first-person thought it comes from
    u_id: int  # the first message where this thought was written


@dataclass(frozen=True)
class Candidate:
    """One question before its answer position is fixed."""

    conversation: Conversation
    u_id: int
    order: int
    question: str
    form: int  # 0 or 1: which §4.3 surface form
    gold: Option
    distractors: tuple[Option, Option, Option]

    @property
    def speaker(self) -> Agent:
        return self.conversation.agent("A" if self.order == 1 else "B")


@dataclass(frozen=True)
class Drop:
    u_id: int | None  # None: the whole agent's questions
    reason: str


@lru_cache(maxsize=1)
def question_forms() -> dict:
    forms = json.loads((DATA_DIR / "question_forms.json").read_text(encoding="utf-8"))
    forms.pop("_comment", None)
    return forms


def question_text(form: int, state: str, order: int, speaker: Agent, partner: Agent, utterance: str) -> str:
    template = question_forms()[state][str(order)][form]
    pronouns = speaker.pronouns
    return template.format(X=speaker.first_name, Y=partner.first_name, p=pronouns.subject,
                           U=f'"{utterance}"', says=agree(pronouns, "says", "say"), does=agree(pronouns, "does", "do"))


def pick_form(seed: int, conversation_key: str, u_id: int) -> int:
    return random.Random(f"tomato-form:{seed}:{conversation_key}:{u_id}").randrange(2)


def option_problem(text: str) -> str | None:
    """Form checks on one option: length bounds and no first-person pronoun left by the rewrite."""
    words = len(text.split())
    if not OPTION_WORDS[0] <= words <= OPTION_WORDS[1]:
        return f"option has {words} words, outside {OPTION_WORDS[0]}-{OPTION_WORDS[1]}"
    if FIRST_PERSON.search(text):
        return f"first-person pronoun left in option {text!r}"
    return None


def agent_options(conversation: Conversation, speaker: str) -> dict[int, Option]:
    """u_id -> option for every message of `speaker` ("A" or "B")."""
    me = conversation.agent(speaker)
    partner = conversation.agent("B" if speaker == "A" else "A")
    order = 1 if speaker == "A" else 2
    options = {}
    first_seen: dict[str, int] = {}
    for u_id, turn in enumerate(conversation.turns):
        if turn.speaker != speaker:
            continue
        text = third_person(turn.thought, state=conversation.state, order=order,
                            speaker=Person(me.first_name, me.pronouns), partner=Person(partner.first_name, partner.pronouns))
        first_seen.setdefault(text, u_id)
        options[u_id] = Option(text, turn.thought, first_seen[text])
    return options


def pick_distractors(gold: Option, options: list[Option], rng: random.Random,
                     question: str) -> tuple[Option, ...] | None:
    """Three distinct options other than the gold and not near-duplicates of it, those sharing about
    as many words with `question` as the gold first; None if too few."""
    eligible, seen = [], {gold.text}
    for option in options:
        if option.text in seen or token_jaccard(option.text, gold.text) >= NEAR_DUPLICATE:
            continue
        seen.add(option.text)
        eligible.append(option)
    if len(eligible) < 3:
        return None
    # A seeded order among equally good distractors. Its first three are what a random draw of three
    # picked before the gap mattered, so where every gap ties a build asks what it asked then.
    eligible = rng.sample(eligible, len(eligible))
    asked = question_words(question)
    gold_shared = len(question_words(gold.text) & asked)

    def gap(option: Option) -> tuple[int, bool]:
        shared = len(question_words(option.text) & asked)
        return abs(shared - gold_shared), shared < gold_shared

    return tuple(sorted(eligible, key=gap)[:3])  # a stable sort: ties keep the seeded order


def question_words(text: str) -> set[str]:
    """Words as the shortcut audit's word-overlap baseline counts them (builders/audit.py)."""
    return {word for word in WORD.findall(text.lower()) if word not in STOPWORDS}


def build_candidates(conversation: Conversation, seed: int) -> tuple[list[Candidate], list[Drop]]:
    """Question candidates of one conversation, in u_id order, and why the others were dropped."""
    candidates, drops = [], []
    per_agent = {speaker: agent_options(conversation, speaker) for speaker in ("A", "B")}
    for speaker, options in per_agent.items():
        distinct = len({o.text for o in options.values()})
        if distinct < MIN_DISTINCT_THOUGHTS:
            drops.append(Drop(None, f"agent {speaker} has {distinct} distinct thoughts, fewer than "
                                    f"{MIN_DISTINCT_THOUGHTS}"))
    for u_id, turn in enumerate(conversation.turns):
        options = per_agent[turn.speaker]
        if len({o.text for o in options.values()}) < MIN_DISTINCT_THOUGHTS:
            continue
        candidate, problem = _candidate(conversation, u_id, options, seed)
        if problem:
            drops.append(Drop(u_id, problem))
        else:
            candidates.append(candidate)
    return candidates, drops


def _candidate(conversation: Conversation, u_id: int, options: dict[int, Option], seed: int):
    order = 1 if u_id % 2 == 0 else 2
    speaker = conversation.agent("A" if order == 1 else "B")
    partner = conversation.agent("B" if order == 1 else "A")
    form = pick_form(seed, conversation.key, u_id)
    question = question_text(form, conversation.state, order, speaker, partner, conversation.turns[u_id].utterance)
    gold = options[u_id]
    pool = [o for k, o in sorted(options.items()) if k != u_id]
    rng = random.Random(f"tomato-distractors:{seed}:{conversation.key}:{u_id}")
    distractors = pick_distractors(gold, pool, rng, question)
    if distractors is None:
        return None, "fewer than 3 distinct distractors that are not near-duplicates of the gold"
    for option in (gold, *distractors):
        problem = option_problem(option.text)
        if problem:
            return None, problem
    return Candidate(conversation, u_id, order, question, form, gold, distractors), None
