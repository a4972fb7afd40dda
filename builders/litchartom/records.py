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
GOLD_FIRST = 0  # where a question's gold is until the release's answer key (answer_key.py) places it


def lettered(texts: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {text}" for i, text in enumerate(texts)]


def stable_id(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def mcq_body(question: CheckedQuestion) -> dict:
    """The five-key MCQ body: the gold first, then the distractors in the order they were chosen.
    Where the gold ends up is dealt later, over the whole release, from the owner's salt."""
    draft = question.draft
    return {"Scenario": draft.scenario, "Reasoning": draft.reasoning, "Question": draft.question,
            "Options": lettered(list(question.options)), "Correct Answer": LETTERS[GOLD_FIRST]}


def question_provenance(question: CheckedQuestion, step: Timestep, not_checked: str | None) -> dict:
    """How the question was made and checked, per option in option order (`option_types`, and the
    option letter of each `distractor_sources` entry; the answer key re-letters both).
    `auto_check`: "passed" (the blind checker recovered the gold), "verified" (it missed, and the
    verifier confirmed the gold), or "not run", with `auto_check_reason` (`not_checked`) saying why.
    `blind_answer` / `blind_gold` are letters in the order the checker was shown
    (autocheck.checker_order), not the released letters."""
    draft = question.draft
    accepted = question.attempts[-1]
    blind = accepted.get("blind") or {}
    verifier = accepted.get("verifier")
    status = "verified" if verifier else "passed" if blind else "not run"
    return {"qa_id": stable_id(step.work.title, step.character, step.plot.index, question.dimension.name),
            "dimension": question.dimension.name, "drafts": question.counts.get("question drafts", 0),
            "sample": draft.sample, "option_types": ["gold", *(d.kind for d in question.distractors)],
            "distractor_sources": [{"option": LETTERS[slot], "character": d.character, "plot_index": d.plot_index,
                                    "kind": d.kind} for slot, d in enumerate(question.distractors, start=1)],
            "auto_check": status,
            **({"auto_check_reason": not_checked or "the checker accepted no set"} if status == "not run" else {}),
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
                   history: list[dict], provenance: dict, not_checked: str | None) -> dict:
    return {
        "record_id": stable_id("current", step.work.id, step.character_id, step.plot.index),
        "record_type": "current",
        "book_name": step.work.title, "character": step.character, "plot_index": step.plot.index,
        "plot_summary": step.plot.summary, "scenario": step.plot.scenario,
        "triples": [format_triple(t) for t in triples],
        "qa_data": {WRAPPER_KEY: [{question.dimension.label: mcq_body(question)} for question in questions]},
        "previous_plots": history,
        "triples_structured": [t.as_dict() for t in triples + retired],
        "provenance": {**provenance, "questions": [question_provenance(question, step, not_checked)
                                                   for question in questions]},
    }


def ood_record(step: Timestep, triples: list[Triple], retired: list[Triple], question: CheckedQuestion,
               provenance: dict, not_checked: str | None, *, with_answer: bool = True) -> dict:
    body = mcq_body(question)
    relevant = corresponding_triples(triples, question)
    corresponding = [format_triple(t) for t in relevant]
    messages = [{"role": "user", "content": ood_prompt(character=step.character, plot_summary=step.plot.summary,
                                                       scenario=step.plot.scenario, triples=corresponding,
                                                       question=body["Question"], options=body["Options"])}]
    if with_answer:
        messages.append({"role": "assistant", "content": answer_message(body["Correct Answer"])})
    meta = question_provenance(question, step, not_checked)
    return {
        "record_id": meta["qa_id"], "record_type": "ood",
        "messages": messages,
        "corresponding_triples": corresponding,
        "triples": [format_triple(t) for t in triples],
        "plot_id": step.plot.index, "book_name": step.work.title, "character": step.character,
        "correct_answer": body["Correct Answer"], "qa_type": question.dimension.label,
        "relation": relevant[0].base_relation,
        "triples_structured": [t.as_dict() for t in triples + retired],
        "provenance": {**provenance, "questions": [meta],
                       "mcq": {"scenario": body["Scenario"], "reasoning": body["Reasoning"],
                               "answer": question.draft.answer}},
    }


def answer_message(letter: str) -> str:
    return f"Answer: {letter}"


def ood_prompt(*, character: str, plot_summary: str, scenario: str, triples: list[str], question: str,
               options: list[str]) -> str:
    """The evaluation prompt of spec section 10 (condition (b): with the relevant triples)."""
    return render(OOD_TEMPLATE, character=character, plot_summary=plot_summary, scenario=scenario, triples=triples,
                  question=question, options=options)


def ood_prompt_fields(record: dict) -> dict:
    """What an OOD record's prompt was rendered from, read back from the record: every section of
    the prompt is one line (summary, scenario and question are kept on one line), and the triples
    shown are `corresponding_triples`. invariants.ood_prompt_renders checks the round trip."""
    lines = record["messages"][0]["content"].split("\n")

    def line_after(label: str) -> str:
        return lines[lines.index(label) + 1] if label in lines else ""

    start = lines.index("CANDIDATE CHOICES:") + 1 if "CANDIDATE CHOICES:" in lines else len(lines)
    return {"character": record["character"], "plot_summary": line_after("STORY PLOT:"),
            "scenario": line_after("SCENARIO:"), "triples": list(record["corresponding_triples"]),
            "question": line_after("QUESTION:"), "options": lines[start:start + len(LETTERS)]}


def corresponding_triples(triples: list[Triple], question: CheckedQuestion) -> list[Triple]:
    """2-4 triples relevant to the question (spec section 6, step 9): its dimension first, then by
    words shared with the question (ties keep generation order). Never by the gold answer: the
    prompt shows these triples next to the options, and triples picked for sharing the gold's words
    would point at it."""
    words = {name_key(w) for w in question.draft.question.split()}

    def rank(item):
        position, triple = item
        shared = len(words & {name_key(w) for w in triple.object.split()})
        return (triple.dimension != question.dimension.name, -shared, position)

    ranked = [t for _, t in sorted(enumerate(triples), key=rank)]
    same = sum(t.dimension == question.dimension.name for t in triples)
    count = max(MIN_CORRESPONDING, min(MAX_CORRESPONDING, same))
    return ranked[:min(count, len(ranked))]
