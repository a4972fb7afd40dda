"""Agreement between two annotators: the agreement rate, Cohen's kappa, and whether the agreement
is above chance, which decides whether their labels may be released at all.

Cohen's kappa is (observed - expected) / (1 - expected), `expected` being the agreement two raters
with these label frequencies would reach by chance. When every annotation computed one and the same
level, `expected` is 1 and kappa is undefined: agreement then says nothing about the annotator (a
model that answers every question alike computes one level for everyone and "agrees" with itself
every time). Labels are released as agreed only when the agreement is shown above chance
(`chance_verdict`): kappa defined, at least MIN_KAPPA, and the one-sided test of kappa = 0 (the
large-sample variance under the null of Fleiss, Cohen and Everitt 1969, as statsmodels'
`cohens_kappa` computes it) significant at SIGNIFICANCE.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from builders.moral_roleplay.vocab import LEVELS

# Landis and Koch call kappa below 0.2 "slight": labels that weak would be released as agreed
# although the two annotators mostly disagree beyond what their label frequencies explain.
MIN_KAPPA = 0.2
SIGNIFICANCE = 0.05


def cohen_kappa(first: list, second: list, categories=LEVELS) -> float | None:
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


def kappa_p_value(first: list, second: list, categories=LEVELS) -> float | None:
    """One-sided p-value of kappa > 0 (the z test under kappa = 0); None when kappa is undefined."""
    kappa = cohen_kappa(first, second, categories)
    if kappa is None:
        return None
    total = len(first)
    share_a = {c: n / total for c, n in Counter(first).items()}
    share_b = {c: n / total for c, n in Counter(second).items()}
    expected = sum(share_a.get(c, 0) * share_b.get(c, 0) for c in categories)
    spread = sum(share_a.get(c, 0) * share_b.get(c, 0) * (share_a.get(c, 0) + share_b.get(c, 0)) for c in categories)
    variance = (expected + expected ** 2 - spread) / (total * (1 - expected) ** 2)
    if variance <= 0:  # each annotator constant, on different labels: nothing beyond chance
        return 1.0 if kappa <= 0 else 0.0
    z = kappa / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def agreement_summary(pairs: list[tuple], categories=LEVELS) -> dict:
    """Counts and rates over (annotator 1, annotator 2) label pairs."""
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    agreed = sum(a == b for a, b in pairs)
    kappa = cohen_kappa(first, second, categories)
    p_value = kappa_p_value(first, second, categories)
    summary = {
        "pairs": len(pairs),
        "agreed": agreed,
        "agreement_rate": round(agreed / len(pairs), 4) if pairs else None,
        "cohen_kappa": round(kappa, 4) if kappa is not None else None,
        "p_value_vs_chance": round(p_value, 4) if p_value is not None else None,
    }
    if categories == LEVELS:
        one_level = sum(abs(a - b) == 1 for a, b in pairs)
        summary.update(one_level_apart=one_level, two_or_more_apart=len(pairs) - agreed - one_level)
    return summary


@dataclass(frozen=True)
class Verdict:
    above_chance: bool
    reason: str  # one line: what was measured and what it means
    stats: dict  # agreement_summary


def chance_verdict(pairs: list[tuple], categories=LEVELS, *, what: str = "level") -> Verdict:
    """Whether two annotators' agreement over `pairs` (of `what` labels) is shown above chance
    (module docstring)."""
    stats = agreement_summary(pairs, categories)
    kappa, p_value = stats["cohen_kappa"], stats["p_value_vs_chance"]
    measured = (f"{stats['agreed']} of {stats['pairs']} {what} pairs agreed, Cohen's kappa {kappa}"
                + (f", one-sided p {p_value} against chance" if p_value is not None else ""))
    if not pairs:
        return Verdict(False, f"no two annotations both gave a {what}: agreement cannot be measured", stats)
    if kappa is None:
        only = min({label for pair in pairs for label in pair}, key=str)
        return Verdict(False, f"every annotation gave {what} {only}: chance agreement is 1, so agreeing says "
                              f"nothing ({measured})", stats)
    if kappa < MIN_KAPPA or p_value >= SIGNIFICANCE:
        return Verdict(False, f"agreement at chance ({measured}; labels need kappa >= {MIN_KAPPA} and p < "
                              f"{SIGNIFICANCE})", stats)
    return Verdict(True, f"agreement above chance ({measured})", stats)
