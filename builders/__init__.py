"""Builders of role-play and theory-of-mind benchmark datasets."""

__version__ = "0.1.0"
