"""The work-level pass: chunk a work, extract every chunk's plots concurrently, number the plots.

`extract_work` is what builders call. Chunks run concurrently (at most `concurrency` in flight)
but their results are consumed in chunk order, so plot indices, funnel counts and rejects are the
same on every run whatever the timing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from builders.pipeline import ordered_map
from builders.scenes.chunks import Chunk, chars_for_tokens, chunk_work
from builders.scenes.plots import Plot, extract_chunk
from builders.sources import Work

# The embedded model serves 2048 tokens per slot (builders.llm.providers.local_model); hosted
# models get CoSER's 8,192-token chunks.
LOCAL_CONTEXT_TOKENS = 2048
HOSTED_CHUNK_TOKENS = 8192
PROMPT_OVERHEAD_TOKENS = 450  # instructions, names and JSON framing around the chunk text


def default_chunk_chars(model_label: str, *, output_tokens: int) -> int:
    """Chunk size (characters) that leaves room for the instructions and the reply in the context."""
    if model_label.startswith("local:"):
        return chars_for_tokens(LOCAL_CONTEXT_TOKENS - PROMPT_OVERHEAD_TOKENS - output_tokens)
    return chars_for_tokens(HOSTED_CHUNK_TOKENS)


@dataclass
class WorkScenes:
    work: Work
    chunks: list[Chunk]
    plots: list[Plot]  # in text order, `index` = position in this list
    rejects: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # funnel: chunks, extraction attempts, plots


async def extract_work(llm, work: Work, *, max_chars: int, concurrency: int = 4, max_plots: int = 3,
                       min_turns: int = 6, attempts: int = 2, max_tokens: int = 700,
                       max_chunks: int | None = None) -> WorkScenes:
    """Every anchored plot of `work` (of its first `max_chunks` chunks when given)."""
    chunks = chunk_work(work, max_chars=max_chars)[:max_chunks]

    async def one(chunk: Chunk):
        return await extract_chunk(llm, work, chunk, max_plots=max_plots, min_turns=min_turns,
                                   attempts=attempts, max_tokens=max_tokens)

    scenes = WorkScenes(work=work, chunks=chunks, plots=[])
    counts = {"scene chunks": len(chunks), "scene extraction calls": 0, "plots anchored": 0}
    async for result in ordered_map(one, chunks, concurrency=concurrency):
        counts["scene extraction calls"] += result.attempts
        scenes.rejects.extend(result.rejects)
        for plot in result.plots:
            scenes.plots.append(dataclasses.replace(plot, index=len(scenes.plots)))
    counts["plots anchored"] = len(scenes.plots)
    scenes.counts = counts
    return scenes
