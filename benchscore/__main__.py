"""`python -m benchscore`: score a model on a benchmark release (see benchscore/cli.py)."""

from benchscore.cli import main

raise SystemExit(main())
