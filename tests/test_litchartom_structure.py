"""The release-structure baselines (builders/litchartom/structure.py): on a release whose questions
take distractors from the pool one by one they find golds well above chance; on one dealt in closed
blocks of four they stay at chance, which is what distractors.py relies on."""

from __future__ import annotations

import random

from builders.litchartom.structure import EARLIER, OWNED, baselines
from builders.litchartom.vocab import DIMENSIONS

BELIEF = DIMENSIONS["belief"]


def _record(character: str, plot: int, texts: list[str], gold: int) -> dict:
    body = {"Scenario": "s", "Reasoning": "r", "Question": f"What does {character} believe?",
            "Options": [f"{'ABCD'[i]}. {character} believes {text}" for i, text in enumerate(texts)],
            "Correct Answer": "ABCD"[gold]}
    return {"record_type": "current", "book_name": "Book", "character": character, "plot_index": plot,
            "plot_summary": "p", "scenario": "s", "qa_data": {"Target Character": [{BELIEF.label: body}]}}


def _release(*, blocks: bool, plots: int = 80, cast: int = 6, seed: int = 0) -> list[dict]:
    """`cast` characters per plot, each with its own gold text; distractors from the same plot
    (one by one at random, or in blocks of four sharing their texts) and, one by one, now and then
    from an earlier plot."""
    rng = random.Random(seed)
    records, earlier = [], []
    for plot in range(plots):
        golds = {f"C{c}": f"gold of C{c} at plot {plot}" for c in range(cast)}
        names = list(golds)
        groups = [names[i:i + 4] for i in range(0, cast - cast % 4, 4)] if blocks else [[name] for name in names]
        for group in groups:
            for name in group:
                if blocks:
                    others = [golds[other] for other in group if other != name]
                else:
                    pool = [golds[other] for other in names if other != name]
                    others = rng.sample(pool, 3)
                    if earlier and rng.random() < 0.5:
                        others[2] = rng.choice(earlier)
                texts = [golds[name], *others]
                order = list(range(4))
                rng.shuffle(order)
                records.append(_record(name, plot, [texts[i] for i in order], order.index(0)))
        earlier += list(golds.values())
    return records


def _rows(records: list[dict]) -> dict:
    return {row["baseline"]: row for row in baselines(records)}


def test_a_pool_dealt_one_question_at_a_time_gives_golds_away():
    rows = _rows(_release(blocks=False))
    assert rows[EARLIER]["accuracy"] > 0.28  # half the questions have one option ruled out: 1/3 there
    assert rows[OWNED]["accuracy"] > 0.4 and rows[OWNED]["flagged"]


def test_closed_blocks_of_four_leave_both_baselines_at_chance():
    rows = _rows(_release(blocks=True))
    assert rows[EARLIER]["accuracy"] == rows[OWNED]["accuracy"] == 0.25
    assert not rows[EARLIER]["flagged"] and not rows[OWNED]["flagged"]


def test_a_block_missing_questions_stays_at_chance():
    """A question rejected after its block was dealt leaves the others' options as they were."""
    records = [record for i, record in enumerate(_release(blocks=True, seed=1)) if i % 3]
    assert _rows(records)[OWNED]["accuracy"] == 0.25
