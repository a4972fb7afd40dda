"""What the letter benchmarks (ToMATO, LitCharToM) share: ask, read the letter, score accuracy.

A request that fails for good (the LLM layer gave up after its retries) scores like an unreadable
reply: wrong, and counted. Accuracy is per item: with K samples an item scores the share of its
samples that were right, and intervals resample items, not samples.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from benchscore.answers import parse_letter
from benchscore.protocol import Context, Prediction, Unit
from benchscore.stats import Bootstrap, grouped_means, mean_with_interval
from builders.llm import ChatRequest, RequestFailed

LETTERS = "ABCD"


@dataclass(frozen=True)
class Question:
    messages: list[dict[str, str]]
    options: list[str]  # option texts, A first
    gold: str  # a letter
    groups: dict  # breakdown labels


async def ask(unit: Unit, question: Question, ctx: Context, *, decoding: dict, sample: int, step: str,
              prompt_hash: str) -> Prediction:
    request = ChatRequest(messages=question.messages, temperature=decoding["temperature"],
                          top_p=decoding.get("top_p"), max_tokens=decoding["max_tokens"], sample=sample,
                          step=step, prompt_hash=prompt_hash)
    try:
        reply = await ctx.llm.chat(request)
    except RequestFailed as error:
        return _failed(unit, question, sample, error)
    answer = parse_letter(reply.text, question.options, LETTERS)
    return Prediction(id=unit.id, config=unit.config, gold=question.gold, prediction=answer.letter,
                      raw_reply=reply.text, parsed=answer.letter is not None,
                      correct=answer.letter == question.gold, value=float(answer.letter == question.gold),
                      request_hash=reply.provenance.get("request_hash", ""), sample=sample,
                      groups=question.groups, details={"rule": answer.rule})


def _failed(unit: Unit, question: Question, sample: int, error: RequestFailed) -> Prediction:
    return Prediction(id=unit.id, config=unit.config, gold=question.gold, prediction=None, raw_reply="",
                      parsed=False, correct=False, value=0.0, request_hash=error.request_hash, sample=sample,
                      groups=question.groups, details={"rule": "request failed", "error": error.reason})


def accuracy_summary(predictions: list[Prediction], bootstrap: Bootstrap, group_keys: list[str]) -> dict:
    items = per_item(predictions)
    headline = {"metric": "accuracy", **mean_with_interval([value for value, _ in items], bootstrap),
                **reply_counts(predictions)}
    breakdowns = {key: grouped_means(items, key, bootstrap) for key in group_keys}
    breakdowns["letters"] = letter_distribution(predictions)
    return {"headline": headline, "breakdowns": breakdowns}


def per_item(predictions: list[Prediction]) -> list[tuple[float, dict]]:
    """(share of the item's samples answered right, its groups), one per item, in first-seen order."""
    values: dict[str, list[float]] = {}
    groups: dict[str, dict] = {}
    for prediction in predictions:
        values.setdefault(prediction.id, []).append(prediction.value or 0.0)
        groups.setdefault(prediction.id, prediction.groups)
    return [(sum(v) / len(v), groups[key]) for key, v in values.items()]


def reply_counts(predictions: list[Prediction]) -> dict:
    return {"replies": len(predictions), "unparseable": sum(not p.parsed for p in predictions),
            "failed_requests": sum(p.details.get("rule") == "request failed" for p in predictions)}


def letter_distribution(predictions: list[Prediction]) -> dict:
    """Predicted and gold letters (position bias shows here: an always-"A" model, a skewed key)."""
    predicted = Counter(p.prediction or "unparseable" for p in predictions)
    gold = Counter(p.gold for p in predictions)
    order = [*LETTERS, "unparseable"]
    return {"predicted": {k: predicted[k] for k in order if predicted[k]},
            "gold": {k: gold[k] for k in LETTERS if gold[k]}}
