"""Agreement between two annotators of the moral level: the agreement rate and Cohen's kappa."""

from __future__ import annotations

from collections import Counter

from builders.moral_roleplay.vocab import LEVELS


def cohen_kappa(first: list[int], second: list[int], categories=LEVELS) -> float | None:
    """Cohen's kappa of two label lists; None when undefined (no pairs, or chance agreement of 1)."""
    if len(first) != len(second):
        raise ValueError(f"kappa needs paired labels; got {len(first)} and {len(second)}")
    total = len(first)
    if total == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / total
    count_a, count_b = Counter(first), Counter(second)
    expected = sum(count_a[c] * count_b[c] for c in categories) / (total * total)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def agreement_summary(pairs: list[tuple[int, int]]) -> dict:
    """Counts and rates over (annotator 1, annotator 2) level pairs."""
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    agreed = sum(a == b for a, b in pairs)
    one_level = sum(abs(a - b) == 1 for a, b in pairs)
    kappa = cohen_kappa(first, second)
    return {
        "pairs": len(pairs),
        "agreed": agreed,
        "one_level_apart": one_level,
        "two_or_more_apart": len(pairs) - agreed - one_level,
        "agreement_rate": round(agreed / len(pairs), 4) if pairs else None,
        "cohen_kappa": round(kappa, 4) if kappa is not None else None,
    }
