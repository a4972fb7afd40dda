"""This release's figures next to the original ToMATO's (builders/figures.py).

Lengths are counted in words (whitespace-separated) over records, as the spec measured them on
tomato_fb.json: an option, a record's whole `conversation` (a transcript counts once per question
asked about it there too) and a question. The gold-minus-distractor gap, the false-belief share,
the question-form share, the number of Big Five patterns and the answer positions are the other
statistics the spec's section 8 gives. Counts say how varied the release is: conversations,
combos (an environment and its two agents), environments, agents, Big Five patterns and mental
states, next to the original's (most of them published for its FB file only, which the text says).
A question released as not judged for false belief (false_belief null) has no label, so the
false-belief share is over the questions that have one (n/a when no order-2 question has). The
numbers and the spec section each comes from are in data/original.json.
"""

from __future__ import annotations

from builders.figures import Figure, mean, share, words
from builders.tomato.original import ORIGINAL

OPTIONS = ("a0", "a1", "a2", "a3")


def figures(records: list[dict]) -> list[Figure]:
    return [*_length_figures(records), *_item_figures(records), *_count_figures(records),
            *_position_figures(records)]


def _length_figures(records: list[dict]) -> list[Figure]:
    options, conversation, question = ORIGINAL["option_words"], ORIGINAL["conversation_words"], \
        ORIGINAL["question_words"]
    return [
        Figure("option words (mean)", mean(words(r[key]) for r in records for key in OPTIONS), options["mean"],
               options["text"], kind="length"),
        Figure("conversation words (mean)", mean(words(r["conversation"]) for r in records), conversation["mean"],
               conversation["text"], kind="length"),
        Figure("question words (mean)", mean(words(r["q"]) for r in records), question["mean"], question["text"],
               kind="length"),
    ]


def _gold_minus_distractor_words(records: list[dict]) -> float | None:
    gold = mean(words(r["a_str"]) for r in records)
    distractors = mean(words(r[key]) for r in records for i, key in enumerate(OPTIONS) if i != r["a_idx"])
    return None if gold is None else round(gold - distractors, 2)


def _false_belief_share(records: list[dict]) -> float | None:
    labelled = [r for r in records if r["false_belief"] is not None]
    if not any(r["order"] == 2 for r in labelled):
        return None
    return share(r["false_belief"] for r in labelled)


def _item_figures(records: list[dict]) -> list[Figure]:
    gap, fb = ORIGINAL["gold_minus_distractor_words"], ORIGINAL["false_belief_share"]
    form = ORIGINAL["when_form_share"]
    return [
        Figure("gold minus distractor words (mean)", _gold_minus_distractor_words(records), gap["value"],
               gap["text"]),
        Figure("false-belief share (of questions with a label)", _false_belief_share(records), fb["value"],
               fb["text"], kind="share"),
        Figure('question form "When X says ..." (share)', share(r["q"].startswith("When ") for r in records),
               form["value"], form["text"], kind="share"),
    ]


# figure name -> (its data/original.json key, what one record counts toward)
COUNTED = {
    "conversations (distinct)": ("conversations", lambda r: [(r["sotopia_environment"], *r["sotopia_agents"],
                                                              r["mental_state"])]),
    "combos (distinct)": ("combos", lambda r: [(r["sotopia_environment"], *r["sotopia_agents"])]),
    "environments (distinct)": ("environments", lambda r: [r["sotopia_environment"]]),
    "agents (distinct)": ("agents", lambda r: r["sotopia_agents"]),
    "Big Five patterns (distinct)": ("big_five_patterns", lambda r: [r["big_five"]]),
    "mental states (distinct)": ("mental_states", lambda r: [r["mental_state"]]),
}


def _count_figures(records: list[dict]) -> list[Figure]:
    return [Figure(name, len({key for r in records for key in counted(r)}) if records else None,
                   ORIGINAL[source]["value"], ORIGINAL[source]["text"], kind="count")
            for name, (source, counted) in COUNTED.items()]


def _position_figures(records: list[dict]) -> list[Figure]:
    counts = ORIGINAL["a_idx_counts"]["counts"]
    total = sum(counts)
    return [Figure(f"a_idx = {index} (share)", share(r["a_idx"] == index for r in records),
                   round(counts[index] / total, 4), f"{counts[index]} of {total} FB items ({counts[index] / total:.1%})",
                   kind="share") for index in range(4)]
