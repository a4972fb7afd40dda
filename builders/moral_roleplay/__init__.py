"""Moral RolePlay builder: CoSER-style scenes from public-domain works, every key character
labelled with a moral level (1 paragon .. 4 villain) and traits from a closed 77-trait vocabulary,
and a level-balanced test set.

    python -m builders.moral_roleplay --n 40                   # 10 test portrayals per level, top-up on
    python -m builders.moral_roleplay.export <release> --out DIR  # the original JSON files

Modules, in build order: windows (source scenes), steps (prompt rendering, requests, and the
contract a model gets from its profile: natural prose for a capable model, the strict grammar for the
embedded one), writing + scenes (LLM brief, rating, thoughts, profiles around the verbatim source
dialogue), normalise (what the scene format cannot hold, made to fit and noted), completeness (the
scene filter's measure), annotate + agreement (yes/no answers -> level by rule, self-contradictory
answers -> no level, two annotators fit to judge, adjudication, the scene's tone; without one, or
when their agreement is at chance, portrayals are not judged), synthetic (top-up scenes),
balance (test selection with origin balance, spread and trait hill-climb), records + invariants
(released rows), figures (the release next to the original's figures and counts, level by origin),
shortcuts (can a test portrayal's level be told without judging it? builders/label_audit.py), build
(the wiring, the agreement gate),
export (compatibility files). Data: data/traits.json (vocabulary, synonyms, polarity),
data/level_rule.json (questions -> level), data/trait_targets.json (official trait counts),
data/sources.json (default plays), data/synthetic.json (top-up settings), data/original.json (the
original's figures and the lengths asked of a capable model). Model-specific limits:
`limits.moral_roleplay` in builders/llm/profiles.yaml. Prompts: prompts/moral_roleplay/.
"""
