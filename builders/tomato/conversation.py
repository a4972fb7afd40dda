"""The conversation runner: two role-playing agents alternate, each thinking before it speaks.

One conversation per (combo, mental state). Agent A thinks about its own mental state (first
order), agent B about A's (second order). Each turn is one structured-output request answering
{"thought": ..., "utterance": ...}; the schema's `pattern` makes the thought start with the
Inner-Speech prefix ("I feel ", "I think that she feels ") and keeps both fields free of quotes
and parentheses, so even the tiny embedded model yields parseable turns. The published
`(thought) "utterance"` form is rendered from the parsed turn.

Visibility rule: each agent keeps its own turns, thought included, in its own history; the partner
receives the rendered message with every parenthesised span removed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash
from builders.tomato.catalog import Combo
from builders.tomato.personas import Agent
from builders.tomato.scenarios import Environment
from builders.tomato.textutil import normalise
from builders.tomato.vocab import GREETING_A, GREETING_B, STATE_NOUNS, thought_prefix

TEMPLATE = "tomato/roleplay_system.j2"
# Characters a thought or utterance may use: no quotes, parentheses, backslashes or newlines, which
# would break the `(thought) "utterance"` form and the transcript lines.
SAFE_CHARS = "A-Za-z0-9 ,;:'!?.-"
THOUGHT_BODY = (8, 120)  # characters after the prefix; short keeps tiny local models fast
UTTERANCE_LENGTH = (2, 160)


class ConversationFailed(Exception):
    """A conversation attempt produced an unusable turn; the reason goes into the build report."""


@dataclass(frozen=True)
class Turn:
    speaker: str  # "A" or "B"
    thought: str
    utterance: str
    request_hash: str
    cached: bool
    retries: int = 0  # unusable replies re-asked before this one

    @property
    def message(self) -> str:
        """The published raw form: `(thought) "utterance"`."""
        return f'({self.thought}) "{self.utterance}"'


@dataclass(frozen=True)
class Conversation:
    combo: Combo
    environment: Environment
    state: str
    turns: tuple[Turn, ...]  # the generated messages, A first
    sample: int  # sample index of the attempt that succeeded
    model: str
    prompt_hash: str
    failed_attempts: tuple[str, ...]  # why earlier attempts were re-generated

    @property
    def key(self) -> str:
        """Identifies the conversation: environment + agents + mental state (the split group)."""
        return conversation_key(self.environment.id, self.combo.agent_a.id, self.combo.agent_b.id, self.state)

    def agent(self, speaker: str) -> Agent:
        return self.combo.agent_a if speaker == "A" else self.combo.agent_b

    def transcript(self) -> str:
        """The released `conversation`: the two greetings, then one `First Last: "utterance"` per turn."""
        a, b = self.combo.agent_a, self.combo.agent_b
        lines = [f'{a.full_name}: "{GREETING_A}"', f'{b.full_name}: "{GREETING_B}"']
        lines += [f'{self.agent(t.speaker).full_name}: "{t.utterance}"' for t in self.turns]
        return "\n".join(lines)


def conversation_key(environment_id: str, agent_a_id: str, agent_b_id: str, state: str) -> str:
    return f"{environment_id}|{agent_a_id}|{agent_b_id}|{state}"


def visible_to_partner(message: str) -> str:
    """What the partner hears: the message without its parenthesised thought(s)."""
    return " ".join(re.sub(r"\([^()]*\)", " ", message).split())


def turn_schema(prefix: str) -> dict:
    """The JSON schema of one turn; the thought must begin with `prefix` (letters and spaces only)."""
    if not re.fullmatch(r"[A-Za-z ]+", prefix):
        raise ValueError(f"thought prefix {prefix!r} must contain only letters and spaces")
    low, high = THOUGHT_BODY
    u_low, u_high = UTTERANCE_LENGTH
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "pattern": f"^{prefix}[{SAFE_CHARS}]{{{low},{high}}}$",
                        "maxLength": len(prefix) + high},
            "utterance": {"type": "string", "pattern": f"^[A-Za-z0-9][{SAFE_CHARS}]{{{u_low - 1},{u_high - 1}}}$",
                          "maxLength": u_high},
        },
        "required": ["thought", "utterance"],
        "additionalProperties": False,
    }


def turn_problem(thought: str, utterance: str, prefix: str, earlier_utterances: list[str]) -> str | None:
    """Why a parsed turn is unusable, or None. The schema already enforces most of it; providers
    that ignore `pattern` (Anthropic tool schemas) are caught here."""
    if not utterance.strip():
        return "empty utterance"
    if not thought.startswith(prefix):
        return f"thought does not start with {prefix!r}"
    for field, text in (("thought", thought), ("utterance", utterance)):
        if re.search(r'["()\n\\“”]', text):
            return f"{field} contains quotes, parentheses or a line break"
    if normalise(utterance) in {normalise(u) for u in earlier_utterances}:
        return "duplicate utterance"
    return None


def system_prompt(me: Agent, partner: Agent, scenario: str, goal: str, state: str, order: int) -> str:
    return render(TEMPLATE, me=me, partner=partner, scenario=scenario, goal=goal, order=order,
                  noun=STATE_NOUNS[state], prefix=thought_prefix(state, order, partner.pronouns))


def _own_turn(thought: str, utterance: str) -> dict:
    return {"role": "assistant", "content": json.dumps({"thought": thought, "utterance": utterance})}


def _heard(utterance: str, thought: str = "") -> dict:
    message = f'({thought}) "{utterance}"' if thought else f'"{utterance}"'
    return {"role": "user", "content": visible_to_partner(message)}


async def run_conversation(llm, combo: Combo, environment: Environment, state: str, *, exchanges: int = 7,
                           max_attempts: int = 3, turn_attempts: int = 3, temperature: float = 0.7,
                           max_tokens: int = 200) -> Conversation:
    """Runs conversation attempts 0, 1, ... until one is clean; raises ConversationFailed after
    `max_attempts` unusable attempts (the message lists every attempt's reason).

    Within an attempt, an unusable turn is re-asked up to `turn_attempts` times with a new sample
    index (spec §12 "retry with record"; counted in Turn.retries) before the attempt is given up.
    Sample indices never overlap: attempt k, try r of a turn uses k * turn_attempts + r.
    """
    reasons = []
    for attempt in range(max_attempts):
        try:
            turns = await _attempt(llm, combo, environment, state, exchanges, attempt, turn_attempts,
                                   temperature, max_tokens)
        except ConversationFailed as error:
            reasons.append(f"sample {attempt}: {error}")
            continue
        return Conversation(combo, environment, state, turns, attempt, llm.label, template_hash(TEMPLATE),
                            tuple(reasons))
    raise ConversationFailed("; ".join(reasons))


async def _attempt(llm, combo: Combo, environment: Environment, state: str, exchanges: int, attempt: int,
                   turn_attempts: int, temperature: float, max_tokens: int) -> tuple[Turn, ...]:
    a, b = combo.agent_a, combo.agent_b
    prefixes = {"A": thought_prefix(state, 1, b.pronouns), "B": thought_prefix(state, 2, a.pronouns)}
    histories = {
        "A": [{"role": "system", "content": system_prompt(a, b, environment.scenario, environment.goals[0], state, 1)},
              _heard(GREETING_B)],
        "B": [{"role": "system", "content": system_prompt(b, a, environment.scenario, environment.goals[1], state, 2)},
              _heard(GREETING_A), _own_turn("", GREETING_B)],
    }
    utterances = [GREETING_A, GREETING_B]
    turns: list[Turn] = []
    for index in range(2 * exchanges):
        speaker, listener = ("A", "B") if index % 2 == 0 else ("B", "A")
        turn = await _turn(llm, speaker, histories[speaker], prefixes[speaker], utterances, index,
                           [attempt * turn_attempts + r for r in range(turn_attempts)], temperature, max_tokens)
        turns.append(turn)
        utterances.append(turn.utterance)
        histories[speaker].append(_own_turn(turn.thought, turn.utterance))
        histories[listener].append(_heard(turn.utterance, turn.thought))
    return tuple(turns)


async def _turn(llm, speaker: str, history: list[dict], prefix: str, earlier_utterances: list[str], index: int,
                samples: list[int], temperature: float, max_tokens: int) -> Turn:
    """One usable turn, trying each sample index in turn; ConversationFailed when none works."""
    problems = []
    for retries, sample in enumerate(samples):
        request = ChatRequest(messages=list(history), schema=turn_schema(prefix), temperature=temperature,
                              max_tokens=max_tokens, sample=sample, step="tomato.turn",
                              prompt_hash=template_hash(TEMPLATE))
        try:
            reply = await llm.chat(request)
        except RequestFailed as error:
            problems.append(f"request failed: {error.reason}")
            continue
        thought, utterance = (" ".join(reply.data[k].split()) for k in ("thought", "utterance"))
        problem = turn_problem(thought, utterance, prefix, earlier_utterances)
        if problem is None:
            return Turn(speaker, thought, utterance, reply.provenance.get("request_hash", ""), reply.cached,
                        retries)
        problems.append(problem)
    raise ConversationFailed(f"turn {index}: {'; '.join(problems)}")
