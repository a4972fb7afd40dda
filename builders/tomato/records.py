"""Released records: the 16 published fields (spec §3) plus one `provenance` object.

Oracle fields (the thought that became the answer and who thought it) live in provenance, apart
from the generated surface fields (utterance, rewritten options).

The options' order here is provisional: the gold at a seeded position per item, so that the blind
check (--llm-validate, llm_check.py) does not always see it in one place. It is never released:
the build deals every gold's position over the whole release from the owner's private salt and
reorders the options (and everything naming them by position) accordingly (answer_key.py).

`false_belief` is False on first-order items (a false belief is about the partner, so order 2
only), and on order-2 items what a fit judge decided, or None when none did (false_belief.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import builders
from builders.tomato.questions import Candidate
from builders.tomato.vocab import FIRST_ORDER_TAG, SECOND_ORDER_TAG

REWRITE_METHOD = "rules-v2"  # builders/tomato/rewrite.py (v2: Unicode letters, apostrophes and sentence ends)


@dataclass(frozen=True)
class RunInfo:
    """What every record of one build shares in its provenance."""

    seed: int
    scenario_model: str
    prompt_hashes: dict


def q_id(order: int, state: str, combo5: str, u_id: int) -> str:
    tag = FIRST_ORDER_TAG if order == 1 else SECOND_ORDER_TAG
    return f"{tag}-{state}_{combo5}_{u_id}"


def provisional_position(seed: int, candidate: Candidate) -> int:
    """Where the gold sits until the release's positions are dealt (never released)."""
    return random.Random(f"tomato-provisional:{seed}:{candidate.conversation.key}:{candidate.u_id}").randrange(4)


def make_record(candidate: Candidate, run: RunInfo, *, false_belief: bool | None = False,
                false_belief_check: dict | None = None, llm_validation: dict | None = None,
                item_judges: dict | None = None) -> dict:
    conversation = candidate.conversation
    combo, environment = conversation.combo, conversation.environment
    a_idx = provisional_position(run.seed, candidate)
    options = list(candidate.distractors)
    options.insert(a_idx, candidate.gold)
    record = {
        "q": candidate.question,
        **{f"a{i}": option.text for i, option in enumerate(options)},
        "a_idx": a_idx,
        "a_str": candidate.gold.text,
        "big_five": candidate.speaker.big_five_text,
        "conversation": conversation.transcript(),
        "false_belief": false_belief,
        "mental_state": conversation.state,
        "order": candidate.order,
        "q_id": q_id(candidate.order, conversation.state, combo.combo5, candidate.u_id),
        "sotopia_agents": [combo.agent_a.id, combo.agent_b.id],
        "sotopia_environment": environment.id,
        "u_id": str(candidate.u_id),
    }
    record["provenance"] = {
        "builder": "tomato",
        "builder_version": builders.__version__,
        "seed": run.seed,
        "conversation_key": conversation.key,
        "combo_id": combo.id,
        "models": {"roleplay": conversation.model, "scenario": run.scenario_model},
        "prompt_hashes": dict(run.prompt_hashes),
        "conversation_sample": conversation.sample,
        "exchanges": len(conversation.turns) // 2,
        "failed_conversation_attempts": list(conversation.failed_attempts),
        "turn_request_hash": conversation.turns[candidate.u_id].request_hash,
        "turn_retries": conversation.turns[candidate.u_id].retries,
        "roleplay_contract": conversation.contract,
        # what the program changed to fit the model's prose into the published form, in every line of
        # this conversation (builders/tomato/line_format.py), with the text as written
        "normalisations": conversation.normalisations(),
        "agent_cards": [combo.agent_a.card(), combo.agent_b.card()],
        "environment": {**environment.card(), "seed_id": environment.seed_id, "source": environment.source,
                        "attempts": environment.attempts, "problems": list(environment.problems)},
        "question_form": candidate.form,
        "gold": {"u_id": candidate.u_id, "thinker": "A" if candidate.order == 1 else "B",
                 "thought": candidate.gold.thought},
        # where each option's thought was written (same speaker, same conversation): audits distractors
        "option_sources": [{"u_id": o.u_id, "thought": o.thought} for o in options],
        "rewrite_method": REWRITE_METHOD,
        "false_belief_check": false_belief_check,
        "item_judges": item_judges,  # None when the item judges did not run (--item-judges)
        "llm_validation": llm_validation,
    }
    return record
