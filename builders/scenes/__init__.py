"""The CoSER-style scene layer shared by the literature builders (LitCharToM, Moral RolePlay).

A `Work` (builders.sources) becomes a list of anchored plots, each with a summary, a scenario,
its key characters (resolved to the work's character ids) and its conversation.

    from builders.scenes import SceneContract, chunk_work, extract_work, default_chunk_chars, load_works, split_corpus

    works = load_works(plays=["king-lear"], pdnc_dir=Path(...), novels=["Emma"])   # UserError on bad names
    corpus = split_corpus(works, held_out=["Emma"])        # Corpus(in_distribution, held_out), by work
    max_chars = default_chunk_chars(llm.profile)           # the profile's chunk size, within its context
    chunks = chunk_work(work, max_chars=max_chars)         # list[Chunk]; no LLM
    contract = SceneContract.of(llm.profile, summary_words=75, scenario_words=85)  # targets: natural only
    scenes = await extract_work(llm, work, max_chars=max_chars, contract=contract, concurrency=4,
                                min_turns=6, attempts=2, max_chunks=None)
    scenes.plots       # list[Plot], text order, plot.index = position
    scenes.rejects     # [{"stage": "scenes", "reason", "record"}]: anchors not found, short conversations
    scenes.counts      # funnel counts: "scene chunks", "scene extraction calls", "plots anchored"

`Chunk(work_id, index, section_ids, span, text, turns, oversized)`: segmentation never cuts inside
a turn, joins whole sections (plays: scenes of one act) while they fit and cuts an over-long section
at paragraph breaks (see chunks.py).

Model-specific sizes (chunk tokens, plots per chunk, names offered, anchor enums, reply size, text
bounds) come from the profile's `scenes.*` limits (builders/llm/profiles.yaml); the contract
(strict: tight patterns for the embedded model; natural: structure only, lengths stated) from its
`contract` field (contract.py).

`Plot(work_id, index, chunk_index, section_ids, span, summary, scenario, key_characters,
conversation, anchors, provenance)`:
- `span` is verified: the model's quoted first and last lines were found in the chunk
  (`anchors.find_quote`); plots whose anchors fail are dropped with a reason.
- `key_characters`: `KeyCharacter(id | None, name, source="model" | "speaker")`; the model picks
  from an enum of the chunk's names, resolved through `Work.resolve` (the alias registry), plus the
  plot's speakers with at least two turns. `plot.character_ids()` lists the resolved ids.
- `conversation`: `Utterance(speaker_id, speaker, text, span, attribution, turn_id)`. Plays and
  PDNC: the source turns, verbatim, `attribution="source"`. Books without speakers: quotes the
  model attributed, kept only when found in the plot's text, `attribution="model"`.
- `provenance`: the extraction reply's provenance (model, request hash, sample, prompt hash),
  whether it was cached, and what the program changed (`normalised`: line breaks joined in the
  summary or scenario; `names_not_in_plot`: names the model picked that the plot never has).

Prompts: prompts/scenes/plot_system.j2 and plot_user.j2 (`plots.prompt_hash()` hashes both).
The layer writes no thoughts or profiles (CoSER steps 5-7); builders that need them add a step.
"""

from builders.scenes.anchors import find_quote
from builders.scenes.chunks import Chunk, chars_for_tokens, chunk_work, estimate_tokens
from builders.scenes.contract import SceneContract, plot_schema
from builders.scenes.corpus import Corpus, load_works, split_corpus
from builders.scenes.layer import WorkScenes, default_chunk_chars, extract_work
from builders.scenes.plots import (
           KeyCharacter,
           Plot,
           Utterance,
           extract_chunk,
           prompt_hash,
)

__all__ = ["Chunk", "Corpus", "KeyCharacter", "Plot", "SceneContract", "Utterance", "WorkScenes",
           "chars_for_tokens", "chunk_work", "default_chunk_chars", "estimate_tokens", "extract_chunk",
           "extract_work", "find_quote", "load_works", "plot_schema", "prompt_hash", "split_corpus"]
