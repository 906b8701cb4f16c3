"""The docs against the code: their links and anchors, the schema's revisions, the numbers
they give for settings, and the commands they give an operator, run as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from facepipe.core.config import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
OPERATING = DOCS / "operating.md"


def section(path, heading: str) -> str:
    """The text of the section under ``heading`` (a line "## heading"), up to the next one of its level."""
    text = path.read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    end = re.compile(rf"^{level} ", re.M).search(text, start + len(heading) + 2)
    return text[start : end.start() if end else len(text)]


def check_links(*files) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(DOCS / "check_links.py"), *map(str, files)], capture_output=True, text=True, timeout=60
    )


def test_every_link_and_anchor_of_the_docs_resolves():
    done = check_links()
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().endswith(", 0 broken links")


def test_check_links_fails_on_a_broken_anchor_or_file(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Its section: here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n## Second, part 2\n\n"
        "[fine](#second-part-2) [fine too](other.md#its-section-here) [web](https://example.com/#nothing)\n"
        "`[in code](#nowhere)`\n\n```\n[in a block](#nowhere)\n```\n"
        "[bad anchor](#no-such-heading)\n[bad anchor elsewhere](other.md#its-section)\n[no file](missing.md)\n"
    )
    done = check_links(page)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[:-1] == [
        f"{page}:11: #no-such-heading: no heading #no-such-heading in {page}",
        f"{page}:12: other.md#its-section: no heading #its-section in {tmp_path / 'other.md'}",
        f"{page}:13: missing.md: no such file",
    ]
    assert lines[-1] == "1 files, 3 broken links"


def test_make_lint_checks_the_links():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "docs/check_links.py" in lint


def test_the_schema_versions_table_lists_every_revision_and_no_other():
    from facepipe.core import schema as versions

    table = section(OPERATING, "## Schema versions (`facepipe db`)")
    documented = re.findall(r"^\| (\d{4}) \|", table, re.M)
    in_code = [r.revision for r in versions.history()]
    assert documented == sorted(documented), "the table's revisions are not in order"
    assert set(in_code) - set(documented) == set(), "revisions the table does not list"
    assert set(documented) - set(in_code) == set(), "the table lists revisions the code does not have"
    assert documented[-1] == versions.head()
    # each revision's SQL file is there too, as the section says
    sql = {p.name[:4] for p in (PROJECT_ROOT / "include" / "sql" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")}
    assert sql == set(in_code)


def test_the_schema_name_limit_the_docs_give_is_the_codes(monkeypatch):
    """The longest FACEPIPE_DB_SCHEMA the docs allow is accepted and one byte more refused."""
    from facepipe.core.config import ConfigError, check_settings

    text = OPERATING.read_text(encoding="utf-8")
    (limit,) = {int(n) for n in re.findall(r"schema name over (\d+) bytes", text)}
    monkeypatch.delenv("AIRFLOW_CONN_FACEPIPE_DB", raising=False)
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", "s" * limit)
    check_settings()
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", "é" * (limit // 2) + "s" * (limit % 2))  # bytes, not characters
    check_settings()
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", "s" * (limit + 1))
    with pytest.raises(ConfigError, match="FACEPIPE_DB_SCHEMA"):
        check_settings()
    monkeypatch.setenv("FACEPIPE_DB_SCHEMA", "é" * (limit // 2) + "ss")
    with pytest.raises(ConfigError, match="FACEPIPE_DB_SCHEMA"):
        check_settings()
