"""What the shared machinery needs to know about one benchmark.

A builder declares one `Benchmark`; validation, dedup, splits, the release layout and the dataset
card read everything benchmark-specific from it, so none of them special-cases a benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .answer_key import AnswerKey
    from .audit import MCItem

Record = dict


@dataclass(frozen=True)
class Benchmark:
    name: str  # "tomato": schemas/<name>.schema.json, cards/<name>.md, prompts/<name>/
    pretty_name: str
    id_field: str  # a stable, unique record id
    group: Callable[[Record], str]  # records of one group never straddle two splits
    dedup_text: Callable[[Record], str]  # the text compared by exact and near-duplicate removal
    # config name -> membership test; the first non-empty config is the default one
    configs: dict[str, Callable[[Record], bool]]
    # configs built by separate runs (PersonaEval's tracks), not views of one record set: a release keeps
    # the latest release's records of each config its build made none of (release/carried_configs.py)
    separately_built_configs: bool = False
    splits: dict[str, float] = field(default_factory=lambda: {"test": 1.0})
    # categorical fields whose distributions the card tabulates and charts
    stats_fields: tuple[str, ...] = ()
    answer_field: str | None = None  # gold-position field for the answer-position histogram
    # how gold positions are dealt at release time from the owner's private salt (builders.answer_key)
    answer_key: "AnswerKey | None" = None
    # a record's multiple-choice questions as the shortcut audit sees them (builders.audit.MCItem)
    mc_items: "Callable[[Record], list[MCItem]] | None" = None
    # a benchmark without multiple-choice questions audits its labels its own way: records -> the
    # report builders.audit.audit returns (items, chance, flag_margin, baselines, flagged)
    shortcut_audit: Callable[[list[Record]], dict] | None = None
    sort_key: Callable[[Record], tuple] | None = None  # stable row order in a release
    # cross-field checks run after the JSON schema: each returns an error message or None
    checks: tuple[Callable[[Record], str | None], ...] = ()
    # the release's figures next to the original's (builders.figures): records -> list[Figure]
    figures: Callable[[list[Record]], list] | None = None
    license: str = "cc-by-4.0"
    task_categories: tuple[str, ...] = ("question-answering",)
    tags: tuple[str, ...] = ()
    language: tuple[str, ...] = ("en",)

    @property
    def default_config(self) -> str:
        return next(iter(self.configs))
