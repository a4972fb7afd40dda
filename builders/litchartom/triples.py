"""EvolvTrip triples: (character, relation, object), parsed, validated and linked over time.

A triple's subject is always the target character; its relation is one of the twelve base
relations (vocab.BASE_RELATIONS) plus an optional CamelCase qualifier of at most three words
("BelievesAboutCordelia"). Triples are kept as structured fields (`Triple`) and rendered to the
released string form "(Subject, Relation, object)" only at the edge (`format_triple`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from builders.litchartom.vocab import (
    MAX_QUALIFIER_WORDS,
    qualifier_words,
    relation_dimension,
    split_relation,
)
from builders.sources.aliases import name_key

MAX_OBJECT_WORDS = 15
# The released surface form: split on the first two ", " only, since objects may contain commas.
TRIPLE_PATTERN = re.compile(r"^\((?P<subject>[^,]+), (?P<relation>[A-Za-z]+), (?P<object>.+)\)$", re.DOTALL)


@dataclass(frozen=True)
class Triple:
    subject: str
    relation: str  # base + qualifier, e.g. "BelievesAboutCordelia"
    base_relation: str  # one of the twelve
    qualifier: str  # "" or CamelCase words
    object: str
    dimension: str  # belief | desire | intention | emotion
    plot_index: int
    op: str = "new"  # new | kept | revised | retired (against the character's previous triple set)

    def as_dict(self) -> dict:
        return asdict(self)


class TripleError(ValueError):
    """Why a triple is not admissible; the message goes into the funnel's reject reasons."""


def parse_triple(text: str) -> tuple[str, str, str]:
    """ "(King Lear, IntendsTo, divide the kingdom, fairly)" -> subject, relation, object."""
    match = TRIPLE_PATTERN.match(text.strip())
    if not match:
        raise TripleError(f"not a triple of the form (Subject, Relation, object): {text[:80]!r}")
    return match.group("subject").strip(), match.group("relation"), match.group("object").strip()


def format_triple(triple: Triple) -> str:
    return f"({triple.subject}, {triple.relation}, {triple.object})"


def make_triple(subject: str, relation: str, obj: str, plot_index: int, *, character: str,
                subject_names: tuple[str, ...] = ()) -> Triple:
    """A validated Triple, or TripleError naming the first problem.

    The subject must be the character (or one of `subject_names`, its aliases; it is normalised to
    `character`), the relation a base relation plus an optional qualifier, the object 1-15 words.
    """
    if name_key(subject) not in {name_key(n) for n in (character, *subject_names)}:
        raise TripleError(f"subject {subject!r} is not the target character {character!r}")
    split = split_relation(relation)
    if split is None:
        raise TripleError(f"relation {relation!r} is out of vocabulary (no base relation prefix)")
    base, qualifier = split
    words = qualifier_words(qualifier)
    if words is None or len(words) > MAX_QUALIFIER_WORDS:
        raise TripleError(f"relation {relation!r}: qualifier {qualifier!r} is not 1-{MAX_QUALIFIER_WORDS} "
                          "CamelCase words")
    obj = " ".join(obj.split()).strip(" .")
    if not obj or len(obj.split()) > MAX_OBJECT_WORDS:
        raise TripleError(f"object of {relation} must have 1-{MAX_OBJECT_WORDS} words, got {len(obj.split())}")
    if not re.search(r"[A-Za-z]", obj) or obj.startswith("(") or obj.endswith(")"):
        raise TripleError(f"object {obj[:40]!r} is not plain text")
    return Triple(subject=character, relation=relation, base_relation=base, qualifier=qualifier, object=obj,
                  dimension=relation_dimension(base), plot_index=plot_index)


def dedup_triples(triples: list[Triple]) -> list[Triple]:
    """Drop repeats of (relation, object) up to case and spacing; the first one stays."""
    seen, kept = set(), []
    for triple in triples:
        key = (triple.relation, name_key(triple.object))
        if key not in seen:
            seen.add(key)
            kept.append(triple)
    return kept


def link_to_previous(current: list[Triple], previous: list[Triple]) -> tuple[list[Triple], list[Triple]]:
    """The update rule of the temporal layer, computed from the two sets (no model involved).

    A current triple is `kept` when the previous set has the same relation and object, `revised`
    when it has the same relation with another object, else `new`; a previous relation missing
    from the current set is `retired` (returned separately, re-dated to the current plot).
    """
    before = {(t.relation, name_key(t.object)) for t in previous}
    before_relations = {t.relation for t in previous}
    linked = []
    for triple in current:
        if (triple.relation, name_key(triple.object)) in before:
            op = "kept"
        elif triple.relation in before_relations:
            op = "revised"
        else:
            op = "new"
        linked.append(_with(triple, op=op))
    now_relations = {t.relation for t in current}
    plot_index = current[0].plot_index if current else None
    retired = [_with(t, op="retired", plot_index=plot_index) for t in previous
               if t.relation not in now_relations and plot_index is not None]
    return linked, retired


def _with(triple: Triple, **changes) -> Triple:
    values = triple.as_dict()
    values.update(changes)
    return Triple(**values)
