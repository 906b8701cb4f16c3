"""Command-line output: tables with headers for people, JSON for machines (``--json``).

Columns are as wide as their widest value: nothing is cut, from either side. Text from
outside (file names, names) is shown with ``shown`` (no terminal escapes).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence


def shown(text) -> str:
    """Text from outside (file names) as printable characters only: no terminal escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return shown(value)


def table(headers: Sequence[str], rows: Sequence[Sequence], right: Sequence[str] = ()) -> str:
    """Rows under their headers, numbers right-aligned (and the columns named in ``right``)."""
    text = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    numeric = [
        h in right
        or (
            bool(rows)
            and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows if r[i] is not None)
        )
        for i, h in enumerate(headers)
    ]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in text)])


def to_json(value) -> str:
    def default(v):
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        if isinstance(v, uuid.UUID):
            return str(v)
        return str(v)

    return json.dumps(value, default=default, indent=2)
