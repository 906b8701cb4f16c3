"""Person names: which text can be a name, and the stable id a name gets."""

from __future__ import annotations

import uuid


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a person's name (None: it can): commands read a number as an
    identity number, and ``identity:`` or ``name:`` as a choice between the two."""
    text = name.strip()
    if not text or len(text) > 200 or not text.isprintable():
        return "a name is 1 to 200 printable characters"
    if text != name:
        return "a name does not begin or end with a space"
    if text.isdigit():
        return "a name cannot be a number: commands read a number as an identity number"
    if text.lower().startswith(("identity:", "name:")):
        return "a name cannot begin with identity: or name: (commands read them as a choice)"
    return None


def person_id(name: str) -> uuid.UUID:
    return uuid.uuid5(_PERSON_NS, name)


_PERSON_NS = uuid.UUID("0c9b7f7e-37b4-4d7e-9d3c-8a1f6f1f2b10")
