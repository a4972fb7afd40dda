"""One released row: the published PersonaEval columns, a few extra columns, and `provenance`.

Published columns (spec section 3): `prompt`, `gt`, `option1`..`option4`, `option1_profile`..
`option4_profile`, `option5` and `option5_profile` (empty: Drama and Literary have four options).
Extra columns (spec section 12): `id`, `track`, `work`, `gold_index` (0-based slot of `gt`) and
`gender_shortcut` (builders/personaeval/gender.py).
`prompt` is rendered from prompts/personaeval/item.j2 and re-renders byte for byte from the
row's provenance (`render_prompt_from`). The builder makes rows with the gold in slot 0; the
release's answer key (answer_key.py) moves it to the slot dealt from the owner's salt.

`CHECKS` are the cross-field invariants of spec section 3.1, run by the pipeline after the schema.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from builders import __version__
from builders.personaeval.instances import Instance, display_text, trim_words
from builders.personaeval.profiles import LENGTH_RATIO, Profile
from builders.prompts import render, template_hash
from builders.sources import Work
from builders.sources.aliases import name_key

TEMPLATE = "personaeval/item.j2"
OPTIONS = 4  # candidates per item in the tracks this builder makes (Drama, Literary, Script)
MAX_OPTIONS = 5  # the published columns: option5 is filled only by an Expertise-shaped track
CANDIDATES_HEADING = "\n## Candidates\n"


@dataclass(frozen=True)
class Option:
    char_id: str
    name: str
    kind: str  # "gold" or a distractor kind (distractors.KINDS)
    profile: Profile
    shown_profile: str  # the profile after length matching

    @property
    def normalised(self) -> list[str]:
        """Every change the program made to the model's profile before publishing it."""
        changes = list(self.profile.normalised)
        if self.shown_profile != self.profile.text:
            changes.append(f"cut from {len(self.profile.text.split())} to {len(self.shown_profile.split())} words "
                           f"to match the item's shortest profile (ratio at most {LENGTH_RATIO})")
        return changes


def source_label(work: Work) -> str:
    """Where the text came from, without local paths (a release never holds machine paths)."""
    if work.kind == "novel":
        return " ".join(part for part in (f"PDNC data/{work.meta.get('pdnc_folder', work.id)}",
                                          work.meta.get("gutenberg_url", "")) if part)
    if work.kind == "script":
        return Path(work.source).name
    return work.source


def record_id(work: Work, instance: Instance) -> str:
    turn_ids = "|".join(turn.id for turn in instance.shown_turns)
    return "pe-" + hashlib.sha256(f"{work.id}|{turn_ids}".encode()).hexdigest()[:16]


def dialogue(work: Work, instance: Instance) -> list[dict]:
    """The shown turns with their labels; Character1 keeps the end of a long turn, Character2 the start."""
    name1 = work.characters[instance.character1].name
    turns = []
    for turn in instance.shown_turns:
        hidden = turn.speaker == instance.gold
        keep = "start" if turn is instance.second else "end"
        turns.append({
            "id": turn.id,
            "role": "character2" if hidden else "character1",
            "label": "Character2" if hidden else f"Character1 ({name1})",
            "text": trim_words(display_text(work, turn), keep=keep),
        })
    return turns


def render_prompt(context_line: str, turns: list[dict], options: list[dict]) -> str:
    return render(TEMPLATE, context_line=context_line, dialogue=turns, options=options)


def render_prompt_from(record: dict) -> str:
    """Re-render a row's prompt from its own fields: the determinism check of spec section 14.7."""
    provenance = record["provenance"]
    options = [{"name": record[f"option{i}"], "profile": record[f"option{i}_profile"]}
               for i in range(1, MAX_OPTIONS + 1) if record[f"option{i}"]]
    return render_prompt(provenance["context_line"], provenance["dialogue"], options)


def make_record(*, work: Work, track: str, instance: Instance, options: list[Option], gold_slot: int,
                context_line: str, omitted_context: list[str], seed: int, context_turns: int,
                profile_request: dict, section_title: str, gender: dict) -> dict:
    """`profile_request`: how the profiles were asked (model, contract, prompt hash, sampling)."""
    turns = dialogue(work, instance)
    shown_options = [{"name": option.name, "profile": option.shown_profile} for option in options]
    record = {
        "id": record_id(work, instance),
        "track": track,
        "work": work.id,
        "gold_index": gold_slot,
        "prompt": render_prompt(context_line, turns, shown_options),
        "gt": options[gold_slot].name,
    }
    for slot, option in enumerate(options, start=1):
        record[f"option{slot}"] = option.name
    for slot, option in enumerate(options, start=1):
        record[f"option{slot}_profile"] = option.shown_profile
    record["option5"] = ""
    record["option5_profile"] = ""
    record["gender_shortcut"] = gender["shortcut"]
    record["provenance"] = {
        "builder": "personaeval",
        "builder_version": __version__,
        "seed": seed,
        "track": track,
        "source": {"work_id": work.id, "title": work.title, "author": work.author, "kind": work.kind,
                   "license": work.license, "source": source_label(work)},
        "section": {"id": instance.section, "title": section_title},
        "turn_index": instance.index,
        "attribution": "human",
        "character1": {"id": instance.character1, "name": work.characters[instance.character1].name},
        "gold": {"id": instance.gold, "name": work.characters[instance.gold].name},
        "context_turns": context_turns,
        "context_line": context_line,
        "context_omitted": list(omitted_context),
        "dialogue": turns,
        "options": [{
            "name": option.name,
            "character_id": option.char_id,
            "kind": option.kind,
            "profile_words": len(option.shown_profile.split()),
            "profile_sample": option.profile.sample,
            "profile_masked_words": option.profile.masked_words,
            "profile_request_hash": option.profile.provenance.get("request_hash", ""),
            "profile_normalised": option.normalised,
        } for option in options],
        "profile": dict(profile_request),
        "gender": {"cue": gender["cue"], "options": gender["options"]},
        "prompt_template_hash": template_hash(TEMPLATE),
    }
    return record


# Cross-field invariants (spec section 3.1)


def _options(record: dict) -> list[str]:
    return [record[f"option{i}"] for i in range(1, MAX_OPTIONS + 1) if record.get(f"option{i}")]


def check_gold(record: dict) -> str | None:
    options = _options(record)
    if options.count(record["gt"]) != 1:
        return f"gt {record['gt']!r} must equal exactly one option; options are {options}"
    if record[f"option{record['gold_index'] + 1}"] != record["gt"]:
        return f"gold_index {record['gold_index']} does not point at gt {record['gt']!r}"
    return None


def check_distinct_options(record: dict) -> str | None:
    keys = [name_key(option) for option in _options(record)]
    if len(set(keys)) != len(keys):
        return f"options are not pairwise distinct: {_options(record)}"
    character1 = name_key(record["provenance"]["character1"]["name"])
    if character1 in keys:
        return "Character1 is among the options"
    return None


def check_option5(record: dict) -> str | None:
    if bool(record["option5"]) != bool(record["option5_profile"]):
        return "option5 and option5_profile must both be empty or both be filled"
    return None


def check_names_in_prompt(record: dict) -> str | None:
    missing = [option for option in _options(record) if option not in record["prompt"]]
    return f"prompt lacks option names {missing}" if missing else None


def check_gold_not_leaked(record: dict) -> str | None:
    before_candidates = record["prompt"].split(CANDIDATES_HEADING, 1)[0]
    if re.search(rf"(?<!\w){re.escape(record['gt'])}(?!\w)", before_candidates):
        return f"gt {record['gt']!r} appears in the prompt before the candidate list"
    return None


def check_profiles(record: dict) -> str | None:
    profiles = [record[f"option{i}_profile"] for i in range(1, MAX_OPTIONS + 1) if record.get(f"option{i}_profile")]
    if len(set(profiles)) != len(profiles):
        return "two options share a profile text"
    lengths = [len(profile.split()) for profile in profiles]
    if max(lengths) > LENGTH_RATIO * min(lengths):
        return f"profile lengths {lengths} differ by more than a factor {LENGTH_RATIO}"
    return None


CHECKS = (check_gold, check_distinct_options, check_option5, check_names_in_prompt, check_gold_not_leaked,
          check_profiles)
