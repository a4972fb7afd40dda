"""Original (top-up) scenes for the levels the sources cannot fill, villains above all.

The program builds the scene's structure and asks the model only for text pieces, each a small
grammar-constrained JSON reply, so even the embedded 135M model yields a scene the checks accept:
- the turn plan is fixed: an opening Environment line, then `SPEECHES` speeches alternating between
  the designed character (asked to be of the target level) and a second character;
- the model writes, one small ask each: the brief (topic, scenario, summary), each character's
  profile and thought, the opening stage direction, and the speeches `LINES_PER_CALL` at a time
  (a thought and the spoken text per line, the speakers named by the program).

The designed character is given a deed of the target level from a fixed list (data/synthetic.json);
the PROGRAM writes it into the opening Environment line ("Corvin poisons the well the village drinks
from, to watch them suffer."), and every writing prompt is told it, so the scene states an act of
that level whatever the writer does with the rest. The second character is annotated like any
source portrayal. The designed character:
- with confirmation on (`--confirm-top-up on`, or auto with an annotator fit to judge) is annotated
  too and kept only when the annotation computes the target level (status "unconfirmed" and a count
  otherwise);
- with confirmation off (or auto with annotators measured unfit, such as the embedded model, whose
  two annotations agreed no better than chance) carries the designed level, status "designed", and
  only its traits are asked, for that level.
Records say `origin = "synthetic"`, and `target_level` holds the design for the designed character.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builders.llm import RequestFailed
from builders.llm.structured import prose_field
from builders.moral_roleplay.annotate import (
    PortrayalContext,
    annotate_portrayal,
    label_by_design,
)
from builders.moral_roleplay.coser import ENVIRONMENT, format_message
from builders.moral_roleplay.scenes import (
    Annotators,
    SceneFilter,
    SceneResult,
    coser_scene,
)
from builders.moral_roleplay.steps import (
    call_provenance,
    excerpt,
    request,
    strict_object,
)
from builders.moral_roleplay.windows import SourceLine
from builders.moral_roleplay.writing import rate_scene

DATA = Path(__file__).resolve().parent / "data" / "synthetic.json"
SYNTHETIC_BOOK = "Original scenes (synthetic)"
SPEECHES = 10  # plus the opening Environment line: 11 turns, 9% Environment (CoSER: about 8%)
LINES_PER_CALL = 4  # speeches per ask: a reply the embedded model finishes well within its timeout
CONTEXT_LINES = 4  # lines of the scene so far shown when asking for the next ones
OTHER_ROLE = "any kind of person, reacting to the other character"

# every text piece is plain prose (builders.llm.structured.prose_field): the grammar keeps markup and code out
BRIEF_SCHEMA = strict_object({"topic": prose_field(5, 80), "scenario": prose_field(20, 300),
                              "summary": prose_field(10, 200)})
CHARACTER_SCHEMA = strict_object({"profile": prose_field(20, 300), "thought": prose_field(5, 150)})
ENVIRONMENT_SCHEMA = strict_object({"text": prose_field(10, 200)})


@lru_cache(maxsize=1)
def synthetic_inputs() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Plan:
    """What the program fixes for top-up scene number `index`."""

    index: int
    level: int  # the target level of the designed character
    setting: str
    names: tuple[str, str]  # (designed character, second character)
    level_name: str
    level_definition: str
    deed: str  # what the designed character does in the scene, an act of the target level

    @property
    def deed_line(self) -> str:
        """The program's sentence in the opening Environment line: the scene's decisive act."""
        return f"{self.designed} {self.deed}."

    @property
    def designed(self) -> str:
        return self.names[0]

    def speakers(self) -> list[str]:
        """The speech turns, alternating, the designed character first."""
        return [self.names[k % 2] for k in range(SPEECHES)]

    def prompt_variables(self) -> dict:
        return {"setting": self.setting, "names": list(self.names), "level_name": self.level_name,
                "level_definition": self.level_definition, "designed": self.designed, "deed": self.deed}


def top_up_plan(index: int, level: int, ordinal: int = 0) -> Plan:
    """Top-up scene number `index` of the build, the `ordinal`-th for `level`: the deeds of a level
    are used in turn, the names and settings across all levels."""
    inputs = synthetic_inputs()
    wanted = inputs["levels"][str(level)]
    names = inputs["names"][index % len(inputs["names"])]
    deeds = inputs["deeds"][str(level)]
    return Plan(index=index, level=level, setting=inputs["settings"][index % len(inputs["settings"])],
                names=(names[0], names[1]), level_name=wanted["name"], level_definition=wanted["definition"],
                deed=deeds[ordinal % len(deeds)])


def lines_schema(count: int) -> dict:
    line = strict_object({"thought": prose_field(2, 60), "text": prose_field(5, 160)})
    return strict_object({"lines": {"type": "array", "minItems": count, "maxItems": count, "items": line}})


@dataclass
class Written:
    """The model's text pieces, placed in the program's structure."""

    brief: dict
    profiles: dict[str, str]
    thoughts: dict[str, str]
    lines: list[SourceLine]  # speaker and text of every turn, the opening Environment line first
    line_thoughts: list[str]  # the hidden thought of each speech, in order
    calls: dict


async def write_scene(llm, plan: Plan, *, temperature: float) -> Written:
    """Every text piece of the scene, in a fixed order of small asks; raises RequestFailed."""
    ask = dict(sample=0, temperature=temperature, **plan.prompt_variables())
    brief = await llm.chat(request("synthetic_brief", BRIEF_SCHEMA, max_tokens=220, **ask))
    scenario = brief.data["scenario"]
    characters = {}
    for name in plan.names:
        role = (f"a {plan.level_name} ({plan.level_definition}) who, in this scene, {plan.deed}"
                if name == plan.designed else OTHER_ROLE)
        characters[name] = await llm.chat(request("synthetic_character", CHARACTER_SCHEMA, max_tokens=150,
                                                  character=name, role=role, scenario=scenario, **ask))
    opening = await llm.chat(request("synthetic_environment", ENVIRONMENT_SCHEMA, max_tokens=80,
                                     scenario=scenario, **ask))
    stage_direction = f"{' '.join(opening.data['text'].split())} {plan.deed_line}"
    lines = [SourceLine("environment", None, ENVIRONMENT, stage_direction, (0, 0))]
    profiles = {name: reply.data["profile"] for name, reply in characters.items()}
    thoughts, chunk_calls = [], []
    speakers = plan.speakers()
    for start in range(0, len(speakers), LINES_PER_CALL):
        part = speakers[start:start + LINES_PER_CALL]
        reply = await llm.chat(request("synthetic_lines", lines_schema(len(part)), max_tokens=70 * len(part) + 20,
                                       scenario=scenario, profiles=profiles, speakers=part,
                                       closing=start + len(part) == len(speakers),
                                       lines=_context(lines), **ask))
        for name, line in zip(part, reply.data["lines"]):
            position = len(lines)
            lines.append(SourceLine("speech", None, name, " ".join(line["text"].split()), (position, position)))
            thoughts.append(line["thought"])
        chunk_calls.append(call_provenance(reply))
    return Written(brief=brief.data, profiles=profiles,
                   thoughts={name: reply.data["thought"] for name, reply in characters.items()},
                   lines=lines, line_thoughts=thoughts,
                   calls={"brief": call_provenance(brief), "environment": call_provenance(opening),
                          "characters": {n: call_provenance(r) for n, r in characters.items()},
                          "lines": chunk_calls})


def _context(lines: list[SourceLine]) -> list[dict]:
    return excerpt(lines[-CONTEXT_LINES:]) if len(lines) > 1 else []


def dialogues_of(written: Written) -> list[dict]:
    thoughts = iter(written.line_thoughts)
    return [{"character": ENVIRONMENT, "message": line.text} if line.kind == "environment"
            else {"character": line.speaker, "message": format_message(next(thoughts), line.text)}
            for line in written.lines]


def confirm_design(result: SceneResult, plan: Plan) -> None:
    """Keep the designed character only when the annotation gave the target level; count either way."""
    designed = next(p for p in result.portrayals if p.name == plan.designed)
    if designed.usable and designed.level == plan.level:
        result.counts[f"top-up level {plan.level}: confirmed"] += 1
        return
    result.counts[f"top-up level {plan.level}: not confirmed"] += 1
    got = f"annotated level {designed.level}" if designed.usable else f"annotation {designed.status}"
    designed.problems.append(f"top-up: designed as level {plan.level}, {got}")
    designed.status, designed.level, designed.traits = "unconfirmed", None, []


async def build_synthetic_scene(llm, annotators: Annotators, index: int, level: int, *,
                                scene_filter: SceneFilter, temperature: float, confirm: bool = True,
                                ordinal: int = 0) -> SceneResult:
    """Top-up scene number `index`, designed around a character of `level`; the second character
    annotated like any portrayal, the designed one too when `confirm`, else labelled by design."""
    plan = top_up_plan(index, level, ordinal)
    result = SceneResult(case_key=f"{SYNTHETIC_BOOK}-{index}-0", origin="synthetic", group_work=f"synthetic-{index}")
    result.counts["top-up scenes attempted"] += 1
    result.counts[f"top-up level {level}: scenes attempted"] += 1
    try:
        written = await write_scene(llm, plan, temperature=temperature)
    except RequestFailed as error:
        return result.drop("top-up", f"synthetic scene failed: {error.reason}")
    scenario = written.brief["scenario"]
    try:
        rating = await rate_scene(llm, SYNTHETIC_BOOK, scenario, written.lines)
    except RequestFailed as error:
        return result.drop("scene rating", f"rating failed: {error.reason}")
    # written whole with a closing line: nothing of the episode follows
    measured, problem = scene_filter.judge(rating.data, [line.speaker for line in written.lines], scenario,
                                           ends_episode=True)
    if problem:
        return result.drop("scene completeness", problem)
    context = {"book": SYNTHETIC_BOOK, "summary": written.brief["summary"], "scenario": scenario,
                   "lines": tuple(written.lines)}
    contexts = {name: PortrayalContext(name=name, profile=written.profiles[name], thought=written.thoughts[name],
                                       **context) for name in plan.names}

    async def label(name: str):
        if name == plan.designed and not confirm:
            return await label_by_design(llm, contexts[name], plan.level, temperature=annotators.temperature)
        return await annotate_portrayal(annotators.first, annotators.second, annotators.adjudicator, contexts[name],
                                        temperature=annotators.temperature)

    result.portrayals = list(await asyncio.gather(*(label(name) for name in plan.names)))
    if confirm:
        confirm_design(result, plan)
    else:
        designed = result.portrayals[0]
        result.counts[f"top-up level {plan.level}: "
                      + ("labelled by design" if designed.usable else "traits failed")] += 1
    brief = {**written.brief, "thoughts": written.thoughts}  # no prominence: an original scene has no story
    result.scene = coser_scene(SYNTHETIC_BOOK, index, 0, None, brief,
                               {"tone": rating.data["tone"], "completeness": measured.value},
                               dialogues_of(written), written.profiles)
    result.target_levels = {plan.designed: plan.level}
    result.provenance = {"origin": "synthetic", "work_id": result.group_work, "requested_level": level,
                         "designed_character": plan.designed, "setting": plan.setting, "deed": plan.deed,
                         "level_from": "annotation" if confirm else "design",
                         "completeness": measured.provenance(),
                         "calls": {**written.calls, "rating": rating.provenance}}
    result.counts["top-up scenes written"] += 1
    result.counts[f"top-up level {level}: scenes written"] += 1
    return result
