"""Per-chunk plot extraction (CoSER style): one LLM call turns a chunk into anchored plots.

For each plot the model writes its first and last line (quoted from the chunk), a summary, a
scenario and the names of its key characters. With one plot per chunk (the embedded model's
profile: its chunks are a scene or a few paragraphs long) the plot is the whole chunk: the model
writes only the summary, scenario and cast, and the anchors are the chunk's first and last lines.
What the request asks, and in which contract (strict or natural), is contract.py's; everything
else is computed from the source:

- anchors: both quoted lines must be found in the chunk (`anchors.find_quote`), in order; the
  plot's span runs from the first to the last. A plot whose anchors fail is dropped with a reason.
- key characters: the model may only pick names offered to it (an enum of the work's names for
  the speakers and characters of the chunk); names are resolved to character ids through the
  work's alias registry, and the plot's main speakers are added, so a plot's cast does not rest on
  the model alone. When a chunk holds several plots, a name the model picked must be spoken or
  named inside the plot's own span (the names offered are the whole chunk's).
- conversation: when the source knows its speakers (plays, PDNC), the source turns inside the
  plot span, verbatim, with their speaker ids. Otherwise (plain books) the model also returns
  speaker-attributed quotes, and a quote is kept only when its text is found in the plot's span.
- summary and scenario are kept on one line: line breaks and runs of spaces are joined (the plot's
  provenance lists the fields changed so), never re-asked.

A reply with no usable plot is re-asked with a new `sample` index (flagged as a re-ask), a bounded
number of times.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from builders.llm import ChatRequest, RequestFailed
from builders.prompts import render, template_hash
from builders.scenes.anchors import find_quote
from builders.scenes.chunks import Chunk
from builders.scenes.contract import SceneContract, plot_schema
from builders.sources import Turn, Work

SYSTEM_TEMPLATE = "scenes/plot_system.j2"
USER_TEMPLATE = "scenes/plot_user.j2"
STEP = "scenes.plot"
# A line opening offered as an anchor choice: its first words (the profile's scenes.anchor_choices
# says up to how many openings a chunk offers; a small model then copies a real line instead of
# paraphrasing one). Free quotes are fuzzy-matched. Either way the anchors are checked against the text.
ANCHOR_WORDS = 10
KEY_SPEAKER_MIN_TURNS = 2  # a speaker with this many turns in a plot is one of its key characters


@dataclass(frozen=True)
class KeyCharacter:
    id: str | None  # character id in the work, None when the name resolves to nobody (or to several)
    name: str  # canonical display name when resolved, else the name as the model wrote it
    source: str  # "model" (named by the extractor) or "speaker" (added from the source turns)


@dataclass(frozen=True)
class Utterance:
    speaker_id: str | None
    speaker: str
    text: str
    span: tuple[int, int]  # into Work.text
    attribution: str  # "source" (speaker given by the source) or "model" (speaker named by the extractor)
    turn_id: str | None = None


@dataclass(frozen=True)
class Plot:
    work_id: str
    index: int  # position in the work's plot list (the LitCharToM `plot_index`)
    chunk_index: int
    section_ids: tuple[str, ...]
    span: tuple[int, int]  # into Work.text, from the first anchor to the end of the last
    summary: str
    scenario: str
    key_characters: tuple[KeyCharacter, ...]
    conversation: tuple[Utterance, ...]
    anchors: tuple[str, str]  # the first and last line as the model quoted them
    provenance: dict = field(default_factory=dict, compare=False)

    def character_ids(self) -> list[str]:
        return [k.id for k in self.key_characters if k.id is not None]


@dataclass
class ChunkResult:
    """Plots of one chunk (without their work-level index yet) and why anything was dropped."""

    chunk: Chunk
    plots: list[Plot]
    rejects: list[dict]  # {"stage", "reason", "record"}
    attempts: int


# -- the LLM reply shape --------------------------------------------------------------------------


def anchor_choices(chunk: Chunk, most: int) -> list[str] | None:
    """The openings (first words) of the chunk's turns, or of its paragraphs when it has no turns;
    None when there are more than `most` (or fewer than two) to offer as an enum."""
    texts = [t.text for t in chunk.turns] or [p for p in chunk.text.split("\n\n") if p.strip()]
    openings = list(dict.fromkeys(" ".join(text.split()[:ANCHOR_WORDS]) for text in texts if text.split()))
    return openings if 2 <= len(openings) <= most else None


def whole_chunk_anchors(chunk: Chunk) -> dict:
    """First and last line openings of the chunk: the anchors of a plot that is the whole chunk."""
    texts = [t.text for t in chunk.turns] or [p for p in chunk.text.split("\n\n") if p.strip()]
    openings = [" ".join(text.split()[:ANCHOR_WORDS]) for text in texts if text.split()]
    return {"first_line": openings[0], "last_line": openings[-1]} if openings else {"first_line": "", "last_line": ""}


def offered_names(work: Work, chunk: Chunk, most: int) -> list[str]:
    """Display names of the chunk's speakers and of characters named in it, most frequent first."""
    counts: Counter = Counter(t.speaker for t in chunk.turns if t.speaker in work.characters)
    lowered = chunk.text.lower()
    for char_id, character in work.characters.items():
        if char_id not in counts and any(len(n) > 2 and n.lower() in lowered
                                         for n in (character.name, *character.aliases)):
            counts[char_id] += 0  # named, never speaks: offered after the speakers
    ranked = sorted(counts, key=lambda c: (-counts[c], work.characters[c].name))
    return [work.characters[c].name for c in ranked[:most]]


def plot_messages(work: Work, chunk: Chunk, names: list[str], contract: SceneContract, *,
                  with_quotes: bool) -> list[dict]:
    variables = {"title": work.title, "author": work.author, "kind": work.kind, "text": chunk.text.strip(),
                 "names": names, "with_quotes": with_quotes, **contract.prompt_variables()}
    return [{"role": "system", "content": render(SYSTEM_TEMPLATE, **variables)},
            {"role": "user", "content": render(USER_TEMPLATE, **variables)}]


def prompt_hash() -> str:
    return f"{template_hash(SYSTEM_TEMPLATE)[:16]}:{template_hash(USER_TEMPLATE)[:16]}"


# -- one chunk ------------------------------------------------------------------------------------


async def extract_chunk(llm, work: Work, chunk: Chunk, *, contract: SceneContract | None = None,
                        min_turns: int = 6, attempts: int = 2, temperature: float = 0.3) -> ChunkResult:
    """Plots of one chunk; re-asks (new sample index) while a reply yields no usable plot.
    `contract` defaults to the strict one of `llm`'s profile (a natural one needs the caller's targets)."""
    contract = contract or SceneContract.of(llm.profile)
    names = offered_names(work, chunk, contract.max_names)
    with_quotes = not chunk.turns
    anchors = anchor_choices(chunk, contract.anchor_choices)
    request_base = {"messages": plot_messages(work, chunk, names, contract, with_quotes=with_quotes),
                    "schema": plot_schema(names, contract, with_quotes=with_quotes, anchors=anchors),
                    "temperature": temperature, "max_tokens": contract.max_tokens, "step": STEP,
                    "prompt_hash": prompt_hash()}
    rejects: list[dict] = []
    where = {"work_id": work.id, "chunk": chunk.index}
    for sample in range(attempts):
        try:
            reply = await llm.chat(ChatRequest(sample=sample, reask=sample > 0, **request_base))
        except RequestFailed as error:
            rejects.append(_reject(f"extraction failed: {error.reason}", where, sample))
            continue
        provenance = {**reply.provenance, "cached": reply.cached}
        items = reply.data["plots"]
        whole_chunk = contract.max_plots == 1
        if whole_chunk:
            items = [{**items[0], **whole_chunk_anchors(chunk)}]
        plots, problems = plots_from_reply(work, chunk, items, min_turns=min_turns, provenance=provenance,
                                           cast_in_span=not whole_chunk)
        rejects.extend(_reject(problem, where, sample) for problem in problems)
        if plots:
            return ChunkResult(chunk, plots, rejects, sample + 1)
    return ChunkResult(chunk, [], rejects, attempts)


def _reject(reason: str, where: dict, sample: int) -> dict:
    return {"stage": "scenes", "reason": reason, "record": {**where, "sample": sample}}


def plots_from_reply(work: Work, chunk: Chunk, items: list[dict], *, min_turns: int, provenance: dict,
                     cast_in_span: bool = False) -> tuple[list[Plot], list[str]]:
    """Anchor, cast and converse each plot the model proposed; return the usable ones (index -1,
    set later by the work-level pass) and the reasons for the others. With `cast_in_span`, a name
    the model picked joins the cast only when it speaks or is named inside the plot's span."""
    plots, problems = [], []
    cursor = 0  # plots follow each other: the next plot's anchors are searched after this offset
    for number, item in enumerate(items):
        span = anchor_span(chunk.text, item["first_line"], item["last_line"], after=cursor)
        if span is None:
            problems.append(f"anchor not found: plot {number} lines not in the chunk text "
                            f"({item['first_line'][:40]!r} .. {item['last_line'][:40]!r})")
            continue
        absolute = _snap_to_turns((chunk.span[0] + span[0], chunk.span[0] + span[1]), chunk.turns)
        conversation = _conversation(work, chunk, absolute, item.get("quotes", []))
        if len(conversation) < min_turns:
            problems.append(f"conversation too short: plot {number} has {len(conversation)} turns (< {min_turns})")
            continue
        cursor = span[1]
        within = work.text[absolute[0]:absolute[1]] if cast_in_span else None
        cast, outside = _key_characters(work, item["characters"], conversation, within)
        summary, scenario = _clean(item["summary"]), _clean(item["scenario"])
        notes = [f"{name}: line breaks joined" for name in ("summary", "scenario") if _has_breaks(item[name])]
        plots.append(Plot(work_id=work.id, index=-1, chunk_index=chunk.index, section_ids=chunk.section_ids,
                          span=absolute, summary=summary, scenario=scenario, key_characters=cast,
                          conversation=tuple(conversation), anchors=(item["first_line"], item["last_line"]),
                          provenance={**provenance, **({"normalised": notes} if notes else {}),
                                      **({"names_not_in_plot": outside} if outside else {})}))
    return plots, problems


def anchor_span(text: str, first_line: str, last_line: str, *, after: int = 0) -> tuple[int, int] | None:
    """Span from the first quoted line to the end of the last one, both found in `text` in order."""
    first = find_quote(text, first_line, after=after)
    if first is None:
        return None
    last = find_quote(text, last_line, after=first[0])
    if last is None:
        return None
    return first[0], max(first[1], last[1])


def _snap_to_turns(span: tuple[int, int], turns: tuple[Turn, ...]) -> tuple[int, int]:
    """Widen a span whose ends fall inside turns to those turns' ends: an anchor quotes part of a
    line, but the plot owns the whole line."""
    start, end = span
    for turn in turns:
        if turn.span[0] <= start < turn.span[1]:
            start = turn.span[0]
        if turn.span[0] < end <= turn.span[1]:
            end = turn.span[1]
    return start, end


def _conversation(work: Work, chunk: Chunk, span: tuple[int, int], quotes: list[dict]) -> list[Utterance]:
    if chunk.turns:
        return [_from_turn(work, t) for t in chunk.turns
                if t.speaker is not None and span[0] <= t.span[0] and t.span[1] <= span[1]]
    return _verified_quotes(work, span, quotes)


def _from_turn(work: Work, turn: Turn) -> Utterance:
    return Utterance(speaker_id=turn.speaker, speaker=work.characters[turn.speaker].name, text=turn.text,
                     span=turn.span, attribution="source", turn_id=turn.id)


def _verified_quotes(work: Work, span: tuple[int, int], quotes: list[dict]) -> list[Utterance]:
    """Model-extracted quotes whose words are found in the plot's source text; the rest are dropped."""
    text = work.text[span[0]:span[1]]
    kept = []
    for quote in quotes:
        found = find_quote(text, quote["text"], min_words=len(quote["text"].split()))
        if found is None:
            continue
        speaker_id = work.resolve(quote["speaker"])
        speaker = work.characters[speaker_id].name if speaker_id else quote["speaker"]
        kept.append(Utterance(speaker_id=speaker_id, speaker=speaker, text=text[found[0]:found[1]],
                              span=(span[0] + found[0], span[0] + found[1]), attribution="model"))
    return sorted(kept, key=lambda u: u.span)


def _key_characters(work: Work, names: list[str], conversation: list[Utterance],
                    within: str | None = None) -> tuple[tuple[KeyCharacter, ...], list[str]]:
    """The model's names resolved through the alias registry, then the plot's main speakers; and
    the model's names left out because the plot's text (`within`, when given) never has them."""
    cast: dict[str, KeyCharacter] = {}
    outside: list[str] = []
    speakers = {u.speaker_id for u in conversation}
    for name in names:
        char_id = work.resolve(name)
        key = char_id or f"name:{name}"
        if within is not None and char_id not in speakers and not _named_in(work, char_id, name, within):
            outside.append(name)
            continue
        if key not in cast:
            display = work.characters[char_id].name if char_id else name
            cast[key] = KeyCharacter(id=char_id, name=display, source="model")
    turns = Counter(u.speaker_id for u in conversation if u.speaker_id is not None)
    for char_id, count in sorted(turns.items(), key=lambda item: (-item[1], item[0])):
        if count >= KEY_SPEAKER_MIN_TURNS and char_id not in cast:
            cast[char_id] = KeyCharacter(id=char_id, name=work.characters[char_id].name, source="speaker")
    return tuple(cast.values()), outside


def _named_in(work: Work, char_id: str | None, name: str, text: str) -> bool:
    """Whether `text` names the character (any of its names and aliases), as a whole word."""
    names = (work.characters[char_id].name, *work.characters[char_id].aliases) if char_id else (name,)
    lowered = text.lower()
    return any(re.search(rf"\b{re.escape(n.lower())}\b", lowered) for n in names if len(n) > 2)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _has_breaks(text: str) -> bool:
    return any(char in text for char in "\n\r\t")
