"""Finding character names in text, and telling whether two characters are one person.

Leakage filters ask "does this turn name the hidden speaker?". A name counts when its words occur
as whole words and the match starts with a capital letter: "Will" the man is a name, "will" the
verb is not. Title-stripped forms count too ("Lear" for "King Lear"), so a filter drops an item
too many rather than miss a vocative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from builders.sources import Character, Work
from builders.sources.aliases import name_key, strip_titles, title_sex

# Mentions that refer without naming: PDNC resolves them to characters, but they reveal nobody.
PRONOUNS = frozenset([
    "i", "me", "my", "mine", "myself", "you", "your", "yours", "yourself", "yourselves", "he", "him",
    "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "we", "us", "our",
    "ours", "ourselves", "they", "them", "their", "theirs", "themselves", "thou", "thee", "thy",
    "thine", "thyself", "ye", "one", "oneself", "who", "whom", "whose"
])


MIN_NAME_CHARS = 3  # shorter title-stripped forms ("Jo", "Al") match too much ordinary text


def character_names(work: Work, char_id: str) -> tuple[str, ...]:
    """Every name of a character, title-stripped forms included, longest first."""
    return work.aliases.names_of(char_id, include_cores=True)


@lru_cache(maxsize=4096)
def _pattern(name: str) -> re.Pattern | None:
    words = re.findall(r"[^\W_]+", name)
    if not words or len("".join(words)) < MIN_NAME_CHARS:
        return None
    return re.compile(r"(?<![^\W_])" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?![^\W_])", re.IGNORECASE)


def names_in(text: str, names: Iterable[str]) -> list[str]:
    """The names (from `names`) that occur in `text` as capitalised whole words."""
    found = []
    for name in names:
        pattern = _pattern(name)
        if pattern and any(match.group(0)[0].isupper() for match in pattern.finditer(text)):
            found.append(name)
    return found


def names_character(work: Work, char_id: str, text: str) -> bool:
    return bool(names_in(text, character_names(work, char_id)))


def is_pronoun(text: str) -> bool:
    return name_key(text) in PRONOUNS


def same_person(a: Character, b: Character) -> bool:
    """True when two character entries denote one person (an alias duplicate).

    Two entries are one person when they share a name up to case and punctuation, or when one's
    name without its titles equals the other's name ("Duke of Albany" / "Albany") and no female
    title stands against a male or bare one ("Mrs. Bennet" is not "Mr. Bennet"). Recorded genders
    that differ rule a match out.
    """
    if a.id == b.id:
        return True
    if a.gender in ("M", "F") and b.gender in ("M", "F") and a.gender != b.gender:
        return False
    names_a, names_b = _names(a), _names(b)
    if {name_key(n) for n in names_a} & {name_key(n) for n in names_b}:
        return True
    return _core_matches(names_a, names_b) or _core_matches(names_b, names_a)


def _names(character: Character) -> list[str]:
    return [n for n in (character.name, *character.aliases) if name_key(n)]


def _core_matches(titled: list[str], bare: list[str]) -> bool:
    bare_keys = {name_key(n): n for n in bare}
    for name in titled:
        core = name_key(strip_titles(name))
        if core != name_key(name) and core in bare_keys and _sex_compatible(title_sex(name), title_sex(bare_keys[core])):
            return True
    return False


def _sex_compatible(first: str | None, second: str | None) -> bool:
    if first == "f" or second == "f":
        return first == second
    return True
