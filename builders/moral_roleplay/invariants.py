"""Cross-field invariants of a record (spec §3.1 and §13), run by the pipeline after the schema.

Each check returns None when it holds, else a short message naming what is wrong.
"""

from __future__ import annotations

from builders.moral_roleplay.coser import ENVIRONMENT
from builders.moral_roleplay.vocab import check_traits
from builders.sources.aliases import name_key

MAX_SCENARIO_WORDS = 200
MAX_THOUGHT_WORDS = 100


def majors_are_profiled_key_characters(record: dict) -> str | None:
    keys = {k["name"] for k in record["key_characters"]}
    for name in record["major_characters"]:
        if name not in keys or name not in record["character_profiles"]:
            return f"major character {name!r} is not a key character with a profile"
    return None


def speakers_match_dialogue(record: dict) -> str | None:
    speakers = [turn["character"] for turn in record["dialogues"]]
    listed = record["speaking_characters_w_env"]
    if set(listed) != set(speakers) or len(listed) != len(set(listed)):
        return "speaking_characters_w_env differs from the set of dialogue speakers"
    counts = [speakers.count(name) for name in listed]
    if counts != sorted(counts, reverse=True):
        return "speaking_characters_w_env is not ordered by turn count"
    if ENVIRONMENT not in listed:
        return "the scene has no Environment turn"
    return None


def messages_start_with_thought(record: dict) -> str | None:
    for index, turn in enumerate(record["dialogues"]):
        if turn["character"] != ENVIRONMENT and not turn["message"].startswith("["):
            return f"dialogue turn {index} ({turn['character']}) does not start with a [thought]"
    return None


def word_limit_problem(scenario: str | None = None, thoughts: dict[str, str] | None = None) -> str | None:
    """Spec §3.1 invariant 4, for a record or for a model's reply before it becomes one (the writing
    steps re-ask a reply past these limits)."""
    if scenario is not None and len(scenario.split()) >= MAX_SCENARIO_WORDS:
        return f"scenario has {len(scenario.split())} words (limit {MAX_SCENARIO_WORDS})"
    for name, thought in (thoughts or {}).items():
        if len(thought.split()) >= MAX_THOUGHT_WORDS:
            return f"thought of {name} has {len(thought.split())} words (limit {MAX_THOUGHT_WORDS})"
    return None


def word_limits(record: dict) -> str | None:
    return word_limit_problem(record["scenario"], {key["name"]: key["thought"] for key in record["key_characters"]})


def no_alias_duplicates(record: dict) -> str | None:
    keys = [name_key(k["name"]) for k in record["key_characters"]]
    if len(keys) != len(set(keys)):
        return "two key characters share one name"
    return None


def portrayal_matches_scene(record: dict) -> str | None:
    match = next((k for k in record["key_characters"] if k["name"] == record["name"]), None)
    if match is None:
        return f"{record['name']!r} is not a key character of its scene"
    label = match["morality_classification"]
    if label["level"] != record["level"] or label["key_traits"] != record["key_traits"]:
        return "the record's level/traits differ from its key_characters entry"
    if record["portrayal_id"] != f"{record['case_key']}::{record['name']}":
        return "portrayal_id is not case_key::name"
    if record["case_key"] != f"{record['book']}-{record['i_p']}-{record['i_c']}":
        return "case_key is not book-i_p-i_c"
    return None


def traits_fit_levels(record: dict) -> str | None:
    """A labelled key character's traits fit its level; one not judged has no level and no traits."""
    for key in record["key_characters"]:
        label = key["morality_classification"]
        if label["level"] is None:
            if label["key_traits"]:
                return f"{key['name']}: traits without a level (a portrayal not judged has neither)"
            continue
        problem = check_traits(label["key_traits"], label["level"]).problem
        if problem:
            return f"{key['name']}: {problem}"
    return None


def not_judged_is_unlabelled_and_untested(record: dict) -> str | None:
    """`annotation = "not judged"` exactly when the level is null, and such a portrayal is never tested."""
    not_judged = record["annotation"] == "not judged"
    if not_judged != (record["level"] is None):
        return f"annotation {record['annotation']!r} with level {record['level']}: only a portrayal not judged has no level"
    if not_judged and (record["test"] or record["key_traits"] or "reason" not in record["provenance"]["annotation"]):
        return "a portrayal not judged must have no traits, no test row and its reason in provenance.annotation"
    return None


checks = (majors_are_profiled_key_characters, speakers_match_dialogue, messages_start_with_thought, word_limits,
          no_alias_duplicates, portrayal_matches_scene, traits_fit_levels, not_judged_is_unlabelled_and_untested)
