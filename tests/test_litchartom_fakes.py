"""Test doubles shared by the scene-layer and LitCharToM tests: a scripted LLM and small works.

`ScriptedLLM` has the one method builders call, `async chat(request)`, and answers from a
function of the request (so concurrency cannot change which reply a request gets). Replies carry
`.data`, `.text`, `.provenance` and `.cached` like builders.llm.ChatReply. Its `profile` is the
real one when its label is a model string (`local:smollm2`), else `SCRIPTED_LITCHARTOM`: the strict
contract as these tests have always run it (before profiles, a chunk was cut into up to three plots
unless the model string was a local one).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import pytest

from builders.llm import RequestFailed
from builders.llm.profiles import ModelProfile
from builders.sources import Character, Section, Turn, Work
from tests.support.profiles import SCRIPTED_STRICT, profile_for_label


def with_limits(profile: ModelProfile, **sections: dict) -> ModelProfile:
    """`profile` with some of its per-builder limits replaced ({"scenes": {"max_plots": 3}})."""
    limits = {builder: dict(values) for builder, values in profile.limits.items()}
    for builder, values in sections.items():
        limits[builder].update(values)
    return dataclasses.replace(profile, limits=limits)


SCRIPTED_LITCHARTOM = with_limits(SCRIPTED_STRICT, scenes={"max_plots": 3})


@dataclass
class FakeReply:
    data: object
    text: str
    provenance: dict
    cached: bool = False


@dataclass
class ScriptedLLM:
    """`respond(request) -> dict | None`; None means the request fails (RequestFailed)."""

    respond: object
    label: str = "fake:scripted"
    calls: list = field(default_factory=list)
    profile: ModelProfile | None = None  # None: see the module doc

    def __post_init__(self):
        if self.profile is None:
            self.profile = profile_for_label(self.label, default=SCRIPTED_LITCHARTOM)

    async def chat(self, request):
        self.calls.append(request)
        data = self.respond(request)
        if data is None:
            raise RequestFailed("scripted failure", request_hash="x", attempts=1)
        return FakeReply(data=data, text=json.dumps(data),
                         provenance={"model": self.label, "request_hash": _request_hash(request),
                                     "sample": request.sample, "prompt_hash": request.prompt_hash})

    def steps(self) -> list[str]:
        return [request.step for request in self.calls]


def _request_hash(request) -> str:
    import hashlib

    body = json.dumps([request.messages, request.sample, request.step], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def make_play(scenes: list[list[tuple[str, str]]], *, title: str = "The Test Play",
              work_id: str = "test-play", acts: list[int] | None = None) -> Work:
    """A play whose scene i holds the (speaker label, line) pairs of scenes[i]."""
    names = sorted({label for scene in scenes for label, _ in scene})
    characters = {name.lower(): Character(id=name.lower(), name=name.title(), aliases=(name,), category="named")
                  for name in names}
    text, turns, sections = "", [], []
    acts = acts or [1] * len(scenes)
    for number, (scene, act) in enumerate(zip(scenes, acts), start=1):
        start = len(text)
        text += f"SCENE {number}.\n\n"
        section_id = f"{act}.{number}"
        for index, (label, line) in enumerate(scene, start=1):
            text += f"{label}\n"
            turn_start = len(text)
            text += line
            turns.append(Turn(id=f"{section_id}.{index}", speaker=label.lower(), text=line, section=section_id,
                              span=(turn_start, len(text)), label=label))
            text += "\n\n"
        sections.append(Section(id=section_id, title=f"Scene {number}", span=(start, len(text))))
    return Work(id=work_id, title=title, author="Anon", kind="play", license="public domain", source="test",
                text=text, characters=characters, turns=tuple(turns), sections=tuple(sections))


def test_scripted_llm_answers_from_the_request_and_fails_on_none():
    import asyncio

    from builders.llm import ChatRequest

    llm = ScriptedLLM(lambda request: {"sample": request.sample} if request.sample < 1 else None)
    reply = asyncio.run(llm.chat(ChatRequest(messages=[], sample=0)))
    assert reply.data == {"sample": 0} and reply.provenance["sample"] == 0 and not reply.cached
    with pytest.raises(RequestFailed):
        asyncio.run(llm.chat(ChatRequest(messages=[], sample=1)))


def test_make_play_spans_point_at_the_lines():
    work = make_play([[("LEAR", "Give me the map there."), ("KENT", "Good my liege.")]])
    assert [work.text[t.span[0]:t.span[1]] for t in work.turns] == ["Give me the map there.", "Good my liege."]
    assert work.sections[0].span == (0, len(work.text))


# -- a scripted model for the whole LitCharToM pipeline ----------------------------------------------

import re as _re

# Every word the responder writes, as one line a test work can speak: the wording check admits only
# words the source uses.
RESPONDER_WORDS = ("What does he believe, want, feel or intend? How does he feel? He wants, believes, intends to "
                   "and feels. The kingdom is safe; the sea is made of wine; the horses can sing songs; the "
                   "winter never ends here; the crown is heavy; the storm will pass soon; he is wise and just, "
                   "will keep the crown, speak plainly to all, with pride and some worry at this moment in scene "
                   "one, now and again, tonight, by morning. The court argues; the court is assembled.")
GOLD_PHRASES = ("the kingdom is safe", "the sea is made of wine", "the horses can sing songs",
                "the winter never ends here", "the crown is heavy", "the storm will pass soon")
GOLD_ADVERBS = ("now", "again", "tonight", "by morning")
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven")  # sample k: "scene <NUMBERS[k]>"


def _between(text: str, before: str, after: str) -> str:
    return text.split(before, 1)[1].split(after, 1)[0]


def gold_body(character: str, summary: str, verb: str, sample: int = 0) -> str:
    """The responder's gold answer after its frame: a fixed function of who, which plot, which
    dimension and which draft, so golds differ across characters and plots (they become each
    other's distractors) and the scripted checker can recompute the gold from its prompt."""
    import hashlib

    digest = hashlib.sha256(f"{character}|{summary}|{verb}|{sample}".encode()).digest()
    return f"that {GOLD_PHRASES[digest[0] % len(GOLD_PHRASES)]} {GOLD_ADVERBS[digest[1] % len(GOLD_ADVERBS)]}"


def litchartom_responder(*, checker_right=lambda request: True, plot_items=None, bad_triples_first=False):
    """Replies for scenes.plot, litchartom.triples, litchartom.question and litchartom.blind_check."""

    def respond(request):
        prompt = request.messages[-1]["content"]
        if request.step == "scenes.plot":
            return {"plots": plot_items(prompt)}
        if request.step == "litchartom.triples":  # one triple per request, of the dimension the enum offers
            character = _between(prompt, "Character: ", ".\n")
            if bad_triples_first and request.sample == 0:
                return {"relation": "Hates", "object": "x"}
            relation = request.schema["properties"]["relation"]["enum"][0]
            objects = {"Believes": f"{character} is wise and just", "Desires": "to keep the crown",
                       "Intends": "to speak plainly to all", "Feels": "pride and some worry"}
            return {"relation": relation, "object": next(v for k, v in objects.items() if relation.startswith(k))}
        if request.step == "litchartom.question":
            character = _between(prompt, "Character: ", ".\n")
            option_start = _between(prompt, '"answer": the correct answer, supported by this plot, starting "', '"')
            question_start = _between(prompt, '"question": starts "', '"')
            summary = _between(prompt, "PLOT: ", "\n")
            verb = option_start[len(character) + 1:]
            return {"scenario": "The court is assembled and everyone waits.",
                    "question": f"{question_start} at this moment in scene {NUMBERS[request.sample]}?",
                    "answer": f"{option_start} {gold_body(character, summary, verb, request.sample)}",
                    "reasoning": "The conversation shows it plainly."}
        if request.step == "litchartom.blind_check":
            lines = [line for line in prompt.splitlines() if _re.match(r"^[ABCD]\. ", line)]
            gold = next(line[0] for line in lines if is_gold(prompt, line[3:]))
            wrong = next(line[0] for line in lines if not is_gold(prompt, line[3:]))
            return {"answer": gold if checker_right(request) else wrong}
        raise AssertionError(f"unexpected step {request.step}")

    return respond


def is_gold(blind_prompt: str, option: str) -> bool:
    """Whether `option` is the gold of the question in a blind-check prompt (any draft sample)."""
    question = _between(blind_prompt, "QUESTION: ", "\n")
    summary = _between(blind_prompt, "STORY PLOT: ", "\n")
    for start, verb in (("What does", "believes"), ("What does", "wants"), ("How does", "feels"),
                        ("What does", "intends to")):
        stem = verb.split()[0].removesuffix("s")
        if not question.startswith(start + " ") or f" {stem} " not in question:
            continue
        character = question[len(start) + 1:question.index(f" {stem}")]
        sample = NUMBERS.index(question.rsplit("scene ", 1)[1].rstrip("?"))
        if option == f"{character} {verb} {gold_body(character, summary, verb, sample)}":
            return True
    return False
