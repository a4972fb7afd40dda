"""LitCharToM (litchartom.md §10): belief / desire / intention / emotion questions about a character.

The prompt is the README's: a one-line instruction, STORY PLOT, SCENARIO, optionally RELEVANT
MENTAL STATE TRIPLES, QUESTION, CANDIDATE CHOICES ("A. ..." to "D. ..."), and a reply ending in
"Answer: <letter>". Condition (a), plot summary and scenario only, is the default; `--triples`
runs condition (b), which adds the question's `corresponding_triples` (OOD records) or the
timestep's `triples` (ID records, which carry no per-question subset).

In-distribution questions are the four MCQs of each `current` record (`record_type` "current");
out-of-distribution ones are the `ood` records (`record_type` "ood", books held out of the ID
files). An OOD record stores its question only inside its rendered `messages`, together with the
answer ("Answer: X" as the assistant turn); the question is read back from the user message and
re-rendered without it, so the answer never reaches the model.

Accuracy overall, per dimension, ID vs OOD and dimension x distribution, and the letter
distribution of predictions (an always-"B" model beat chance on the original's skewed key, §12).
"""

from __future__ import annotations

import re

from benchscore.multiple_choice import Question, accuracy_summary, ask
from benchscore.protocol import (
    Context,
    Options,
    Prediction,
    Protocol,
    ScoringError,
    Unit,
)
from builders.prompts import render, template_hash

PROMPT = "benchscore/litchartom.j2"
DECODING = {"temperature": 0.0, "max_tokens": 512}  # room for the analysis the instruction invites
WRAPPER_KEY = "Target Character"  # qa_data's one key (§3.1: a wrapper that carries no information)
HEADERS = ("STORY PLOT:", "SCENARIO:", "RELEVANT MENTAL STATE TRIPLES:", "QUESTION:", "CANDIDATE CHOICES:")
GROUP_KEYS = ["dimension", "distribution", "dimension_by_distribution"]


def units(rows_by_config: dict[str, list[dict]], options: Options) -> list[Unit]:
    found = []
    for config, rows in rows_by_config.items():
        for row in rows:
            read = _ood_units if row["record_type"] == "ood" else _id_units
            found += read(config, row, options)
    return found


def _id_units(config: str, row: dict, options: Options) -> list[Unit]:
    found = []
    for entry in (row.get("qa_data") or {}).get(WRAPPER_KEY) or []:
        for label, mcq in entry.items():
            if mcq is None:  # parquet holds every dimension key per entry; the others are null
                continue
            fields = {"character": row["character"], "plot_summary": row["plot_summary"], "scenario": row["scenario"],
                      "triples": row["triples"] if options.triples else [], "question": mcq["Question"],
                      "options": list(mcq["Options"])}
            found.append(Unit(f"{row['record_id']}:{_dimension(label)}", config,
                              _question(fields, mcq["Correct Answer"], label, "ID")))
    return found


def _ood_units(config: str, row: dict, options: Options) -> list[Unit]:
    sections = _sections(_user_text(row), row["record_id"])
    choices = [line for line in sections["CANDIDATE CHOICES:"].splitlines() if re.match(r"^[A-D]\. ", line)]
    if len(choices) != 4:
        raise ScoringError(f"LitCharToM OOD record {row['record_id']!r}: its message lists {len(choices)} candidate "
                           "choices, not 4 (\"A. ...\" to \"D. ...\"); the release does not follow litchartom.md §10")
    fields = {"character": row["character"], "plot_summary": sections["STORY PLOT:"],
              "scenario": sections["SCENARIO:"], "question": sections["QUESTION:"], "options": choices,
              "triples": list(row["corresponding_triples"]) if options.triples else []}
    return [Unit(row["record_id"], config, _question(fields, row["correct_answer"], row["qa_type"], "OOD"))]


def _question(fields: dict, gold: str, label: str, distribution: str) -> Question:
    dimension = _dimension(label)
    messages = [{"role": "user", "content": render(PROMPT, **fields)}]
    groups = {"dimension": dimension, "distribution": distribution,
              "dimension_by_distribution": f"{dimension} / {distribution}"}
    return Question(messages=messages, options=fields["options"], gold=gold, groups=groups)


def _dimension(label: str) -> str:
    return label.split()[0].lower()  # "Belief Multiple Choice Question" -> "belief"


def _user_text(row: dict) -> str:
    users = [m["content"] for m in row.get("messages") or [] if m["role"] == "user"]
    if not users:
        raise ScoringError(f"LitCharToM OOD record {row['record_id']!r} has no user message to read its question "
                           "from; the release does not follow litchartom.md §3.3")
    return users[0]


def _sections(text: str, record_id: str) -> dict[str, str]:
    """The text under each header line of the README prompt."""
    lines = text.splitlines()
    starts = [(i, line.strip()) for i, line in enumerate(lines) if line.strip() in HEADERS]
    sections = {}
    for (index, header), following in zip(starts, [*starts[1:], (len(lines), "")]):
        sections[header] = "\n".join(lines[index + 1:following[0]]).strip()
    missing = [h for h in HEADERS if h not in sections and h != "RELEVANT MENTAL STATE TRIPLES:"]
    if missing:
        raise ScoringError(f"LitCharToM OOD record {record_id!r}: its user message lacks {', '.join(missing)}; "
                           "the release does not follow the README prompt of litchartom.md §10")
    return sections


async def run(unit: Unit, ctx: Context) -> list[Prediction]:
    return [await ask(unit, unit.data, ctx, decoding=DECODING, sample=0, step="benchscore.litchartom",
                      prompt_hash=template_hash(PROMPT))]


def summarise(predictions: list[Prediction], options: Options) -> dict:
    return accuracy_summary(predictions, options.bootstrap, GROUP_KEYS)


PROTOCOL = Protocol(
    benchmark="litchartom",
    metric="accuracy",
    scale=1.0,
    # `with_prev` holds the `current` records again (plus earlier plots, for the long-context
    # conditions this command does not run): scored only when asked for with --config.
    default_configs=("current", "ood"),
    units=units,
    run=run,
    summarise=summarise,
    prompts=lambda options: (PROMPT,),
    decoding=lambda options: {**DECODING, "condition": "b (triples)" if options.triples else "a (base)"},
    variant=lambda options: ["triples"] if options.triples else [],
)
