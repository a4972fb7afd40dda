"""ToMATO (tomato.md §9): 4-way multiple choice over the whole transcript.

The prompt is the official local-model script's: a system message (an expert at human
communication, answer with one bracketed letter) and a user message with `# Transcript` (the
`conversation` field, which the original script misread as `transcript`, §10 item 7),
`# Question` and `# Options` [A]-[D].

Decoding: greedy (temperature 0, 256 tokens) by default, the deterministic leaderboard the spec
asks for next to the paper's sampled runs; `--samples K` runs the paper's sampling (temperature
0.6, top_p 0.9, 256 tokens) K times per item and reports the mean.

Accuracy overall, per `mental_state`, per `order`, on the false-belief subset and per Big Five trait
level (High/Low of each trait of the speaker, parsed from `big_five`).
"""

from __future__ import annotations

import asyncio

from benchscore.multiple_choice import Question, accuracy_summary, ask
from benchscore.protocol import Context, Options, Prediction, Protocol, Unit
from builders.prompts import render, template_hash

SYSTEM = "benchscore/tomato_system.j2"
USER = "benchscore/tomato_user.j2"
GREEDY = {"temperature": 0.0, "max_tokens": 256}
SAMPLED = {"temperature": 0.6, "top_p": 0.9, "max_tokens": 256}
TRAITS = ("Openness to Experience", "Conscientiousness", "Extraversion", "Agreeableness", "Neuroticism")
GROUP_KEYS = ["mental_state", "order", "false_belief", *(f"big_five.{trait}" for trait in TRAITS)]


def units(rows_by_config: dict[str, list[dict]], options: Options) -> list[Unit]:
    return [Unit(row["q_id"], config, row) for config, rows in rows_by_config.items() for row in rows]


async def run(unit: Unit, ctx: Context) -> list[Prediction]:
    question = question_for(unit.data)
    decoding = decoding_for(ctx.options)
    prompt_hash = template_hash(SYSTEM)[:16] + ":" + template_hash(USER)[:16]
    asked = [ask(unit, question, ctx, decoding=decoding, sample=sample, step="benchscore.tomato",
                 prompt_hash=prompt_hash) for sample in range(ctx.options.samples or 1)]
    return list(await asyncio.gather(*asked))


def question_for(row: dict) -> Question:
    """The messages, options, gold letter and breakdown labels of one ToMATO record."""
    options = [row[f"a{i}"] for i in range(4)]
    messages = [{"role": "system", "content": render(SYSTEM)},
                {"role": "user", "content": render(USER, conversation=row["conversation"], question=row["q"],
                                                   options=options)}]
    return Question(messages=messages, options=options, gold="ABCD"[row["a_idx"]], groups=groups_of(row))


def groups_of(row: dict) -> dict:
    # false_belief is null when no fit judge decided it: such items form their own group
    belief = row["false_belief"]
    groups = {"mental_state": row["mental_state"], "order": row["order"],
              "false_belief": "not judged" if belief is None else bool(belief)}
    for part in row["big_five"].split(";"):
        trait, _, level = part.strip().rpartition(" - ")
        if trait in TRAITS:
            groups[f"big_five.{trait}"] = level
    return groups


def summarise(predictions: list[Prediction], options: Options) -> dict:
    summary = accuracy_summary(predictions, options.bootstrap, GROUP_KEYS)
    # The false-belief subset is ToMATO-FB, reported on its own line as the paper does.
    summary["headline"]["false_belief"] = summary["breakdowns"]["false_belief"].get("True")
    return summary


def decoding_for(options: Options) -> dict:
    if options.samples:
        return {**SAMPLED, "samples": options.samples, "mode": "sampled"}
    return {**GREEDY, "samples": 1, "mode": "greedy"}


def variant(options: Options) -> list[str]:
    return [f"samples{options.samples}"] if options.samples else []


PROTOCOL = Protocol(
    benchmark="tomato",
    metric="accuracy",
    scale=1.0,
    default_configs=("all",),
    units=units,
    run=run,
    summarise=summarise,
    prompts=lambda options: (SYSTEM, USER),
    decoding=decoding_for,
    variant=variant,
)
