"""What the scoring machinery needs to know about one benchmark's evaluation protocol.

Each benchmark module (benchscore/tomato.py, personaeval.py, litchartom.py, moral_roleplay.py)
declares one `Protocol`: which configs it scores by default, how release rows become *units* of
work (an item; a scene in Moral RolePlay), how one unit is run against the model, and how the
predictions become scores. The runner, the results files and the card read everything
benchmark-specific from it, as the release tooling reads a builder's `Benchmark`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from benchscore.moral_simulation import MAX_ROUNDS
from benchscore.stats import Bootstrap


class ScoringError(Exception):
    """Bad input (a release, a config, an option): the message names the problem and the fix."""


@dataclass(frozen=True)
class Options:
    """How a run scores: everything here is recorded in scores.json."""

    configs: tuple[str, ...]
    split: str = "test"
    limit: int | None = None  # score a seeded sample of this many units
    seed: int = 0
    samples: int | None = None  # ToMATO: K sampled answers per item (None: greedy decoding)
    triples: bool = False  # LitCharToM: condition (b), the relevant triples in the prompt
    max_rounds: int = MAX_ROUNDS  # Moral RolePlay: replies per simulated scene
    bootstrap: Bootstrap = field(default_factory=Bootstrap)


@dataclass(frozen=True)
class Unit:
    """One piece of work: an item (or a scene), from one config."""

    id: str
    config: str
    data: Any


@dataclass
class Prediction:
    """One scored answer; a row of predictions.parquet."""

    id: str
    config: str
    gold: str
    prediction: str | None  # None: nothing could be read from the reply
    raw_reply: str
    parsed: bool
    correct: bool | None  # None where right/wrong does not apply (a fidelity score)
    value: float | None  # this row's contribution to the headline metric; None: not scored
    request_hash: str
    sample: int = 0
    probabilities: dict[str, float] | None = None
    groups: dict[str, Any] = field(default_factory=dict)  # breakdown labels (mental_state, track...)
    details: dict[str, Any] = field(default_factory=dict)  # parse rule, errors, counts

    def row(self) -> dict:
        return {"id": self.id, "config": self.config, "sample": self.sample, "gold": self.gold,
                "prediction": self.prediction, "raw_reply": self.raw_reply, "parsed": self.parsed,
                "correct": self.correct, "value": self.value, "request_hash": self.request_hash,
                "probabilities": None if self.probabilities is None else _json(self.probabilities),
                "groups": _json(self.groups), "details": _json(self.details)}


@dataclass
class Context:
    """What a protocol's `run` may use: the model under test, the judge, the options."""

    llm: Any  # builders.llm.LLM (or a test double with `chat`)
    judge: Any
    options: Options


@dataclass(frozen=True)
class Protocol:
    benchmark: str
    metric: str  # the headline score's name, e.g. "accuracy"
    scale: float  # the headline's full range (1.0 for a share, 5.0 for fidelity): calibration points are % of it
    default_configs: tuple[str, ...]  # scored when --config is not given (those the release has)
    units: Callable[[dict[str, list[dict]], Options], list[Unit]]  # rows by config -> units
    run: Callable[[Unit, Context], Awaitable[list[Prediction]]]
    summarise: Callable[[list[Prediction], Options], dict]  # -> {"headline": {...}, "breakdowns": {...}}
    prompts: Callable[[Options], tuple[str, ...]]  # templates under prompts/ the run renders
    decoding: Callable[[Options], dict]  # sampling parameters, recorded with the scores
    variant: Callable[[Options], list[str]] = lambda options: []  # results-folder suffixes for non-defaults
    judged: bool = False  # True: --judge-model takes part (Moral RolePlay)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
