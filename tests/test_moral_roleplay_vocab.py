"""The closed 77-trait vocabulary: the data file, the synonym map, the checks and the record schema."""

from __future__ import annotations

from collections import Counter

import jsonschema

from builders.moral_roleplay.annotate import traits_schema
from builders.moral_roleplay.vocab import check_traits, polarity_of, vocabulary
from builders.resources import load_schema


def test_vocabulary_has_77_traits_and_a_polarity_for_each():
    vocab = vocabulary()
    assert len(vocab.traits) == 77 and len(set(vocab.traits)) == 77
    assert Counter(vocab.polarity.values()) == {"Positive": 28, "Neutral": 23, "Negative": 26}
    assert vocab.traits[0] == "Optimistic" and "Self-deprecating" in vocab.traits and "Narrow-minded" in vocab.traits


def test_record_schema_trait_enum_is_the_data_file():
    assert load_schema("moral_roleplay")["$defs"]["trait"]["enum"] == list(vocabulary().traits)


def test_request_schema_allows_vocabulary_and_synonyms_only():
    schema = traits_schema(4)
    good = {"key_traits": ["Sadistic", "Manipulative", "Vain", "Cruel"]}
    jsonschema.validate(good, schema)
    for bad in (["Evil", "Manipulative", "Vain", "Cruel"], ["Kind", "Manipulative", "Vain", "Cruel"]):
        assert not jsonschema.Draft202012Validator(schema).is_valid({"key_traits": bad})


def test_synonyms_are_mapped_and_duplicates_merged():
    checked = check_traits(["Melancholy", "Withdrawn", "Melancholic", "Authoritarian"], 2)
    assert checked.traits == ["Melancholic", "Reclusive", "Dominant"] and checked.problem is None
    assert check_traits(["Sadistic", "Violent", "Vain"], 4).traits == ["Cruel", "Violent", "Vain"]


def test_out_of_vocabulary_is_rejected_after_mapping():
    checked = check_traits(["Evil", "Cruel", "Vain", "Violent"], 4)
    assert checked.problem == "out of vocabulary: Evil"


def test_trait_count_must_be_three_to_seven():
    assert "trait count" in check_traits(["Kind", "Kind", "Brave"], 1).problem
    assert "trait count" in check_traits(list(vocabulary().traits[:8]), 2).problem
    assert check_traits(["Kind", "Brave", "Loyal"], 1).problem is None


def test_traits_contradicting_the_level_are_rejected():
    assert check_traits(["Cruel", "Brave", "Loyal"], 1).problem == "contradicts level: level 1 cannot hold Cruel"
    assert "Kind" in check_traits(["Kind", "Cruel", "Violent"], 4).problem
    assert "Selfless" in check_traits(["Selfless", "Ambitious", "Greedy"], 3).problem
    assert check_traits(["Cruel", "Manipulative", "Ambitious"], 4).problem is None


def test_polarity_follows_the_table():
    assert polarity_of(["Kind", "Ambitious", "Cruel"]) == ["Positive", "Neutral", "Negative"]
