"""Which protocol scores a release, and which of its configs and which split.

The benchmark is read from the release's manifest, never guessed from a folder name; `--benchmark`
only states what the caller expects, so a script scoring ToMATO cannot silently score a
PersonaEval release handed to it by mistake.
"""

from __future__ import annotations

import random

from benchscore import litchartom, moral_roleplay, personaeval, tomato
from benchscore.protocol import Protocol, ScoringError, Unit

PROTOCOLS: dict[str, Protocol] = {p.benchmark: p for p in (tomato.PROTOCOL, personaeval.PROTOCOL,
                                                          litchartom.PROTOCOL, moral_roleplay.PROTOCOL)}


def protocol_for(manifest: dict, expected: str | None = None) -> Protocol:
    benchmark = manifest["benchmark"]
    if expected and benchmark != expected:
        raise ScoringError(f"this is a {benchmark} release (v{manifest['version']}), not a {expected} one; pass a "
                           f"{expected} release, or drop --benchmark to score it as {benchmark}")
    if benchmark not in PROTOCOLS:
        raise ScoringError(f"no scoring protocol for benchmark {benchmark!r}; benchscore scores "
                           f"{', '.join(PROTOCOLS)}")
    return PROTOCOLS[benchmark]


def chosen_configs(protocol: Protocol, counts: dict[str, dict[str, int]], config: str | None,
                   split: str) -> tuple[str, ...]:
    """--config if given (it must be released), else the protocol's defaults the release has;
    each must hold `split`."""
    if config is not None:
        if config not in counts:
            raise ScoringError(f"--config {config!r} is not in this release; its configs are {', '.join(counts)}")
        configs = (config,)
    else:
        configs = tuple(name for name in protocol.default_configs if name in counts)
        if not configs:
            raise ScoringError(f"this release has none of the configs {protocol.benchmark} scores by default "
                               f"({', '.join(protocol.default_configs)}); pass --config (one of {', '.join(counts)})")
    for name in configs:
        if split not in counts[name]:
            raise ScoringError(f"config {name!r} has no split {split!r}; its splits are {', '.join(counts[name])} "
                               "(pass --split)")
    return configs


def limited(units: list[Unit], limit: int | None, seed: int) -> list[Unit]:
    """A seeded sample of `limit` units, kept in release order (release order groups items by
    conversation or book, so its first N would be a few conversations, not a sample)."""
    if limit is None or limit >= len(units):
        return units
    keep = set(random.Random(seed).sample(range(len(units)), limit))
    return [unit for index, unit in enumerate(units) if index in keep]
