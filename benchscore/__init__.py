"""Scoring models on benchmark releases: each original's evaluation protocol, with its known
defects fixed, run through the toolkit's LLM layer; results travel with the release.

    python -m benchscore <release folder | org/name> --model <model string> [...]

See docs/scoring.md.
"""
