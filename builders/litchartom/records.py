"""Records in the released shapes (spec §3), plus one `provenance` object each.

Two record kinds share one table (`record_type`): "current" (one per character-timestep, the four
MCQs in `qa_data`) and "ood" (one per question, the evaluation prompt rendered into `messages`).
Field names are the released ones. `triples` is the flat list of triple strings in both kinds
(the original ID file wraps it in {"Target Character": [...]}; export.py restores that wrapper),
`qa_data` keeps its wrapper. `triples_structured` holds the same triples as fields, plus the
retired ones, each with its plot index and update operation.
"""

from __future__ import annotations

import hashlib

from builders import __version__
from builders.litchartom.autocheck import CheckedQuestion
from builders.litchartom.timesteps import Timestep
from builders.litchartom.triples import Triple, format_triple
from builders.prompts import render
from builders.sources.aliases import name_key

WRAPPER_KEY = "Target Character"  # the one, information-free key of the released wrappers
OOD_TEMPLATE = "litchartom/ood_messages.j2"
MIN_CORRESPONDING, MAX_CORRESPONDING = 2, 4


LETTERS = "ABCD"


def place_gold(options: tuple[str, ...], gold_position: int) -> list[tuple[str, int]]:
    """(option text, index in `options`) in released order: the gold (options[0]) at
    `gold_position`, the distractors in their own order around it. The options are re-lettered
    here, never taken in the model's order, so the dealt position is the released one."""
    distractors = [(text, i) for i, text in enumerate(options) if i != 0]
    return distractors[:gold_position] + [(options[0], 0)] + distractors[gold_position:]


def lettered(texts: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {text}" for i, text in enumerate(texts)]


def stable_id(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def mcq_body(question: CheckedQuestion, gold_position: int) -> tuple[dict, list[str]]:
    """The five-key MCQ body with the gold re-lettered to `gold_position`, and the distractor
    type behind each released option."""
    draft = question.draft
    placed = place_gold(question.options, gold_position)
    types = ["gold" if index == 0 else question.distractors[index - 1].kind for _, index in placed]
    body = {"Scenario": draft.scenario, "Reasoning": draft.reasoning, "Question": draft.question,
            "Options": lettered([text for text, _ in placed]), "Correct Answer": LETTERS[gold_position]}
    return body, types


def question_provenance(question: CheckedQuestion, step: Timestep, types: list[str]) -> dict:
    """How the question was made and checked. `auto_check`: "passed" (the blind checker recovered
    the gold), "verified" (it missed, and the verifier confirmed the gold), or "not run"."""
    draft = question.draft
    accepted = question.attempts[-1]
    blind = accepted.get("blind") or {}
    verifier = accepted.get("verifier")
    return {"qa_id": stable_id(step.work.title, step.character, step.plot.index, question.dimension.name),
            "dimension": question.dimension.name, "drafts": question.counts.get("question drafts", 0),
            "sample": draft.sample, "option_types": types,
            "distractor_sources": [{"character": d.character, "plot_index": d.plot_index, "kind": d.kind}
                                   for d in question.distractors],
            "auto_check": "verified" if verifier else "passed" if blind else "not run",
            "blind_answer": blind.get("answer"), "blind_gold": blind.get("gold"),
            **({"blind_confidence": blind["confidence"]} if blind.get("confidence") else {}),
            **({"verifier": {k: verifier[k] for k in ("verdict", "reason", "request_hash")}} if verifier else {}),
            **({"normalised": list(draft.normalised)} if draft.normalised else {}),
            "rejected": [f"{a['what']}: {a['reason']}" for a in question.attempts if a.get("reason")],
            "request_hash": draft.provenance.get("request_hash", "")}


def base_provenance(step: Timestep, run: dict, triple_provenance: dict, triple_attempts: int,
                    triple_normalised: dict[str, int] | None = None) -> dict:
    plot = step.plot
    return {
        "builder": "litchartom", "builder_version": __version__, "seed": run["seed"],
        "work_id": step.work.id, "work_kind": step.work.kind, "license": step.work.license,
        "character_id": step.character_id, "held_out": step.held_out,
        "source": {"chunk_index": plot.chunk_index, "section_ids": list(plot.section_ids), "span": list(plot.span),
                   "anchors": list(plot.anchors), "conversation_turns": len(plot.conversation),
                   "turn_ids": [u.turn_id for u in plot.conversation if u.turn_id]},
        "models": {"generator": run["generator"], "checker": run["checker"]},
        "prompt_hashes": run["prompt_hashes"],
        "scene_request_hash": plot.provenance.get("request_hash", ""),
        **({"scene_normalised": plot.provenance["normalised"]} if plot.provenance.get("normalised") else {}),
        "triples_request_hashes": triple_provenance.get("request_hashes", []), "triple_attempts": triple_attempts,
        **({"triples_normalised": [f"{change}: {count}" for change, count in sorted(triple_normalised.items())]}
           if triple_normalised else {}),
        "human_check": "not run",
        "questions": [],
    }


def previous_plots(step: Timestep, plots: list, triples_by_plot: dict[int, list[Triple]]) -> list[dict]:
    """The book's earlier plots in order, each with the character's triples as they stood then."""
    return [{"plot_index": p.index, "plot_summary": p.summary,
             "triples": [format_triple(t) for t in triples_by_plot.get(p.index, [])]}
            for p in plots if p.index < step.plot.index]


def current_record(step: Timestep, triples: list[Triple], retired: list[Triple], questions: list[CheckedQuestion],
                   positions, history: list[dict], provenance: dict) -> dict:
    qa_items, question_meta = [], []
    for question in questions:
        gold_position = positions.next(f"current:{question.dimension.name}")
        body, types = mcq_body(question, gold_position)
        qa_items.append({question.dimension.label: body})
        question_meta.append(question_provenance(question, step, types))
    return {
        "record_id": stable_id("current", step.work.id, step.character_id, step.plot.index),
        "record_type": "current",
        "book_name": step.work.title, "character": step.character, "plot_index": step.plot.index,
        "plot_summary": step.plot.summary, "scenario": step.plot.scenario,
        "triples": [format_triple(t) for t in triples],
        "qa_data": {WRAPPER_KEY: qa_items},
        "previous_plots": history,
        "triples_structured": [t.as_dict() for t in triples + retired],
        "provenance": {**provenance, "questions": question_meta},
    }


def ood_record(step: Timestep, triples: list[Triple], retired: list[Triple], question: CheckedQuestion,
               positions, provenance: dict, *, with_answer: bool = True) -> dict:
    gold_position = positions.next(f"ood:{question.dimension.name}")
    body, types = mcq_body(question, gold_position)
    corresponding = corresponding_triples(triples, question)
    user = render(OOD_TEMPLATE, character=step.character, plot_summary=step.plot.summary,
                  scenario=step.plot.scenario, triples=[format_triple(t) for t in corresponding],
                  question=body["Question"], options=body["Options"])
    messages = [{"role": "user", "content": user}]
    if with_answer:
        messages.append({"role": "assistant", "content": f"Answer: {body['Correct Answer']}"})
    meta = question_provenance(question, step, types)
    return {
        "record_id": meta["qa_id"], "record_type": "ood",
        "messages": messages,
        "corresponding_triples": [format_triple(t) for t in corresponding],
        "triples": [format_triple(t) for t in triples],
        "plot_id": step.plot.index, "book_name": step.work.title, "character": step.character,
        "correct_answer": body["Correct Answer"], "qa_type": question.dimension.label,
        "relation": corresponding[0].base_relation,
        "triples_structured": [t.as_dict() for t in triples + retired],
        "provenance": {**provenance, "questions": [meta],
                       "mcq": {"scenario": body["Scenario"], "reasoning": body["Reasoning"]}},
    }


def corresponding_triples(triples: list[Triple], question: CheckedQuestion) -> list[Triple]:
    """2-4 triples relevant to the question: its dimension first, then by words shared with the
    question and gold answer (ties keep generation order)."""
    draft = question.draft
    words = {name_key(w) for w in f"{draft.question} {draft.answer}".split()}

    def rank(item):
        position, triple = item
        shared = len(words & {name_key(w) for w in triple.object.split()})
        return (triple.dimension != question.dimension.name, -shared, position)

    ranked = [t for _, t in sorted(enumerate(triples), key=rank)]
    same = sum(t.dimension == question.dimension.name for t in triples)
    count = max(MIN_CORRESPONDING, min(MAX_CORRESPONDING, same))
    return ranked[:min(count, len(ranked))]
