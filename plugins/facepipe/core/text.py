"""Text from outside (EXIF fields, file names, error messages) made safe to store and print."""

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


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the word in its number: 1 day, 2 days, 1,000 faces (``many``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"
