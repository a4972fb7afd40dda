"""This release's figures next to the original LitCharToM's (builders/figures.py).

The original publishes counts (records, books, characters, triples per OOD row), not lengths; the
counts are set next to this release's per record kind (ID `current`, `ood`). Its lengths here
are those of the one record its README shows, so the card says so next to each. Gold-letter and
distractor-source shares have no published counterpart (the original's letters are skewed towards
B; its distractors' sources are not recorded). The numbers and the spec section each comes from
are in data/original.json.

Both record kinds count: "current" records carry their fields; an "ood" record's plot summary,
scenario, question and options are read back from its rendered prompt (records.OOD_TEMPLATE), its
MCQ scenario and reasoning from its provenance.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from builders.figures import Figure, load_original, mean, share, words
from builders.litchartom.records import LETTERS, WRAPPER_KEY
from builders.litchartom.triples import TripleError, parse_triple

ORIGINAL = load_original(Path(__file__).parent)
DISTRACTOR_KINDS = {"other character": "another character at the same plot",
                    "earlier": "this character at an earlier plot (wrong time)",
                    "other plot": "another character at an earlier plot"}


def figures(records: list[dict]) -> list[Figure]:
    return [*_length_figures(records), *_spread_figures(records), *_count_figures(records), *_share_figures(records)]


def _length(name: str, value: float | None, key: str) -> Figure:
    published = ORIGINAL[key]
    return Figure(name, value, published["value"], published["text"], kind="length")


def _length_figures(records: list[dict]) -> list[Figure]:
    plots = {(r["book_name"], _plot_index(r)): plot_texts(r) for r in records}  # each plot once
    items = [item for r in records for item in mcq_items(r)]
    objects = [_object(t) for r in records for t in r["triples"]]
    return [
        _length("plot summary words (mean over plots)", mean(words(s) for s, _ in plots.values()),
                "plot_summary_words"),
        _length("scenario words (mean over plots)", mean(words(c) for _, c in plots.values()), "scenario_words"),
        _length("option words (mean)", mean(words(o) for item in items for o in item["options"]), "option_words"),
        _length("question words (mean)", mean(words(item["question"]) for item in items), "question_words"),
        _length("MCQ scenario words (mean)", mean(words(item["scenario"]) for item in items), "mcq_scenario_words"),
        _length("MCQ reasoning words (mean)", mean(words(item["reasoning"]) for item in items), "reasoning_words"),
        _length("triple object words (mean)", mean(words(o) for o in objects if o), "triple_object_words"),
    ]


def _spread_figures(records: list[dict]) -> list[Figure]:
    """Per record kind (the original's two test files): records, and the books, characters and
    plots they draw on. A small build that draws on one book and its first plots measures little."""
    found = []
    for kind in ("current", "ood"):
        rows = [r for r in records if r["record_type"] == kind]
        if not rows:
            continue
        found += [
            Figure(f"{kind} records", len(rows), ORIGINAL["records"][kind]["value"], ORIGINAL["records"][kind]["text"],
                   kind="count"),
            Figure(f"books ({kind})", len({r["book_name"] for r in rows}), ORIGINAL["books"][kind]["value"],
                   ORIGINAL["books"][kind]["text"], kind="count"),
            Figure(f"characters ({kind})", len({(r["book_name"], r["character"]) for r in rows}),
                   ORIGINAL["characters"][kind]["value"], ORIGINAL["characters"][kind]["text"], kind="count"),
            Figure(f"plots ({kind})", len({(r["book_name"], _plot_index(r)) for r in rows}), None,
                   ORIGINAL["plots"]["text"], kind="count"),
        ]
    return found


def _count_figures(records: list[dict]) -> list[Figure]:
    per_record, per_character = ORIGINAL["triples_per_record"], ORIGINAL["timesteps_per_character"]
    timelines = Counter((r["book_name"], r["character"]) for r in records if r["record_type"] == "current")
    return [
        Figure("triples per record (mean)", mean(len(r["triples"]) for r in records), per_record["value"],
               per_record["text"], kind="count"),
        Figure("timesteps per character (mean, current records)", mean(timelines.values()),
               per_character["value"], per_character["text"], kind="count"),
    ]


def _share_figures(records: list[dict]) -> list[Figure]:
    golds = [item["correct"] for r in records for item in mcq_items(r)]
    kinds = [source["kind"] for r in records for q in r["provenance"]["questions"]
             for source in q["distractor_sources"]]
    letters, sources = ORIGINAL["gold_letter_share"], ORIGINAL["distractor_source_share"]
    return ([Figure(f"gold letter {letter} (share)", share(g == letter for g in golds), None, letters["text"],
                    kind="share") for letter in LETTERS]
            + [Figure(f"distractors from {what} (share)", share(k == kind for k in kinds), None, sources["text"],
                      kind="share") for kind, what in DISTRACTOR_KINDS.items()])


# -- reading the fields of either record kind -------------------------------------------------------


def _plot_index(record: dict) -> int:
    return record["plot_index"] if record.get("plot_index") is not None else record["plot_id"]


def _object(triple: str) -> str:
    try:
        return parse_triple(triple)[2]
    except TripleError:
        return ""


def plot_texts(record: dict) -> tuple[str, str]:
    """(plot summary, scenario) of a record."""
    if record["record_type"] == "current":
        return record["plot_summary"], record["scenario"]
    sections = _prompt_sections(record)
    return sections["STORY PLOT"][0], sections["SCENARIO"][0]


def mcq_items(record: dict) -> list[dict]:
    """{question, options (without their letters), scenario, reasoning, correct} of each MCQ."""
    if record["record_type"] == "current":
        bodies = [next(body for body in item.values() if body) for item in record["qa_data"][WRAPPER_KEY]]
        return [{"question": b["Question"], "options": [o[3:] for o in b["Options"]], "scenario": b["Scenario"],
                 "reasoning": b["Reasoning"], "correct": b["Correct Answer"]} for b in bodies]
    sections = _prompt_sections(record)
    mcq = record["provenance"]["mcq"]
    return [{"question": sections["QUESTION"][0], "options": [o[3:] for o in sections["CANDIDATE CHOICES"]],
             "scenario": mcq["scenario"], "reasoning": mcq["reasoning"], "correct": record["correct_answer"]}]


def _prompt_sections(record: dict) -> dict[str, list[str]]:
    """The OOD prompt's labelled sections ("STORY PLOT:", "SCENARIO:", ...) -> their non-empty lines."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in record["messages"][0]["content"].splitlines():
        if line.endswith(":") and line[:-1].isupper():
            current = sections.setdefault(line[:-1], [])
        elif current is not None and line.strip():
            current.append(line)
    return sections
