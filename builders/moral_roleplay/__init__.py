"""Moral RolePlay builder: CoSER-style scenes from public-domain works, every key character
labelled with a moral level (1 paragon .. 4 villain) and traits from a closed 77-trait vocabulary,
and a level-balanced test set.

    python -m builders.moral_roleplay --n 40 --top-up          # 10 test portrayals per level

Modules, in build order: windows (source scenes), steps (prompt rendering and requests), writing + scenes (LLM brief, rating, thoughts,
profiles around the verbatim source dialogue), annotate + agreement (two annotators, adjudication),
synthetic (top-up scenes), balance (test selection), records + invariants (released rows), build
(the wiring). Data: data/traits.json (vocabulary, synonyms, polarity), data/sources.json (default
plays), data/synthetic.json (top-up settings). Prompts: prompts/moral_roleplay/.
"""
