"""Original (top-up) scenes for the levels the sources cannot fill, villains above all.

The program builds the scene's structure and asks the model only for text pieces, each a small
JSON reply (under the embedded model's grammar, so even the 135M model yields a scene the checks
accept; a capable model writes natural prose at the lengths data/original.json targets):
- the turn plan is fixed: an opening Environment line, then `SPEECHES` speeches alternating between
  the designed character (asked to be of the target level) and a second character;
- the model writes, one ask each: the brief (topic, scenario, summary), each character's profile
  and thought, the opening stage direction, and the speeches the profile's
  `synthetic_lines_per_call` at a time (a thought and the spoken text per line, the speakers named
  by the program). A brief or character past the benchmark's word limits is asked once more (a
  re-ask); what the scene format cannot hold is normalised (normalise.py) and noted.

The designed character is given a deed of the target level from a fixed list (data/synthetic.json);
the PROGRAM writes it into the opening Environment line ("Corvin poisons the well the village drinks
from, to watch them suffer."), and every writing prompt is told it, so the scene states an act of
that level whatever the writer does with the rest. The k-th top-up scene of every level gets the
same setting and names (`top_up_plan`): they follow the scene's rank within its level, so nothing
but the level and the deed differs between levels. The second character is labelled like any source
portrayal (annotated, or not judged when no annotator is fit to judge), and the scene's tone is the
annotators' (a scene built around a deed of level 3 or 4 called Positive is not judged). The
designed character:
- with confirmation on (`--confirm-top-up on`, or auto with an annotator fit to judge) is annotated
  too and kept only when the annotation computes the target level (status "unconfirmed" and a count
  otherwise);
- with confirmation off (or auto with no annotator fit to judge, such as the embedded model, whose
  two annotations agreed no better than chance) is labelled by design, status "designed": the
  designed level and the traits designed with the deed (data/synthetic.json `design_traits`), which
  the writer is told too. No model is asked for them. The same happens after the fact
  (`relabel_by_design`) when the build finds that its annotators agree only at chance: their
  confirmation (or refusal) carried no information.
Records say `origin = "synthetic"`, and `target_level` holds the design for the designed character.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from builders.llm import RequestFailed
from builders.moral_roleplay.annotate import PortrayalContext, label_by_design
from builders.moral_roleplay.coser import ENVIRONMENT, format_message
from builders.moral_roleplay.invariants import word_limit_problem
from builders.moral_roleplay.normalise import Normaliser
from builders.moral_roleplay.scenes import (
    Annotators,
    SceneFilter,
    SceneResult,
    coser_scene,
)
from builders.moral_roleplay.steps import (
    Contract,
    ask_checked,
    call_provenance,
    contract_of,
    request,
    strict_object,
)
from builders.moral_roleplay.windows import SourceLine
from builders.moral_roleplay.writing import rate_scene

DATA = Path(__file__).resolve().parent / "data" / "synthetic.json"
# A scene built around an Egoist's or a Villain's deed (harm done for gain, or wanted) cannot read as
# Positive: annotators who call it so are not judging it (the tone is then not judged).
RULED_OUT_TONE = {3: "Positive", 4: "Positive"}
SYNTHETIC_BOOK = "Original scenes (synthetic)"
SPEECHES = 10  # plus the opening Environment line: 11 turns, 9% Environment (CoSER: about 8%)
OTHER_ROLE = "any kind of person, reacting to the other character"


# Every text piece as the model's contract holds it (steps.Contract.text): under the strict one, the
# grammar's plain-prose pattern keeps markup and code out.
def brief_schema(contract: Contract) -> dict:
    return strict_object({"topic": contract.text("topic"), "scenario": contract.text("synthetic_scenario"),
                          "summary": contract.text("synthetic_summary")})


def character_schema(contract: Contract, name: str) -> dict:
    return strict_object({"profile": contract.text("synthetic_profile", name=name),
                          "thought": contract.text("synthetic_thought", name=name)})


def environment_schema(contract: Contract) -> dict:
    return strict_object({"text": contract.text("stage_direction")})


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
    traits: tuple[str, ...]  # the traits designed with the deed
    by_design: bool = False  # the designed character's label is the design: the writer is told the traits too

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


def top_up_plan(index: int, level: int, ordinal: int = 0, *, by_design: bool = False) -> Plan:
    """Top-up scene number `index` of the build, the `ordinal`-th for `level`. Deed, setting and
    names all follow `ordinal`, never `index`: levels are planned in turn, so anything chosen by the
    build-wide index would follow the level (with 4 levels and 8 settings, each setting would only
    ever meet one level) and tell it to anyone reading the scene."""
    inputs = synthetic_inputs()
    wanted = inputs["levels"][str(level)]
    names = inputs["names"][ordinal % len(inputs["names"])]
    deeds = inputs["deeds"][str(level)]
    deed = deeds[ordinal % len(deeds)]
    return Plan(index=index, level=level, setting=inputs["settings"][ordinal % len(inputs["settings"])],
                names=(names[0], names[1]), level_name=wanted["name"], level_definition=wanted["definition"],
                deed=deed, traits=tuple(inputs["design_traits"][str(level)][deed]), by_design=by_design)


def lines_schema(contract: Contract, count: int) -> dict:
    line = strict_object({"thought": contract.text("line_thought"), "text": contract.text("speech")})
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
    normaliser: Normaliser  # what was made to fit the scene format so far (more when the scene is assembled)


async def write_scene(llm, plan: Plan, *, temperature: float) -> Written:
    """Every text piece of the scene, in a fixed order of asks; raises RequestFailed."""
    contract = contract_of(llm)
    ask = dict(temperature=temperature, **plan.prompt_variables())

    def brief_request(sample: int, reask: bool):
        return request("synthetic_brief", brief_schema(contract), contract, sample=sample, reask=reask,
                       max_tokens=contract.max_tokens("synthetic_brief"), **ask)

    brief = await ask_checked(llm, brief_request, lambda data: word_limit_problem(scenario=data["scenario"]))
    scenario = brief.data["scenario"]
    characters = {name: await _write_character(llm, contract, plan, name, scenario, ask) for name in plan.names}
    opening = await llm.chat(request("synthetic_environment", environment_schema(contract), contract, sample=0,
                                     max_tokens=contract.max_tokens("synthetic_environment"), scenario=scenario,
                                     **ask))
    normaliser = Normaliser()
    stage_direction = f"{normaliser.line(opening.data['text'], 'dialogues[0] stage direction')} {plan.deed_line}"
    lines = [SourceLine("environment", None, ENVIRONMENT, stage_direction, (0, 0))]
    profiles = {name: reply.data["profile"] for name, reply in characters.items()}
    thoughts, line_calls = await _write_speeches(llm, contract, plan, profiles, lines, normaliser,
                                                 scenario=scenario, ask=ask)
    return Written(brief=brief.data, profiles=profiles,
                   thoughts={name: reply.data["thought"] for name, reply in characters.items()},
                   lines=lines, line_thoughts=thoughts,
                   calls={"brief": call_provenance(brief), "environment": call_provenance(opening),
                          "characters": {n: call_provenance(r) for n, r in characters.items()},
                          "lines": line_calls},
                   normaliser=normaliser)


async def _write_character(llm, contract: Contract, plan: Plan, name: str, scenario: str, ask: dict):
    """One character's profile and thought; the designed one is told its level and deed, and its
    traits when they are to be its label."""
    role = OTHER_ROLE
    if name == plan.designed:
        role = f"a {plan.level_name} ({plan.level_definition}) who, in this scene, {plan.deed}"
        if plan.by_design:
            role += f"; {', '.join(plan.traits[:-1])} and {plan.traits[-1]}"

    def character_request(sample: int, reask: bool):
        return request("synthetic_character", character_schema(contract, name), contract, sample=sample,
                       reask=reask, max_tokens=contract.max_tokens("synthetic_character"), character=name,
                       role=role, scenario=scenario, **ask)

    return await ask_checked(llm, character_request, lambda data: word_limit_problem(thoughts={name: data["thought"]}))


async def _write_speeches(llm, contract: Contract, plan: Plan, profiles: dict[str, str], lines: list[SourceLine],
                          normaliser: Normaliser, *, scenario: str, ask: dict) -> tuple[list[str], list[dict]]:
    """The speeches in the program's order, the profile's `synthetic_lines_per_call` per ask, each
    ask shown the scene so far; appended to `lines`. Returns each speech's thought and the calls."""
    thoughts, calls = [], []
    speakers = plan.speakers()
    size = contract.limit("synthetic_lines_per_call")
    for start in range(0, len(speakers), size):
        part = speakers[start:start + size]
        reply = await llm.chat(request("synthetic_lines", lines_schema(contract, len(part)), contract, sample=0,
                                       max_tokens=contract.max_tokens("synthetic_lines", len(part)),
                                       scenario=scenario, profiles=profiles, speakers=part,
                                       closing=start + len(part) == len(speakers),
                                       lines=_context(contract, lines), **ask))
        for name, line in zip(part, reply.data["lines"]):
            position = len(lines)
            text = normaliser.speech(line["text"], f"dialogues[{position}] speech")
            lines.append(SourceLine("speech", None, name, text, (position, position)))
            thoughts.append(line["thought"])
        calls.append(call_provenance(reply))
    return thoughts, calls


def _context(contract: Contract, lines: list[SourceLine]) -> list[dict]:
    return contract.excerpt(lines[-contract.limit("synthetic_context_lines"):]) if len(lines) > 1 else []


def dialogues_of(written: Written) -> list[dict]:
    thoughts = iter(written.line_thoughts)
    inner = written.normaliser.inner
    return [{"character": ENVIRONMENT, "message": line.text} if line.kind == "environment"
            else {"character": line.speaker,
                  "message": format_message(inner(next(thoughts), f"dialogues[{index}] thought"), line.text)}
            for index, line in enumerate(written.lines)]


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


def relabel_by_design(result: SceneResult, reason: str) -> bool:
    """The designed character labelled by its design after the build found its annotators unfit to
    confirm it (`reason`), whatever their confirmation said; False when the scene has none to relabel."""
    designed = next(((name, level) for name, level in result.target_levels.items()), None)
    if result.scene is None or designed is None:
        return False
    name, level = designed
    traits = tuple(synthetic_inputs()["design_traits"][str(level)][result.provenance["deed"]])
    index = next(i for i, p in enumerate(result.portrayals) if p.name == name)
    relabelled = label_by_design(name, level, traits)
    relabelled.annotations = result.portrayals[index].annotations + relabelled.annotations
    relabelled.problems = result.portrayals[index].problems
    result.portrayals[index] = relabelled
    result.provenance.update(level_from="design", design_traits=list(traits), design_because=reason)
    result.counts[f"top-up level {level}: labelled by design"] += 1
    return True


async def build_synthetic_scene(llm, annotators: Annotators, index: int, level: int, *,
                                scene_filter: SceneFilter, temperature: float, confirm: bool = True,
                                ordinal: int = 0) -> SceneResult:
    """Top-up scene number `index`, designed around a character of `level`; the second character
    labelled like any portrayal, the designed one too when `confirm`, else labelled by design."""
    plan = top_up_plan(index, level, ordinal, by_design=not confirm)
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
            return label_by_design(name, plan.level, plan.traits)
        return await annotators.label(contexts[name])

    tone, *portrayals = await asyncio.gather(
        annotators.tone(SYNTHETIC_BOOK, scenario, written.lines, ruled_out=RULED_OUT_TONE.get(plan.level)),
        *(label(name) for name in plan.names))
    result.portrayals, result.tone = list(portrayals), tone
    if confirm:
        confirm_design(result, plan)
    else:
        result.counts[f"top-up level {plan.level}: labelled by design"] += 1
    brief = {**written.brief, "thoughts": written.thoughts}  # no prominence: an original scene has no story
    result.scene = coser_scene(SYNTHETIC_BOOK, index, 0, None, brief,
                               {"tone": tone.tone, "completeness": measured.value},
                               dialogues_of(written), written.profiles, written.normaliser)
    result.target_levels = {plan.designed: plan.level}
    result.provenance = {"origin": "synthetic", "work_id": result.group_work, "requested_level": level,
                         "designed_character": plan.designed, "setting": plan.setting, "deed": plan.deed,
                         "level_from": "annotation" if confirm else "design",
                         **({"design_traits": list(plan.traits)} if plan.by_design else {}),
                         "completeness": measured.provenance(),
                         "tone": tone.provenance(writer_rating=rating.data["tone"]),
                         "normalised": written.normaliser.notes,
                         "calls": {**written.calls, "rating": rating.provenance}}
    result.counts["top-up scenes written"] += 1
    result.counts[f"top-up level {level}: scenes written"] += 1
    return result
