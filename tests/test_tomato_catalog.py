"""Seed lists, personas, balanced Big Five patterns, synthetic ULIDs and combos."""

import collections
import itertools
import json
import re

import pytest

from builders.tomato.catalog import iter_combos
from builders.tomato.ids import ulid_from_card
from builders.tomato.personas import ALL_PATTERNS, balanced_patterns, big_five_text, personality_sentence
from builders.tomato.scenarios import environment_problem
from builders.tomato.seeds import SeedDataError, load_first_names, load_scenario_seeds, load_seeds

ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
BIG_FIVE = re.compile(r"^Openness to Experience - (High|Low); Conscientiousness - (High|Low); "
                      r"Extraversion - (High|Low); Agreeableness - (High|Low); Neuroticism - (High|Low)$")


def test_seed_files_load_and_have_enough_variety():
    seeds = load_seeds()
    pronouns = collections.Counter(n.pronoun for n in seeds.first_names)
    assert set(pronouns) == {"he", "she", "they"} and min(pronouns.values()) >= 10
    assert len(seeds.last_names) >= 50 and len(seeds.occupations) >= 40 and len(seeds.scenarios) >= 30


def test_every_scenario_seed_passes_the_environment_checks():
    """The seed's own text is the fallback, so it must itself be a valid environment."""
    for seed in load_seeds().scenarios:
        assert environment_problem(seed.scenario, *seed.goals) is None, seed.id


def test_bad_seed_files_fail_with_the_file_and_the_problem(tmp_path):
    path = tmp_path / "first_names.json"
    path.write_text(json.dumps([{"name": "Kim", "pronoun": "xe"}]))
    with pytest.raises(SeedDataError, match="first_names.json.*pronoun must be one of"):
        load_first_names(path)
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps([{"id": "x", "scenario": "s", "goals": ["same", "same"]}]))
    with pytest.raises(SeedDataError, match="two distinct goals"):
        load_scenario_seeds(path)
    with pytest.raises(SeedDataError, match="missing"):
        load_scenario_seeds(tmp_path / "absent.json")


def test_big_five_text_and_personality_sentence():
    pattern = (True, False, True, False, True)
    assert BIG_FIVE.match(big_five_text(pattern))
    assert big_five_text(pattern) == ("Openness to Experience - High; Conscientiousness - Low; Extraversion - High; "
                                      "Agreeableness - Low; Neuroticism - High")
    assert personality_sentence(pattern) == "an open, unconscientious, extraversive, disagreeable and neurotic person"
    assert personality_sentence((False,) * 5) == "a closed, unconscientious, introversive, disagreeable and stable person"


def test_balanced_patterns_cover_all_32_in_every_block_and_depend_on_seed():
    stream = list(itertools.islice(balanced_patterns(7), 96))
    for block in range(3):
        assert sorted(stream[32 * block: 32 * block + 32]) == sorted(ALL_PATTERNS)
    assert stream[:32] != stream[32:64]  # a fresh order each round
    assert stream == list(itertools.islice(balanced_patterns(7), 96))
    assert stream != list(itertools.islice(balanced_patterns(8), 96))


def test_ulid_from_card_is_deterministic_and_well_formed():
    card = {"first_name": "Liam", "age": 30}
    assert ulid_from_card(card) == ulid_from_card(dict(reversed(card.items())))
    assert ULID.match(ulid_from_card(card))
    assert ulid_from_card(card) != ulid_from_card({**card, "age": 31})


def test_combos_are_deterministic_balanced_and_have_unique_combo5():
    combos = list(itertools.islice(iter_combos(3, load_seeds()), 160))
    again = list(itertools.islice(iter_combos(3, load_seeds()), 160))
    assert [c.id for c in combos] == [c.id for c in again]
    assert len({c.combo5 for c in combos}) == 160
    for combo in combos:
        assert ULID.match(combo.id) and ULID.match(combo.agent_a.id) and ULID.match(combo.agent_b.id)
        assert combo.agent_a.first_name != combo.agent_b.first_name
        occupation = next(o for o in load_seeds().occupations if o.title == combo.agent_a.occupation)
        assert occupation.min_age <= combo.agent_a.age <= occupation.max_age
    # speakers' patterns: every 16 combos (32 agents) use each of the 32 patterns exactly once
    for start in range(0, 160, 16):
        agents = [a for c in combos[start:start + 16] for a in (c.agent_a, c.agent_b)]
        assert collections.Counter(a.big_five for a in agents) == collections.Counter(ALL_PATTERNS)
    # scenario seeds are used round-robin
    seeds_used = collections.Counter(c.scenario_seed.id for c in combos)
    assert set(seeds_used.values()) == {160 // len(load_seeds().scenarios)}


def test_agent_card_has_the_sotopia_fields():
    combo = next(iter_combos(0, load_seeds()))
    card = combo.agent_a.card()
    assert set(card) == {"first_name", "last_name", "age", "occupation", "gender_pronoun", "big_five"}
    assert card["gender_pronoun"] in {"He/him", "She/her", "They/them"}
    assert combo.agent_a.id == ulid_from_card(card)
