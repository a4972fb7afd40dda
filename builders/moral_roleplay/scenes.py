"""A source scene made into an annotated CoSER scene (spec Steps B-D), or dropped with a reason.

Order of calls, cheapest rejection first: brief (topic, scenario, summary, prominence, thoughts)
-> rating (LLM completeness) and the completeness measure of completeness.py (a scene at or
below the threshold stops here) -> one inner thought per line -> verbatim check of every speech ->
profiles -> two annotations per key character and two of the scene's tone. The tone is the
annotators', never the writer's: the rating reply's tone is kept in provenance only. What the scene
format cannot hold in the model's text is normalised when the scene is assembled (normalise.py) and
listed in its provenance.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from builders.llm import RequestFailed
from builders.moral_roleplay import completeness, writing
from builders.moral_roleplay.annotate import (
    NOT_JUDGED,
    Portrayal,
    PortrayalContext,
    ToneLabel,
    annotate_portrayal,
    annotate_tone,
    not_judged,
)
from builders.moral_roleplay.coser import ENVIRONMENT, format_message, is_verbatim
from builders.moral_roleplay.normalise import Normaliser
from builders.moral_roleplay.windows import SourceLine, SourceScene
from builders.sources import Work

MAX_SCENE_TURNS = 32


@dataclass
class Annotators:
    """Who labels portrayals: only models fit to judge (build.annotators_of picks them). With none,
    `not_judged_reason` says why, and every portrayal is released as not judged, asking nothing."""

    first: object  # LLM clients (anything with an async chat(request))
    second: object
    adjudicator: object
    temperature: float = 0.7
    not_judged_reason: str | None = None

    @property
    def judging(self) -> bool:
        return self.not_judged_reason is None

    async def label(self, context: PortrayalContext) -> Portrayal:
        if not self.judging:
            return not_judged(context.name, self.not_judged_reason)
        return await annotate_portrayal(self.first, self.second, self.adjudicator, context,
                                        temperature=self.temperature)

    async def tone(self, book: str, scenario: str, lines, *, ruled_out: str | None = None) -> ToneLabel:
        """The scene's tone from the annotators; not judged without one fit to judge."""
        if not self.judging:
            return ToneLabel(None, NOT_JUDGED, reason=self.not_judged_reason)
        return await annotate_tone(self.first, self.second, self.adjudicator,
                                   {"book": book, "scenario": scenario, "lines": tuple(lines)},
                                   temperature=self.temperature, ruled_out=ruled_out)


@dataclass(frozen=True)
class SceneFilter:
    """Step C: keep scenes whose completeness (measured as `mode` says) is at least `min_completeness`."""

    min_completeness: int = 4
    mode: str = completeness.DEFAULT_MODE

    def judge(self, rating: dict, speakers: list[str], scenario: str, *,
              ends_episode: bool) -> tuple[completeness.Completeness, str | None]:
        """The measure, and why the scene is dropped (None when it is kept)."""
        measured = completeness.measure(self.mode, rating["completeness"], speakers, scenario,
                                        ends_episode=ends_episode)
        if measured.value >= self.min_completeness:
            return measured, None
        detail = f"; failed: {', '.join(measured.failed_checks)}" if measured.failed_checks else ""
        return measured, (f"completeness {measured.value} ({self.mode}; LLM {measured.llm}, structure "
                          f"{measured.structure}) < {self.min_completeness}{detail}")


@dataclass
class SceneResult:
    """One scene's outcome: the CoSER scene (None when dropped), its portrayals, counts and rejects."""

    case_key: str
    origin: str  # "source" | "synthetic"
    group_work: str  # the work id used in split groups
    scene: dict | None = None
    portrayals: list[Portrayal] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    target_levels: dict[str, int] = field(default_factory=dict)  # top-up: designed character -> its target level
    tone: ToneLabel | None = None  # the annotators' tone of the scene (scene["tone"] is its label)
    counts: Counter = field(default_factory=Counter)
    rejects: list[dict] = field(default_factory=list)

    def drop(self, stage: str, reason: str) -> SceneResult:
        self.scene = None
        self.counts[f"scenes dropped: {stage}"] += 1
        self.rejects.append({"stage": stage, "reason": reason, "record": {"case_key": self.case_key}})
        return self


def with_place_line(scene: SourceScene) -> tuple[SourceLine, ...]:
    """Play windows without a stage direction open with their place (the scene heading after the
    act and scene number, verbatim) as the Environment line."""
    if any(line.kind == "environment" for line in scene.lines) or scene.kind == "novel":
        return scene.lines
    place = scene.chapter.split(".", 1)[1].strip() if "." in scene.chapter else ""
    if not place:
        return scene.lines
    return (SourceLine("environment", None, ENVIRONMENT, place, (scene.span[0], scene.span[0])),) + scene.lines


async def build_source_scene(llm, annotators: Annotators, profiles: writing.Profiles, work: Work,
                             source: SourceScene, *, scene_filter: SceneFilter, ends_episode: bool,
                             temperature: float) -> SceneResult:
    result = SceneResult(case_key=source.case_key, origin="source", group_work=work.id)
    result.counts["scenes attempted"] += 1
    lines = with_place_line(source)
    if len(lines) > MAX_SCENE_TURNS:
        lines = lines[:MAX_SCENE_TURNS]  # directions can push a 32-speech window over the limit
    if not any(line.kind == "environment" for line in lines):
        return result.drop("scene filter", "no Environment turn (no stage direction, place line or narration)")
    names = [work.characters[c].name for c in source.key_ids]
    try:
        brief = await writing.write_brief(llm, source, names, temperature=temperature)
    except RequestFailed as error:
        return result.drop("scene brief", f"brief failed: {error.reason}")
    try:
        rating = await writing.rate_scene(llm, source.book, brief.data["scenario"], lines)
    except RequestFailed as error:
        return result.drop("scene rating", f"rating failed: {error.reason}")
    measured, problem = scene_filter.judge(rating.data, [line.speaker for line in lines], brief.data["scenario"],
                                           ends_episode=ends_episode)
    if problem:
        return result.drop("scene completeness", problem)
    try:
        thoughts = await writing.write_thoughts(llm, source.book, brief.data["scenario"], lines,
                                                temperature=temperature)
    except RequestFailed as error:
        return result.drop("line thoughts", f"thoughts failed: {error.reason}")
    normaliser = Normaliser()
    dialogues = source_dialogues(lines, thoughts.data["thoughts"], normaliser)
    changed = [i for i, (line, turn) in enumerate(zip(lines, dialogues))
               if line.kind == "speech" and not is_verbatim(turn["message"], line.text)]
    if changed:
        return result.drop("verbatim", f"not verbatim: speech text changed in turns {changed[:5]}")
    result.counts["scenes written"] += 1
    profile_replies, profile_failures = await _profiles(profiles, work, source.key_ids)
    context = {"book": source.book, "summary": brief.data["summary"], "scenario": brief.data["scenario"],
                   "lines": tuple(lines)}
    cast = [(c, work.characters[c].name) for c in source.key_ids if c in profile_replies]
    tone, *portrayals = await asyncio.gather(
        annotators.tone(source.book, brief.data["scenario"], lines),
        *(annotators.label(PortrayalContext(name=name, profile=profile_replies[c].data["profile"],
                                            thought=brief.data["thoughts"][name], **context))
          for c, name in cast))
    result.portrayals, result.tone = list(portrayals), tone
    result.scene = coser_scene(source.book, source.i_p, source.i_c, source.chapter, brief.data,
                               {"tone": tone.tone, "completeness": measured.value}, dialogues,
                               {name: profile_replies[c].data["profile"] for c, name in cast}, normaliser)
    result.provenance = {
        "origin": "source", "work_id": work.id, "source": work.source, "license": work.license,
        "section": source.section_id, "span": list(source.span),
        "turn_ids": [line.turn_id for line in lines if line.turn_id],
        "completeness": measured.provenance(),
        "tone": tone.provenance(writer_rating=rating.data["tone"]),
        "normalised": normaliser.notes,
        "calls": {"brief": brief.provenance, "rating": rating.provenance, "thoughts": thoughts.provenance,
                  "profiles": {name: profile_replies[c].provenance for c, name in cast}},
    }
    for char_id, reason in profile_failures.items():  # without a profile a key character is not portrayed
        result.counts["profiles failed"] += 1
        result.rejects.append({"stage": "profile", "reason": f"profile failed: {reason}",
                               "record": {"case_key": result.case_key, "name": work.characters[char_id].name}})
    return result


async def _profiles(profiles: writing.Profiles, work: Work, char_ids) -> tuple[dict, dict[str, str]]:
    """Each character's profile reply, and why a profile failed (character id -> reason)."""
    replies, failed = {}, {}
    for char_id in char_ids:
        try:
            replies[char_id] = await profiles.get(work, char_id)
        except RequestFailed as error:
            failed[char_id] = error.reason
    return replies, failed


def source_dialogues(lines, thoughts: list[str], normaliser: Normaliser) -> list[dict]:
    """CoSER turns around the source words: `[thought] (action) speech`; Environment turns verbatim."""
    turns = []
    for index, (line, thought) in enumerate(zip(lines, thoughts)):
        if line.kind == "environment":
            turns.append({"character": ENVIRONMENT, "message": line.text})
        else:
            thought = normaliser.inner(thought, f"dialogues[{index}] thought")
            turns.append({"character": line.speaker, "message": format_message(thought, line.text, line.actions)})
    return turns


def speaking_order(dialogues: list[dict]) -> list[str]:
    """Speakers (Environment included) by number of turns, most first; ties by first appearance."""
    counts = Counter(turn["character"] for turn in dialogues)
    first = {}
    for position, turn in enumerate(dialogues):
        first.setdefault(turn["character"], position)
    return sorted(counts, key=lambda name: (-counts[name], first[name]))


def coser_scene(book: str, i_p: int, i_c: int, chapter: str | None, brief: dict, rating: dict,
                dialogues: list[dict], profiles: dict[str, str], normaliser: Normaliser) -> dict:
    """The scene fields shared by all its portrayals; key_characters get their labels later. The
    brief's texts are one line each (normalised, noted)."""
    one_line = {field: normaliser.line(brief[field], field) for field in ("topic", "scenario", "summary")}
    return {
        "book": book, "i_p": i_p, "i_c": i_c,
        "topic": one_line["topic"], "scenario": one_line["scenario"],
        "plot": {"i_p": i_p, "summary": one_line["summary"], "prominence": brief.get("prominence"),
                 "key_characters": [{"name": name, "description": _first_sentence(profile)}
                                    for name, profile in profiles.items()],
                 "chapter": chapter, "state": "finished", "i_chunk": i_p},
        "character_profiles": dict(profiles),
        "thoughts": {name: normaliser.line(brief["thoughts"][name], f"thought of {name}") for name in profiles},
        "dialogues": dialogues,
        "speaking_characters_w_env": speaking_order(dialogues),
        "weight": 1.0, "tag": "id",
        "tone": rating["tone"], "completeness": rating["completeness"],
    }


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text[:end + 1] if end > 0 else text
