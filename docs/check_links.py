"""Check the relative links of README.md, RELIABILITY.md, BENCHMARKS.md, bench/HISTORY.md and docs/*.md: each file exists, each #anchor is a heading there.

    python3 docs/check_links.py          (exit code 1 and one line per broken link; part of `make lint`)
    python3 docs/check_links.py FILE...  (those markdown files instead)

Anchors are GitHub's: the heading in lower case, punctuation other than - and _ dropped,
spaces as -, and -1, -2 ... for repeats. Links to http(s) and mailto are not checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def strip_code(text: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            lines.append("")
            continue
        lines.append("" if inside else re.sub(r"`[^`]*`", "", line))  # a link inside code is no link
    return lines


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        m = None if inside else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).replace("`", "").lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        files = [Path(a).resolve() for a in argv]
    else:
        files = [
            ROOT / "README.md",
            ROOT / "RELIABILITY.md",
            ROOT / "BENCHMARKS.md",
            ROOT / "bench" / "HISTORY.md",
            *sorted((ROOT / "docs").glob("*.md")),
        ]
    bad = 0
    for f in files:
        for no, line in enumerate(strip_code(f.read_text(encoding="utf-8")), 1):
            for target in LINK.findall(line):
                if re.match(r"^(https?|mailto):", target):
                    continue
                name, _, anchor = target.partition("#")
                dest = (f.parent / name).resolve() if name else f
                where = f"{shown(f)}:{no}: {target}"
                if not dest.exists():
                    print(f"{where}: no such file")
                    bad += 1
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    print(f"{where}: no heading #{anchor} in {shown(dest)}")
                    bad += 1
    print(f"{len(files)} files, {bad} broken links")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
