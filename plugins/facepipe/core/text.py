"""Text from outside (EXIF fields, file names, error messages) made safe to store and print,
and counts said right (``plural``)."""

from __future__ import annotations

import unicodedata

# Control characters (NUL included: PostgreSQL text cannot hold it), lone surrogates
# (not encodable as UTF-8) and format characters (bidi overrides, zero-width marks).
_DROPPED = {"Cc", "Cs", "Cf", "Co", "Cn"}


def clean_text(text: str, max_len: int = 200) -> str:
    """``text`` without control, format or unassigned characters; whitespace runs become
    one space; trimmed and cut to ``max_len`` characters."""
    kept = []
    for c in text:
        if c in "\t\n\r\v\f":
            kept.append(" ")
        elif unicodedata.category(c) not in _DROPPED:
            kept.append(c)
    return " ".join("".join(kept).split())[:max_len]


def plural(n, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1: ``plural(1, "day")`` is "1 day",
    ``plural(3, "day")`` "3 days", ``plural(2, "identity")`` "2 identities"; ``many`` gives an
    irregular plural (``plural(2, "person", "people")``). ``n`` is shown as given."""
    if n == 1:
        return f"{n} {word}"
    if many is None:
        if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
            many = word[:-1] + "ies"
        elif word.endswith(("s", "x", "ch", "sh")):
            many = word + "es"
        else:
            many = word + "s"
    return f"{n} {many}"


def display_name(name: str | None) -> str | None:
    """A person's name as people write it: a folder-style name (enrolment folders, e.g.
    ``eileen_collins``: lowercase ASCII words joined by ``_``, no space) is shown with spaces
    and capitals ("Eileen Collins"); any other name is shown as stored (its own capitals,
    spaces and non-ASCII letters are the person's). Display only: the stored name is unchanged."""
    if not name or " " in name or "_" not in name.strip("_"):
        return name
    if not name.isascii() or name != name.lower() or not all(c.isalnum() or c in "_-.'" for c in name):
        return name
    words = [w for w in name.split("_") if w]
    return " ".join("-".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in words)
