"""LLM-written original scenes (spec: top-up for levels the sources cannot fill, villains above all).

The writer is asked for a scene whose first character is of the wanted level; the label is then
given by the same annotation process as every source scene, so a top-up scene fills the wanted
level only when the annotators agree it is that level. Records from these scenes say
`origin = "synthetic"`, and the card reports the source/synthetic share per level.
"""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache
from pathlib import Path

from builders.llm import RequestFailed
from builders.moral_roleplay.annotate import PortrayalContext, annotate_portrayal
from builders.moral_roleplay.coser import ENVIRONMENT, format_message
from builders.moral_roleplay.scenes import Annotators, SceneResult, coser_scene
from builders.moral_roleplay.steps import (
    call_provenance,
    request,
    strict_object,
    text_field,
)
from builders.moral_roleplay.windows import SourceLine
from builders.moral_roleplay.writing import rate_scene

DATA = Path(__file__).resolve().parent / "data" / "synthetic.json"
SYNTHETIC_BOOK = "Original scenes (synthetic)"
MIN_LINES, MAX_LINES = 9, 10


@lru_cache(maxsize=1)
def synthetic_inputs() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def synthetic_schema(names: list[str]) -> dict:
    per_name = lambda low, high: strict_object({name: text_field(low, high) for name in names})
    line = strict_object({"speaker": {"enum": [*names, ENVIRONMENT]}, "thought": text_field(2, 50),
                          "text": text_field(3, 150)})
    return strict_object({"topic": text_field(5, 80), "scenario": text_field(20, 300),
                          "summary": text_field(10, 200), "profiles": per_name(20, 250),
                          "thoughts": per_name(5, 150),
                          "dialogue": {"type": "array", "minItems": MIN_LINES, "maxItems": MAX_LINES, "items": line}})


def top_up_plan(index: int, level: int) -> dict:
    inputs = synthetic_inputs()
    wanted = inputs["levels"][str(level)]
    return {"setting": inputs["settings"][index % len(inputs["settings"])],
            "names": inputs["names"][index % len(inputs["names"])],
            "level_name": wanted["name"], "level_definition": wanted["definition"]}


async def build_synthetic_scene(llm, annotators: Annotators, index: int, level: int, *,
                                min_completeness: int, temperature: float) -> SceneResult:
    """Top-up scene number `index`, asked for a character of `level`; annotated like any scene."""
    plan = top_up_plan(index, level)
    names = plan["names"]
    result = SceneResult(case_key=f"{SYNTHETIC_BOOK}-{index}-0", origin="synthetic", group_work=f"synthetic-{index}")
    result.counts["top-up scenes attempted"] += 1
    try:
        reply = await llm.chat(request("synthetic", synthetic_schema(names), sample=0, max_tokens=900,
                                       temperature=temperature, **plan))
    except RequestFailed as error:
        return result.drop("top-up", f"synthetic scene failed: {error.reason}")
    data = reply.data
    speeches = [line for line in data["dialogue"] if line["speaker"] != ENVIRONMENT]
    quiet = [name for name in names if sum(line["speaker"] == name for line in speeches) < 2]
    if quiet:
        return result.drop("top-up", f"synthetic scene: {', '.join(quiet)} speaks fewer than 2 times")
    if len(speeches) == len(data["dialogue"]):
        return result.drop("top-up", "synthetic scene: no Environment line")
    lines = [SourceLine("speech" if line["speaker"] != ENVIRONMENT else "environment", None, line["speaker"],
                        line["text"], (i, i)) for i, line in enumerate(data["dialogue"])]
    try:
        rating = await rate_scene(llm, SYNTHETIC_BOOK, data["scenario"], lines)
    except RequestFailed as error:
        return result.drop("scene rating", f"rating failed: {error.reason}")
    if rating.data["completeness"] < min_completeness:
        return result.drop("scene rating", f"completeness {rating.data['completeness']} <= {min_completeness - 1}")
    dialogues = [{"character": ENVIRONMENT, "message": line["text"]} if line["speaker"] == ENVIRONMENT
                 else {"character": line["speaker"], "message": format_message(line["thought"], line["text"])}
                 for line in data["dialogue"]]
    brief = {"topic": data["topic"], "scenario": data["scenario"], "summary": data["summary"],
             "thoughts": data["thoughts"]}  # no prominence: an original scene has no story to rank it in
    context = dict(book=SYNTHETIC_BOOK, summary=data["summary"], scenario=data["scenario"], lines=tuple(lines))
    result.portrayals = list(await asyncio.gather(*(
        annotate_portrayal(annotators.first, annotators.second, annotators.adjudicator,
                           PortrayalContext(name=name, profile=data["profiles"][name], thought=data["thoughts"][name],
                                            **context), temperature=annotators.temperature)
        for name in names)))
    result.scene = coser_scene(SYNTHETIC_BOOK, index, 0, None, brief, rating.data, dialogues, data["profiles"])
    result.provenance = {"origin": "synthetic", "work_id": result.group_work, "requested_level": level,
                         "setting": plan["setting"],
                         "calls": {"scene": call_provenance(reply), "rating": rating.provenance}}
    result.counts["top-up scenes written"] += 1
    return result
