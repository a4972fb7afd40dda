"""What the published scene format cannot hold, made to fit by the program and listed for provenance.

A capable model writes natural prose: line breaks, brackets, any Unicode. Most of it is kept as
written (curly quotes, dashes, accents, digits). Three things the CoSER format cannot carry are
changed here, never re-asked, and each change is noted (`Normaliser.notes`, kept in the scene's
provenance as `normalised`):
- one-line fields (topic, scenario, summary, thoughts, stage directions, speeches): line breaks and
  runs of spaces are joined into single spaces;
- a `[thought]` or `(action)` of a message: brackets and parentheses inside it are removed, or they
  would close the delimiters early (coser.clean_inner);
- a written speech: square brackets are removed, or evaluation would strip the words inside them
  as a hidden thought.
Source speeches are never normalised: they stay verbatim (coser.is_verbatim checks them).
"""

from __future__ import annotations

import re

from builders.moral_roleplay.coser import clean_inner

_SQUARE = re.compile(r"[\[\]]")


class Normaliser:
    """Collects the notes of one scene, in the order its fields are made (deterministic)."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def line(self, text: str, where: str) -> str:
        joined = " ".join(text.split())
        if joined != text.strip():
            self.notes.append(f"{where}: line breaks and runs of spaces joined")
        return joined

    def inner(self, text: str, where: str) -> str:
        """A thought or action, to sit inside [ ] or ( )."""
        joined = self.line(text, where)
        cleaned = clean_inner(joined)
        if cleaned != joined:
            self.notes.append(f"{where}: brackets and parentheses removed")
        return cleaned

    def speech(self, text: str, where: str) -> str:
        """Words a model wrote for a character to say."""
        joined = self.line(text, where)
        cleaned = " ".join(_SQUARE.sub(" ", joined).split())
        if cleaned != joined:
            self.notes.append(f"{where}: square brackets removed")
        return cleaned
