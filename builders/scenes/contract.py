"""What one plot-extraction request asks of the model: its limits (from the model's profile) and
its reply schema, in one of two contracts.

- strict (the embedded model, `profile.contract == "strict"`): short bounded plain-prose patterns,
  the names as an enum and, for short chunks, the line openings as an enum, so a 135M model under a
  llama.cpp grammar stays inside its 2048-token slot and copies real lines. A chunk is one plot.
- natural (capable models): the schema asks for structure only (keys, types, the names enum) and
  takes any Unicode prose; the lengths asked for are the caller's targets, stated in the prompt and
  in each property's description, with only generous bounds against runaway output. A chunk of
  CoSER's size is cut into several plots, each anchored by lines the model quotes from it.

Either way the anchors are verified against the chunk text (plots.py), whatever the model wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.llm.errors import ConfigError
from builders.llm.structured import prose_field

# The strict schema's fixed parts (the contract the embedded model's response caches were made with).
STRICT_NAME = {"type": "string", "minLength": 2, "maxLength": 40}  # a name when the chunk offers none
STRICT_LINE_MIN_CHARS = 8
MAX_KEY_CHARACTERS = 5  # names a plot's reply may list (the plot's main speakers are added from the source)


@dataclass(frozen=True)
class SceneContract:
    """Profile limits `scenes.*` (builders/llm/profiles.yaml) and, for the natural contract, the
    caller's length targets in words (a benchmark fact, e.g. LitCharToM's data/original.json)."""

    natural: bool
    max_plots: int  # 1: the plot is the whole chunk, its anchors taken from the source
    max_names: int
    anchor_choices: int  # line openings offered as an enum when a chunk has 2 to this many
    line_chars: int
    summary_chars: tuple[int, int]
    scenario_chars: tuple[int, int]
    quote_chars: tuple[int, int]
    max_tokens: int
    summary_words: int | None = None
    scenario_words: int | None = None

    @classmethod
    def of(cls, profile, *, summary_words: int | None = None, scenario_words: int | None = None) -> SceneContract:
        if profile.natural and not (summary_words and scenario_words):
            raise ConfigError("a natural-contract plot extraction states its lengths: pass summary_words and "
                              "scenario_words (the benchmark's targets) to SceneContract.of")

        def limit(name: str):
            return profile.limit(f"scenes.{name}")

        return cls(natural=profile.natural, max_plots=limit("max_plots"), max_names=limit("max_names"),
                   anchor_choices=limit("anchor_choices"), line_chars=limit("line_chars"),
                   summary_chars=tuple(limit("summary_chars")), scenario_chars=tuple(limit("scenario_chars")),
                   quote_chars=tuple(limit("quote_chars")), max_tokens=limit("max_tokens"),
                   summary_words=summary_words if profile.natural else None,
                   scenario_words=scenario_words if profile.natural else None)

    def prompt_variables(self) -> dict:
        """What the templates need besides the passage (`natural` switches their wording)."""
        return {"natural": self.natural, "max_plots": self.max_plots, "summary_words": self.summary_words,
                "scenario_words": self.scenario_words}


def plot_schema(names: list[str], contract: SceneContract, *, with_quotes: bool,
                anchors: list[str] | None = None) -> dict:
    """The reply schema: {"plots": [...]} of at most `contract.max_plots` items. With `anchors`, the
    first and last lines are chosen from the chunk's line openings (the last-line choices listed
    from the end); with one plot per chunk the anchors are not asked for at all."""
    name = {"enum": names} if names else STRICT_NAME
    item = _natural_item(name, contract, anchors) if contract.natural else _strict_item(name, contract, anchors)
    if contract.max_plots == 1:  # whole-chunk plot: the anchors come from the source, not the model
        for key in ("first_line", "last_line"):
            del item["properties"][key]
            item["required"].remove(key)
    if with_quotes:
        item["properties"]["quotes"] = _quotes(name, contract)
        item["required"].append("quotes")
    return {"type": "object",
            "properties": {"plots": {"type": "array", "minItems": 1, "maxItems": contract.max_plots, "items": item}},
            "required": ["plots"], "additionalProperties": False}


def _strict_item(name: dict, contract: SceneContract, anchors: list[str] | None) -> dict:
    """Short bounded strings keep a small model inside its context window; the names enum keeps it
    from inventing characters."""
    line = {"type": "string", "minLength": STRICT_LINE_MIN_CHARS, "maxLength": contract.line_chars}
    return {
        "type": "object",
        "properties": {
            "first_line": {"enum": anchors} if anchors else line,
            "last_line": {"enum": anchors[::-1]} if anchors else line,
            "summary": prose_field(*contract.summary_chars),  # no markup or links: the embedded model wrote both here
            "scenario": prose_field(*contract.scenario_chars),
            "characters": {"type": "array", "minItems": 1, "maxItems": MAX_KEY_CHARACTERS, "items": name},
        },
        "required": ["first_line", "last_line", "summary", "scenario", "characters"],
        "additionalProperties": False,
    }


def _natural_item(name: dict, contract: SceneContract, anchors: list[str] | None) -> dict:
    def text(chars: tuple[int, int], description: str) -> dict:
        return {"type": "string", "minLength": chars[0], "maxLength": chars[1], "description": description}

    def line(which: str) -> dict:
        return text((1, contract.line_chars), f"The plot's {which} line, copied word for word from the passage.")

    return {
        "type": "object",
        "properties": {
            "first_line": {"enum": anchors} if anchors else line("first"),
            "last_line": {"enum": anchors[::-1]} if anchors else line("last"),
            "summary": text(contract.summary_chars,
                            f"What happens in the plot, in about {contract.summary_words} words."),
            "scenario": text(contract.scenario_chars,
                             "The setting as the plot begins (place, who is present, what is at stake), with "
                             f"nothing from later in the story; about {contract.scenario_words} words."),
            "characters": {"type": "array", "minItems": 1, "maxItems": MAX_KEY_CHARACTERS, "items": name,
                           "description": "The characters who matter most in the plot."},
        },
        "required": ["first_line", "last_line", "summary", "scenario", "characters"],
        "additionalProperties": False,
    }


def _quotes(name: dict, contract: SceneContract) -> dict:
    low, high = contract.quote_chars
    text = {"type": "string", "minLength": low, "maxLength": high}
    if contract.natural:
        text["description"] = "The spoken words, copied exactly from the passage."
    return {"type": "array", "minItems": 1, "maxItems": 10,
            "items": {"type": "object", "properties": {"speaker": name, "text": text},
                      "required": ["speaker", "text"], "additionalProperties": False}}
