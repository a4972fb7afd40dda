"""The alias registry: one id per person, tolerant matching, no merges across people."""

from __future__ import annotations

import pytest

from builders.sources import Character
from builders.sources.aliases import (AliasRegistry, group_label_variants, is_epithet, is_full_name,
                                      is_personal_name, name_key, naming_words, strip_titles, title_sex)


@pytest.fixture
def registry():
    return AliasRegistry.from_characters(
        [
            Character("darcy", "Mr. Darcy", ("Fitzwilliam Darcy", "Darcy")),
            Character("mr-bennet", "Mr. Bennet"),
            Character("mrs-bennet", "Mrs. Bennet"),
            Character("lear", "King Lear", ("LEAR",)),
            Character("albany", "Albany", ("ALBANY",)),
            Character("ohara", "Mrs. O'Hara"),
        ]
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Mr. Darcy", "darcy"),
        ("mr darcy", "darcy"),
        ("  MR.   DARCY ", "darcy"),
        ("Darcy's", "darcy"),
        ("Darcy s", "darcy"),  # apostrophe lost
        ("Mrs. O Hara", "ohara"),  # apostrophe lost inside the name
        ("Duke of Albany", "albany"),
        ("Lear", "lear"),
        ("Bennet", None),  # Mr. or Mrs.
        ("Mrs Bennet", "mrs-bennet"),
        ("Lady Albany", None),  # a wife, not the duke
        ("Mrs. Darcy", None),
        ("Wickham", None),
        ("", None),
    ],
)
def test_resolve(registry, query, expected):
    assert registry.resolve(query) == expected


def test_names_of_lists_every_name_longest_first(registry):
    names = registry.names_of("darcy")
    assert names[0] == "Fitzwilliam Darcy"
    assert set(names) == {"Mr. Darcy", "Fitzwilliam Darcy", "Darcy"}
    assert "Lear" in registry.names_of("lear")
    assert registry.names_of("lear", include_cores=False) == ("King Lear", "LEAR")


def test_duplicate_ids_are_refused(registry):
    with pytest.raises(ValueError, match="twice"):
        registry.add("darcy", "Someone")


def test_name_helpers():
    assert name_key("SU FFOLK") == name_key("Suffolk")
    assert strip_titles("Duke of Albany") == "Albany"
    assert strip_titles("My Dear Miss Eliza") == "Eliza"
    assert strip_titles("King") == "King"
    assert title_sex("Lady Catherine") == "f" and title_sex("Sir Toby") == "m" and title_sex("Toby") is None


def test_group_label_variants():
    counts = {"KING LEAR": 187, "LEAR": 1, "Nurse": 89, "NURSE": 1, "QUEEN PHILIP": 4, "PHILIP": 8,
              "KING JOHN": 2, "SIR JOHN": 2, "JOHN": 1, "LORD BARDOLPH": 18, "BARDOLPH": 31,
              "GLOUCESTER": 163, "KING RICHARD III": 138}
    canonical = group_label_variants(counts, explicit={"GLOUCESTER": "KING RICHARD III"})
    assert canonical["LEAR"] == canonical["KING LEAR"] == "KING LEAR"
    assert canonical["NURSE"] == canonical["Nurse"] == "Nurse"
    assert canonical["PHILIP"] == "PHILIP"  # Queen Philippa and Prince Philip (Edward III)
    assert canonical["JOHN"] == "JOHN"  # two titled Johns: the bare label stays apart
    assert canonical["BARDOLPH"] == "BARDOLPH" and canonical["LORD BARDOLPH"] == "LORD BARDOLPH"
    assert canonical["GLOUCESTER"] == "KING RICHARD III"


# Words a story writes in lowercase: how the work itself tells a description from a name.
COMMON = {"grey", "stranger", "high", "piping", "voice", "wooden", "legged", "man", "detective", "small", "mother",
          "artful", "old", "woman"}


def common(word: str) -> bool:
    return word.lower() in COMMON


@pytest.mark.parametrize("name", ["The Grey Stranger", "A High Piping Voice", "Wooden-Legged Man", "The Detective",
                                  "An Old Woman", "Ralph's Mother", "_unknowable", "The Old Woman"])
def test_descriptions_are_epithets(name):
    assert is_epithet(name, common)
    assert not is_personal_name(name, common)


@pytest.mark.parametrize("name", ["Jonathan Small", "Mr. Thaddeus Sholto", "Mr. Small", "Sholto", "Baron Burmergelm",
                                  "Mr. E. W. B. Childers", "Jean-Paul Roux"])
def test_personal_names_are_not_epithets(name):
    assert not is_epithet(name, common)
    assert is_personal_name(name, common)


def test_an_article_name_with_a_naming_word():
    # "Dodger" is never a lowercase word in its story: the description carries a name, and is kept as
    # a display name, but it is not offered as a replacement for an epithet.
    assert not is_epithet("The Artful Dodger", common) and not is_personal_name("The Artful Dodger", common)
    assert naming_words("The Artful Dodger", common) == ["Dodger"]
    assert is_epithet("The Artful Dodger", lambda word: True)  # a story that writes "dodger" in lowercase


def test_full_names():
    assert is_full_name("Jonathan Small", common)  # a surname that is also a common word still counts
    assert is_full_name("Mr. Thaddeus Sholto", common) and is_full_name("Miss Mary de Morstan", common)
    assert not is_full_name("Mr. Small", common) and not is_full_name("Sholto", common)
    assert not is_full_name("Wooden-Legged Man", common) and not is_full_name("The Artful Dodger", common)
