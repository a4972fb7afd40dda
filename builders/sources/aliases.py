"""The alias registry: one stable id and one canonical display name per person per work.

Sources name the same person many ways: PDNC speakers appear under an alias ("Lizzy") or an odd
main name, plays under label variants ("LEAR" / "KING LEAR"), and other datasets under titled forms
("Duke of Albany"). Every builder resolves names through one registry before it makes profiles,
labels or distractors, so one person is never two candidates.

Matching ignores case, whitespace and punctuation ("Mr Darcy" = "Mr. Darcy", "SU FFOLK" = "Suffolk"),
tolerates possessives and lost apostrophes ("Darcy's", "Darcy s"), and falls back to the name
without its titles ("Duke of Albany" -> "Albany") only when that core names exactly one person.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from typing import Iterable, Mapping, Protocol

# Leading words that qualify a name without identifying the person. Used only by the fallback
# lookup, which must end on exactly one person, so a broad list cannot merge two people.
TITLE_WORDS = frozenset(
    """mr mrs miss ms master mistress madam madame mme monsieur mademoiselle mlle dr doctor sir dame
    lady lord king queen prince princess duke duchess earl count countess baron baroness marquis
    colonel captain general admiral major lieutenant sergeant cardinal bishop archbishop friar
    father brother sister aunt uncle saint st don signior my dear dearest poor young old little""".split()
)

# Titles that carry a sex: "Lady Albany" is Albany's wife and "Mrs. Darcy" is not Mr. Darcy, so the
# title-less fallback never crosses from a female title to a male or bare name, or back.
FEMALE_TITLES = frozenset(
    "mrs miss ms mistress madam madame mme mademoiselle mlle dame lady queen princess duchess countess "
    "baroness sister aunt".split()
)
MALE_TITLES = frozenset("mr master monsieur sir lord king prince duke earl count baron marquis father brother uncle don signior".split())

_POSSESSIVE = re.compile(r"(?:['’]s|s['’]|(?<=\w)\s+s)\s*$", re.IGNORECASE)


def name_key(name: str) -> str:
    """The comparison form of a name: case-folded letters and digits only."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


def strip_possessive(name: str) -> str:
    """ "Darcy's" / "Darcy s" (apostrophe lost) / "Jones'" -> the bare name."""
    return _POSSESSIVE.sub("", name.strip())


def title_sex(name: str) -> str | None:
    """ "f" or "m" when the leading titles of a name carry a sex, else None."""
    sexes = set()
    for word in name.replace(".", " ").split()[:-1]:
        key = name_key(word)
        if key not in TITLE_WORDS and key != "of":
            break
        sexes |= {"f"} if key in FEMALE_TITLES else {"m"} if key in MALE_TITLES else set()
    return sexes.pop() if len(sexes) == 1 else None


def _sexes_compatible(query: str, name: str) -> bool:
    """A bare query may match anyone; a titled one never crosses sexes, and a female title never
    lands on a bare name ("Lady Albany" is not Albany)."""
    query_sex, name_sex = title_sex(query), title_sex(name)
    if query_sex is None:
        return True
    if query_sex == "f":
        return name_sex == "f"
    return name_sex != "f"


def strip_titles(name: str, titles: Iterable[str] = TITLE_WORDS) -> str:
    """Drop leading title words (and a following "of"): "Duke of Albany" -> "Albany".

    Returns the name unchanged when nothing would be left ("King", "Lady").
    """
    title_set = frozenset(titles)
    words = name.replace(".", " ").split()
    start = 0
    while start < len(words) - 1 and name_key(words[start]) in title_set:
        start += 1
        if start < len(words) - 1 and words[start].lower() == "of":
            start += 1
    return " ".join(words[start:]) if start else name.strip()


# Reader names versus epithets. PDNC main names are often descriptions ("The Grey Stranger", "A High
# Piping Voice", "Wooden-Legged Man") where a reader knows the person by name ("Anselm Wrey"). A name
# is told from a description by its words, not by a list of descriptions: a description opens with an
# indefinite article, or has no naming word, a naming word being a capitalised word that is not a
# title ("Mr", "Duke", "Doctor"), an article or a connector, and that the work does not use as a
# common word (the caller's `is_common` decides that from the text).
ARTICLES = frozenset({"a", "an", "the"})
HONORIFICS = TITLE_WORDS - {"my", "dear", "dearest", "poor", "young", "old", "little"}  # "Old Woman" is no title
NAME_CONNECTORS = frozenset({"of", "and", "at", "in", "on", "with", "from", "de", "du", "la", "le", "van", "von", "da",
                             "di"})
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def naming_words(name: str, is_common=lambda word: False) -> list[str]:
    """The words of `name` that can only be a person's name ("Anselm", "Wrey"; not "The", "Mr", "Grey").

    A hyphenated word names only if each of its parts does ("Wooden-Legged" does not).
    `is_common(word)` says whether the work uses `word` as an ordinary (lowercase) word; right after
    an honorific a capitalised word names whatever else it means ("Mr. Small", "Mrs. Brown").
    """
    naming = []
    common_here = is_common
    for token in name.replace(".", " ").split():
        parts = _NAME_WORD.findall(token)
        if parts and all(_is_naming_part(part, common_here) for part in parts):
            naming.append(token.strip(",;:"))
        common_here = _never_common if name_key(token) in HONORIFICS else is_common
    return naming


def _never_common(word: str) -> bool:
    return False


def _is_naming_part(part: str, is_common) -> bool:
    key = part.casefold()
    if not part[0].isupper() or key in TITLE_WORDS or key in ARTICLES or key in NAME_CONNECTORS:
        return False
    return len(part) == 1 or not is_common(part)  # a single capital is an initial ("E. W. B. Childers")


def is_epithet(name: str, is_common=lambda word: False) -> bool:
    """True for a description used as a name ("The Detective", "A High Piping Voice", "Wooden-Legged
    Man"), False for a personal name with or without titles ("Mr. Thaddeus Sholto", "The Artful Dodger"
    when the work never writes "dodger" in lowercase)."""
    words = name.split()
    if not words or name.startswith("_"):  # PDNC placeholders: "_group", "_unknowable"
        return True
    if words[0].casefold() in ("a", "an"):
        return True
    if any(_POSSESSIVE.search(word) for word in words[:-1]):  # "Ralph's Mother", "Fagin's Jailer"
        return True
    return not naming_words(name, is_common)


def is_personal_name(name: str, is_common=lambda word: False) -> bool:
    """A name that can stand for a person in a prompt: not a description, and not led by an article
    ("The Duke of St. Austrey" is how the story refers to him, not his name)."""
    return not is_epithet(name, is_common) and name.split()[0].casefold() not in ARTICLES


def is_full_name(name: str, is_common=lambda word: False) -> bool:
    """A first and a last name, titles aside: "Mr. Anselm Wrey", "Jonathan Small" (not "Mr. Small", and
    not a description). A surname that is also a common word ("Small") still counts once capitalised."""
    if not is_personal_name(name, is_common):
        return False
    core = strip_titles(name)
    capitalised = [word for word in core.replace(".", " ").split()
                   if word[:1].isupper() and word.casefold() not in NAME_CONNECTORS | ARTICLES]
    return len(capitalised) >= 2


class _CharacterLike(Protocol):
    id: str
    name: str
    aliases: tuple[str, ...]


class AliasRegistry:
    """Per-work name index. Primary (display) names win over aliases; ambiguous names resolve to None."""

    def __init__(self) -> None:
        self._display: dict[str, str] = {}
        self._names: dict[str, list[str]] = {}
        self._primary: dict[str, set[str]] = defaultdict(set)
        self._alias: dict[str, set[str]] = defaultdict(set)
        self._core: dict[str, list[tuple[str, str]]] = defaultdict(list)  # core -> [(id, full name)]

    @classmethod
    def from_characters(cls, characters: Iterable[_CharacterLike]) -> AliasRegistry:
        registry = cls()
        for character in characters:
            registry.add(character.id, character.name, character.aliases)
        return registry

    def add(self, char_id: str, display_name: str, aliases: Iterable[str] = ()) -> None:
        if char_id in self._display:
            raise ValueError(f"character id {char_id!r} is registered twice")
        names = _unique([display_name, *aliases])
        self._display[char_id] = display_name
        self._names[char_id] = names
        self._primary[name_key(display_name)].add(char_id)
        for name in names:
            self._alias[name_key(name)].add(char_id)
            self._core[name_key(strip_titles(name))].append((char_id, name))

    def resolve(self, name: str) -> str | None:
        """The id of the one person `name` denotes in this work, or None (unknown or ambiguous)."""
        candidates = self.candidates(name)
        return next(iter(candidates)) if len(candidates) == 1 else None

    def candidates(self, name: str) -> set[str]:
        """Every id `name` could denote, from the most specific rule that matches anything."""
        for form in _unique([name, strip_possessive(name)]):
            key = name_key(form)
            if not key:
                continue
            for index in (self._primary, self._alias):
                if index.get(key):
                    return set(index[key])
            core = name_key(strip_titles(form))
            matches = {char_id for char_id, full in self._core.get(core, []) if _sexes_compatible(form, full)}
            if matches:
                return matches
        return set()

    def display_name(self, char_id: str) -> str:
        return self._display[char_id]

    def names_of(self, char_id: str, *, include_cores: bool = True) -> tuple[str, ...]:
        """Every name of a character, longest first, for leakage filters.

        With `include_cores`, title-stripped forms are added ("King Lear" -> "Lear"): a leakage
        filter should rather drop an item too many than miss a name.
        """
        names = list(self._names[char_id])
        if include_cores:
            names += [core for core in (strip_titles(n) for n in names) if len(name_key(core)) >= 3]
        return tuple(sorted(_unique(names), key=lambda n: (-len(n), n)))

    @property
    def ids(self) -> list[str]:
        return list(self._display)

    def __contains__(self, char_id: object) -> bool:
        return char_id in self._display

    def __len__(self) -> int:
        return len(self._display)


def group_label_variants(
    label_counts: Mapping[str, int],
    *,
    merge_titles: Iterable[str] | None = None,
    explicit: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Map every speaker label to the canonical label of its person.

    Three rules, in order:
    1. `explicit` merges (variant -> canonical), for verified cases no string rule can find.
    2. Labels equal up to case, spacing and punctuation ("NURSE" / "Nurse") are one person.
    3. A bare label joins the one label that equals it after a leading identity-preserving title
       ("LEAR" -> "KING LEAR", "WORCESTER" -> "EARL OF WORCESTER"). Two titled labels never merge,
       and a bare label shared by several titled ones stays apart.
    The canonical label of a group is the explicit target, else the titled label, else the most
    frequent one (ties: mixed case before upper case, then alphabetical).
    """
    explicit = dict(explicit or {})
    titles = frozenset(IDENTITY_TITLES if merge_titles is None else merge_titles)
    parent = {label: label for label in label_counts}

    def root(label: str) -> str:
        while parent[label] != label:
            label = parent[label]
        return label

    def union(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    by_key: dict[str, list[str]] = defaultdict(list)
    for label in label_counts:
        by_key[name_key(label)].append(label)
    for same in by_key.values():
        for other in same[1:]:
            union(other, same[0])

    titled_by_core: dict[str, set[str]] = defaultdict(set)
    for label in label_counts:
        core = strip_titles(label, titles)
        if name_key(core) != name_key(label):
            titled_by_core[name_key(core)].add(label)
    for label in label_counts:
        titled = titled_by_core.get(name_key(label), set())
        if len(titled) == 1 and strip_titles(label, titles) == label.strip():
            union(label, next(iter(titled)))

    for variant, target in explicit.items():
        if variant in parent and target in parent:
            union(variant, target)

    groups: dict[str, list[str]] = defaultdict(list)
    for label in label_counts:
        groups[root(label)].append(label)

    def preference(label: str) -> tuple:
        is_target = label in explicit.values()
        is_titled = name_key(strip_titles(label, titles)) != name_key(label)
        return (is_target, is_titled, label_counts[label], not label.isupper(), [-ord(c) for c in label])

    canonical: dict[str, str] = {}
    for members in groups.values():
        best = max(members, key=preference)
        for member in members:
            canonical[member] = best
    return canonical


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        name = " ".join(name.split())
        if name and name not in seen:
            seen.add(name)
            out.append(name)
    return out


# Speaker labels of plays and scripts

# Titles that keep the person's identity when dropped: "KING LEAR" / "LEAR", "EARL OF WORCESTER" /
# "WORCESTER". "LORD" is not one of them ("LORD BARDOLPH" and "BARDOLPH" are two men), nor are the
# female titles ("LADY MACBETH", "QUEEN PHILIP" in Edward III next to the prince "PHILIP").
IDENTITY_TITLES = ("king", "duke", "earl", "sir")

_COLLECTIVE_FIRST_WORDS = {"all", "both", "some", "several"}
_PLURAL_ROLES = set(
    """thieves travellers citizens lords senators servants outlaws players mariners soldiers danes
    attendants knights tribunes sentinels commons princes banditti myrmidons gentlemen frenchmen
    ladies conspirators murderers children servingmen goths people others""".split()
)
LABEL_CONNECTORS = {"of", "the", "de", "and", "la", "le", "du", "&"}
_ROMAN_NUMERAL = re.compile(r"^[IVX]{1,4}$")


def label_category(label: str) -> str:
    """named (upper-case names), generic ("First Servant"), collective ("All"), joint ("A & B")."""
    if "&" in label:
        return "joint"
    words = label.split()
    lowered = [w.lower() for w in words]
    if lowered[0] in _COLLECTIVE_FIRST_WORDS or lowered[-1] in _PLURAL_ROLES:
        return "collective"
    if any(len(w) > 1 and w.isupper() and not _ROMAN_NUMERAL.match(w) for w in words):
        return "named"
    return "generic"


def display_label(label: str) -> str:
    """ "KING HENRY IV" -> "King Henry IV", "DUKE OF VENICE" -> "Duke of Venice"."""
    words = []
    for index, word in enumerate(label.split()):
        if _ROMAN_NUMERAL.match(word) and index > 0:
            words.append(word)
        elif word.lower() in LABEL_CONNECTORS and index > 0:
            words.append(word.lower())
        elif word.isupper():
            words.append("-".join(part.capitalize() for part in word.split("-")))
        else:
            words.append(word)
    return " ".join(words)
