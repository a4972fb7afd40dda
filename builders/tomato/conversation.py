"""The conversation runner: two role-playing agents alternate, each thinking before it speaks.

One conversation per (combo, mental state). Agent A thinks about its own mental state (first
order), agent B about A's (second order). Each turn is one structured-output request answering
{"thought": ..., "utterance": ...}; the thought must start with the Inner-Speech prefix ("I feel ",
"I think that she feels "). The published `(thought) "utterance"` form is rendered from the parsed
turn. What a turn's schema asks depends on the model's profile (builders/llm/profiles.yaml):

- strict (the embedded model): the schema's `pattern` keeps both fields short plain ASCII, free of
  quotes and parentheses, so even a tiny model under a grammar yields parseable turns; a turn that
  slips through with one is re-asked.
- natural (a capable model): the schema asks for structure only (the prefix, lengths stated in the
  descriptions and the prompt, from the original's statistics: original.py) and takes any Unicode
  prose; what the published form cannot hold is fitted into it by line_format.py and recorded.

Under both, a turn that is wrong (no prefix, an empty utterance, an utterance said before) is
re-asked with a new sample index, and the request is flagged `reask` for the call ledger.

Visibility rule: each agent keeps its own turns, thought included, in its own history; the partner
receives the rendered message with every parenthesised span removed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from builders.llm import ChatRequest, RequestFailed
from builders.llm.profiles import ModelProfile, profile_of
from builders.prompts import render, template_hash
from builders.tomato.catalog import Combo
from builders.tomato.line_format import fit_thought, fit_utterance
from builders.tomato.original import target_words
from builders.tomato.personas import Agent
from builders.tomato.scenarios import Environment
from builders.tomato.textutil import normalise
from builders.tomato.vocab import GREETING_A, GREETING_B, STATE_NOUNS, thought_prefix

TEMPLATE = "tomato/roleplay_system.j2"
# The strict contract's characters for a thought or utterance: plain ASCII without quotes,
# parentheses, backslashes or newlines, which would break the `(thought) "utterance"` form and the
# transcript lines. (The natural contract takes any character and fits the text afterwards.)
SAFE_CHARS = "A-Za-z0-9 ,;:'!?.-"


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
    # what line_format.py changed to fit the published form: {"field", "rules", "written"} (natural contract)
    normalisations: tuple[dict, ...] = ()

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
    contract: str  # the role-play model profile's text contract: "strict" or "natural"

    @property
    def key(self) -> str:
        """Identifies the conversation: environment + agents + mental state (the split group)."""
        return conversation_key(self.environment.id, self.combo.agent_a.id, self.combo.agent_b.id, self.state)

    def normalisations(self) -> list[dict]:
        """Every change line_format.py made to fit a turn into the published form, by u_id."""
        return [{"u_id": u_id, **change} for u_id, turn in enumerate(self.turns) for change in turn.normalisations]

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


def turn_schema(prefix: str, profile: ModelProfile) -> dict:
    """The JSON schema of one turn; the thought must begin with `prefix` (letters and spaces only).
    Its length bounds come from the profile (tomato.thought_chars counts after the prefix)."""
    if not re.fullmatch(r"[A-Za-z ]+", prefix):
        raise ValueError(f"thought prefix {prefix!r} must contain only letters and spaces")
    low, high = profile.limit("tomato.thought_chars")
    u_low, u_high = profile.limit("tomato.utterance_chars")
    if profile.natural:
        return _natural_turn_schema(prefix, (low, high), (u_low, u_high))
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


def _natural_turn_schema(prefix: str, thought_chars: tuple[int, int], utterance_chars: tuple[int, int]) -> dict:
    """Structure only: the prefix, the lengths asked for in words, and bounds only against runaway text."""
    return {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "pattern": f"^{prefix}",
                        "minLength": len(prefix) + thought_chars[0], "maxLength": len(prefix) + thought_chars[1],
                        "description": f'One sentence of about {target_words("thought")} words that starts with '
                                       f'"{prefix}".'},
            "utterance": {"type": "string", "minLength": utterance_chars[0], "maxLength": utterance_chars[1],
                          "description": f"What you say out loud: one or two sentences of about "
                                         f"{target_words('utterance')} words in all."},
        },
        "required": ["thought", "utterance"],
        "additionalProperties": False,
    }


def turn_problem(thought: str, utterance: str, prefix: str, earlier_utterances: list[str], *,
                 natural: bool = False) -> str | None:
    """Why a parsed turn is unusable, or None. Under the strict contract the schema already enforces
    most of it, and a quote, parenthesis or line break that slipped past is refused; under the natural
    one those were fitted into the published form (line_format.py) before this check."""
    if not utterance.strip():
        return "empty utterance"
    if not thought.startswith(prefix):
        return f"thought does not start with {prefix!r}"
    if not natural:
        for field, text in (("thought", thought), ("utterance", utterance)):
            if re.search(r'["()\n\\“”]', text):
                return f"{field} contains quotes, parentheses or a line break"
    if normalise(utterance) in {normalise(u) for u in earlier_utterances}:
        return "duplicate utterance"
    return None


def system_prompt(me: Agent, partner: Agent, scenario: str, goal: str, state: str, order: int, *,
                  natural: bool = False) -> str:
    return render(TEMPLATE, me=me, partner=partner, scenario=scenario, goal=goal, order=order,
                  noun=STATE_NOUNS[state], prefix=thought_prefix(state, order, partner.pronouns), natural=natural,
                  thought_words=target_words("thought"), utterance_words=target_words("utterance"))


def _own_turn(thought: str, utterance: str) -> dict:
    # ensure_ascii=False: a capable model reads back its own prose, not \u2019 escapes (the strict
    # contract's text is plain ASCII, so its requests are the same either way)
    return {"role": "assistant", "content": json.dumps({"thought": thought, "utterance": utterance},
                                                       ensure_ascii=False)}


def _heard(utterance: str, thought: str = "") -> dict:
    message = f'({thought}) "{utterance}"' if thought else f'"{utterance}"'
    return {"role": "user", "content": visible_to_partner(message)}


async def run_conversation(llm, combo: Combo, environment: Environment, state: str, *, exchanges: int = 7,
                           max_attempts: int = 3, turn_attempts: int = 3, temperature: float = 0.7) -> Conversation:
    """Runs conversation attempts 0, 1, ... until one is clean; raises ConversationFailed after
    `max_attempts` unusable attempts (the message lists every attempt's reason).

    Within an attempt, an unusable turn is re-asked up to `turn_attempts` times with a new sample
    index (spec §12 "retry with record"; counted in Turn.retries) before the attempt is given up.
    Sample indices never overlap: attempt k, try r of a turn uses k * turn_attempts + r. Every
    request made because an earlier reply was refused (a turn's later tries, and every turn of a
    re-generated conversation) is flagged `reask`, so the release's call ledger counts it.
    """
    reasons = []
    for attempt in range(max_attempts):
        try:
            turns = await _attempt(llm, combo, environment, state, exchanges, attempt, turn_attempts, temperature)
        except ConversationFailed as error:
            reasons.append(f"sample {attempt}: {error}")
            continue
        return Conversation(combo, environment, state, turns, attempt, llm.label, template_hash(TEMPLATE),
                            tuple(reasons), profile_of(llm).contract)
    raise ConversationFailed("; ".join(reasons))


async def _attempt(llm, combo: Combo, environment: Environment, state: str, exchanges: int, attempt: int,
                   turn_attempts: int, temperature: float) -> tuple[Turn, ...]:
    a, b = combo.agent_a, combo.agent_b
    natural = profile_of(llm).natural
    prefixes = {"A": thought_prefix(state, 1, b.pronouns), "B": thought_prefix(state, 2, a.pronouns)}
    histories = {
        "A": [{"role": "system", "content": system_prompt(a, b, environment.scenario, environment.goals[0], state, 1,
                                                          natural=natural)},
              _heard(GREETING_B)],
        "B": [{"role": "system", "content": system_prompt(b, a, environment.scenario, environment.goals[1], state, 2,
                                                          natural=natural)},
              _heard(GREETING_A), _own_turn("", GREETING_B)],
    }
    utterances = [GREETING_A, GREETING_B]
    turns: list[Turn] = []
    for index in range(2 * exchanges):
        speaker, listener = ("A", "B") if index % 2 == 0 else ("B", "A")
        turn = await _turn(llm, speaker, histories[speaker], prefixes[speaker], utterances, index,
                           [attempt * turn_attempts + r for r in range(turn_attempts)], temperature,
                           regenerated=attempt > 0)
        turns.append(turn)
        utterances.append(turn.utterance)
        histories[speaker].append(_own_turn(turn.thought, turn.utterance))
        histories[listener].append(_heard(turn.utterance, turn.thought))
    return tuple(turns)


async def _turn(llm, speaker: str, history: list[dict], prefix: str, earlier_utterances: list[str], index: int,
                samples: list[int], temperature: float, *, regenerated: bool) -> Turn:
    """One usable turn, trying each sample index in turn; ConversationFailed when none works."""
    profile = profile_of(llm)
    problems = []
    for retries, sample in enumerate(samples):
        request = ChatRequest(messages=list(history), schema=turn_schema(prefix, profile), temperature=temperature,
                              max_tokens=profile.limit("tomato.turn_max_tokens"), sample=sample, step="tomato.turn",
                              prompt_hash=template_hash(TEMPLATE), reask=regenerated or retries > 0)
        try:
            reply = await llm.chat(request)
        except RequestFailed as error:
            problems.append(f"request failed: {error.reason}")
            continue
        thought, utterance, normalisations = _parsed(reply.data, natural=profile.natural)
        problem = turn_problem(thought, utterance, prefix, earlier_utterances, natural=profile.natural)
        if problem is None:
            return Turn(speaker, thought, utterance, reply.provenance.get("request_hash", ""), reply.cached,
                        retries, normalisations)
        problems.append(problem)
    raise ConversationFailed(f"turn {index}: {'; '.join(problems)}")


def _parsed(data: dict, *, natural: bool) -> tuple[str, str, tuple[dict, ...]]:
    """(thought, utterance, what was changed to fit them into the published form). Runs of
    whitespace are collapsed under both contracts; only the natural one fits the rest."""
    if not natural:
        return " ".join(data["thought"].split()), " ".join(data["utterance"].split()), ()
    fitted = {"thought": fit_thought(data["thought"]), "utterance": fit_utterance(data["utterance"])}
    changes = tuple({"field": field, "rules": list(fit.rules), "written": data[field]}
                    for field, fit in fitted.items() if fit.rules)
    return fitted["thought"].text, fitted["utterance"].text, changes
