"""LitCharToM questions as the shortcut audit sees them (builders/audit.py): can the gold be found
without working out the character's mind?

- question: the question ("What does Lear believe about ...?");
- context: what the evaluation shows besides the question and options: the plot summary and the
  scenario (condition (a) of spec section 10), and for an OOD record also the relevant triples its
  released prompt shows (condition (b), the one its lm-eval tasks run);
- options: the four option texts without their letters. They share one frame ("Lear believes
  ..."), so overlap and length differences come from what follows it.

`shortcut_audit` is the release's audit: builders/audit.py over these items, plus the two
baselines of structure.py, which read where option texts appear across the whole release.
"""

from __future__ import annotations

from builders.audit import MCItem, audit
from builders.litchartom import structure
from builders.litchartom.figures import mcq_items, plot_texts
from builders.litchartom.records import LETTERS


def context_of(record: dict) -> str:
    summary, scenario = plot_texts(record)
    return "\n".join([summary, scenario, *(record.get("corresponding_triples") or [])])


def mc_items(record: dict) -> list[MCItem]:
    context = context_of(record)
    return [MCItem(question=item["question"], context=context, options=tuple(item["options"]),
                   gold=LETTERS.index(item["correct"])) for item in mcq_items(record)]


def shortcut_audit(records: list[dict]) -> dict:
    report = audit([item for record in records for item in mc_items(record)])
    if not report["items"]:
        return report
    rows = [*report["baselines"], *structure.baselines(records)]
    return {**report, "baselines": rows, "flagged": [row["baseline"] for row in rows if row["flagged"]]}
