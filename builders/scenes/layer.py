"""The work-level pass: chunk a work, extract every chunk's plots concurrently, number the plots.

`extract_work` is what builders call. Chunks run concurrently (at most `concurrency` in flight)
but their results are consumed in chunk order, so plot indices, funnel counts and rejects are the
same on every run whatever the timing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from builders.llm.errors import ConfigError
from builders.pipeline import ordered_map
from builders.scenes.chunks import Chunk, chars_for_tokens, chunk_work
from builders.scenes.contract import SceneContract
from builders.scenes.plots import Plot, extract_chunk
from builders.sources import Work

PROMPT_OVERHEAD_TOKENS = 450  # instructions, names and JSON framing around the chunk text
MIN_CHUNK_TOKENS = 100  # below this a chunk cannot hold a scene


def default_chunk_chars(profile) -> int:
    """Chunk size (characters) for a model: its profile's scenes.chunk_tokens (CoSER's 8,192), or
    less when the context window must also hold the instructions and the reply (scenes.max_tokens)."""
    room = profile.context_tokens - PROMPT_OVERHEAD_TOKENS - profile.limit("scenes.max_tokens")
    if room < MIN_CHUNK_TOKENS:
        raise ConfigError(f"model profile {profile.name!r}: a context of {profile.context_tokens} tokens leaves "
                          f"{room} for a scene chunk after the instructions and a reply of "
                          f"{profile.limit('scenes.max_tokens')} tokens; raise context_tokens or lower "
                          "scenes.max_tokens in the profile")
    return chars_for_tokens(min(profile.limit("scenes.chunk_tokens"), room))


@dataclass
class WorkScenes:
    work: Work
    chunks: list[Chunk]
    plots: list[Plot]  # in text order, `index` = position in this list
    rejects: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # funnel: chunks, extraction attempts, plots


async def extract_work(llm, work: Work, *, max_chars: int, contract: SceneContract | None = None,
                       concurrency: int = 4, min_turns: int = 6, attempts: int = 2,
                       max_chunks: int | None = None) -> WorkScenes:
    """Every anchored plot of `work` (of its first `max_chunks` chunks when given), asked under
    `contract` (default: the strict one of `llm`'s profile)."""
    chunks = chunk_work(work, max_chars=max_chars)[:max_chunks]

    async def one(chunk: Chunk):
        return await extract_chunk(llm, work, chunk, contract=contract, min_turns=min_turns, attempts=attempts)

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
