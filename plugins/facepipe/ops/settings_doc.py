"""docs/operating.md's table of settings, made from the settings model (facepipe.core.config).

``python -m facepipe.ops.settings_doc`` rewrites the table between its two marker lines;
tests/test_settings.py fails when the file and the model disagree, either way.
"""

from __future__ import annotations

import sys
from pathlib import Path

from facepipe.core.config import FIELDS, PROJECT_ROOT, accepts, env_name, scope

DOC = PROJECT_ROOT / "docs" / "operating.md"
BEGIN = "<!-- settings table: made by `python -m facepipe.ops.settings_doc` from facepipe.core.config; do not edit -->"
END = "<!-- end of the settings table -->"


def _default(name: str) -> str:
    info = FIELDS[name]
    if name == "home":
        return "`.facepipe` in the project"
    if name == "max_active_shards":
        return "the cores"
    if info.default is None:
        return "unset"
    if isinstance(info.default, bool):
        return "`1`" if info.default else "`0`"
    return f"`{info.default}`"


def table() -> str:
    """The markdown table: each setting's variable, scope, default, what it accepts and means."""
    lines = [
        "| setting (`facepipe settings set NAME`) | variable | scope | default | accepts | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, info in FIELDS.items():
        text = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | `{env_name(name)}` | {scope(name)} | {_default(name)} | {accepts(name)} | {text} |")
    return "\n".join(lines)


def documented(text: str) -> str | None:
    """The table between the markers of ``text``, or None when the markers are missing."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write(path: Path = DOC) -> bool:
    """Rewrite the table in ``path``; returns whether it changed."""
    text = path.read_text()
    if documented(text) is None:
        raise SystemExit(f"{path}: the markers of the settings table are missing")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    print(f"{DOC}: {'rewritten' if write() else 'already up to date'}")
    sys.exit(0)
