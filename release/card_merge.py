"""Merging a freshly rendered card into an existing one without clobbering what we do not own.

We own (1) the front-matter keys we set and (2) body sections wrapped in
`<!-- toolkit:begin NAME -->` ... `<!-- toolkit:end NAME -->`. Everything else in the existing card
(other front-matter keys, text outside the markers) is kept as it is. Owned sections are replaced in
place; a section new to the template goes right after the previous owned one (or at the end);
an owned section the template no longer renders is removed.
"""

from __future__ import annotations

import re

from huggingface_hub import DatasetCard, DatasetCardData

SECTION = re.compile(
    r"<!-- toolkit:begin (?P<name>[\w-]+) -->.*?<!-- toolkit:end (?P=name) -->", re.DOTALL
)


def compose_card(front_matter: dict, body: str) -> str:
    """README text: YAML front matter, then the body, ending in exactly one newline."""
    yaml_text = DatasetCardData(**front_matter).to_yaml()
    return f"---\n{yaml_text}\n---\n\n{body.strip()}\n"


def merge_card(existing: str | None, ours: str) -> str:
    if not existing or not existing.strip():
        return ours
    existing_card = DatasetCard(existing)
    our_card = DatasetCard(ours)
    front_matter = merge_front_matter(existing_card.data.to_dict(), our_card.data.to_dict())
    body = merge_sections(existing_card.text, our_card.text)
    return compose_card(front_matter, body)


def refresh_sections(existing: str, ours: str) -> str:
    """`existing` with the owned sections `ours` renders replaced, as `merge_card` does, except that an
    owned section `ours` does not render is kept rather than dropped: a card re-rendered from a
    release folder (for a push) has no results table, which `python -m benchscore` added later."""
    existing_card, our_card = DatasetCard(existing), DatasetCard(ours)
    ours_body = our_card.text.rstrip()
    rendered = owned_sections(ours_body)
    kept = [block for name, block in owned_sections(existing_card.text).items() if name not in rendered]
    front_matter = merge_front_matter(existing_card.data.to_dict(), our_card.data.to_dict())
    return compose_card(front_matter, merge_sections(existing_card.text, "\n\n".join([ours_body, *kept])))


def merge_front_matter(existing: dict, ours: dict) -> dict:
    """Our keys win; keys we do not set survive, in their original order."""
    merged = {key: ours.get(key, value) for key, value in existing.items()}
    merged.update({key: value for key, value in ours.items() if key not in merged})
    return merged


def owned_sections(body: str) -> dict[str, str]:
    return {match["name"]: match.group(0) for match in SECTION.finditer(body)}


def merge_sections(existing_body: str, our_body: str) -> str:
    ours = owned_sections(our_body)
    result = _drop_sections(existing_body, keep=set(ours))
    names = list(ours)
    insert_at: int | None = None  # just after the owned section placed last
    for index, name in enumerate(names):
        block = ours[name]
        match = _find_section(result, name)
        if match:
            result = result[: match.start()] + block + result[match.end() :]
            insert_at = match.start() + len(block)
            continue
        if insert_at is not None:  # right after the previous owned section
            result = result[:insert_at] + "\n\n" + block + result[insert_at:]
            insert_at += 2 + len(block)
            continue
        position = _before_next_owned(result, names[index + 1 :])
        if position is None:  # no owned section in the card yet: append at the end
            result = result.rstrip() + "\n\n" if result.strip() else ""
            position = len(result)
        result = result[:position] + block + "\n\n" + result[position:]
        insert_at = position + len(block)
    return result.strip() + "\n"


def _before_next_owned(body: str, later_names: list[str]) -> int | None:
    """Start of the first later owned section present in `body`, if any."""
    for name in later_names:
        match = _find_section(body, name)
        if match:
            return match.start()
    return None


def _find_section(body: str, name: str) -> re.Match | None:
    for match in SECTION.finditer(body):
        if match["name"] == name:
            return match
    return None


def _drop_sections(body: str, keep: set[str]) -> str:
    return SECTION.sub(lambda m: m.group(0) if m["name"] in keep else "", body)
