"""Attacks through what comes from outside: file and folder names, EXIF, params, search filters.

* No SQL is built from file names, params or report inputs (injection through
  the `day` param, the search filter, the CLI; a scan of the code and the SQL).
* The HTML report escapes everything that came from outside (opened in headless
  Chromium, with and without its Content-Security-Policy).
* The embedded database listens on a Unix socket only.
"""

from __future__ import annotations

import ast
import datetime as dt
import io
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.bad_inputs import astronaut_photo
from helpers.rows import q
from PIL import Image
from psycopg import sql

from facepipe.core.config import PROJECT_ROOT
from facepipe.ops.demo import run_day

pytestmark = pytest.mark.dag

DAY = dt.date(2026, 11, 25)
# Valid Linux file and folder names (no '/'), each markup a careless page would run.
IMG_NAME = "<img src=x onerror=alert(1)>.jpg"
SVG_NAME = "<svg onload=alert(2)>.jpg"
CAMERA = "<script>alert(3)</script>"  # EXIF Model of the second photo
SOURCE_DIR = "<img src=y onerror=alert(4)>"  # the source folder itself: shown as the report's source
PERSON = "eileen <marquee onstart=alert(5)>"  # an enrolled person's name is a folder name too
SQL_SOURCE = "' OR 1=1 --"


def jpeg_with_model(rgb, model: str) -> bytes:
    exif = Image.Exif()
    exif[0x0110] = model
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


@dataclass
class Loaded:
    schema: str
    root: Path
    people: Path
    report: Path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, pg_uri, airflow_db):
    """Two photos of Eileen with hostile names, one with a hostile EXIF Model, in a hostile folder;
    Eileen enrolled under a hostile name; face_ingest and face_report run for the day."""
    import psycopg

    from facepipe.core.deployment import settings
    from facepipe.ops.samples import enrolment_images

    base = tmp_path_factory.mktemp("attack")
    root = base / SOURCE_DIR
    day_dir = root / DAY.isoformat()
    day_dir.mkdir(parents=True)
    (day_dir / IMG_NAME).write_bytes(
        jpeg_with_model(astronaut_photo(61, width=1600, height=1000, face_width=820)[0], "plain-cam")
    )
    (day_dir / SVG_NAME).write_bytes(
        jpeg_with_model(astronaut_photo(62, width=1600, height=1000, face_width=820)[0], CAMERA)
    )
    people = base / "people"
    (people / PERSON).mkdir(parents=True)
    for name, rgb in enrolment_images()["eileen_collins"].items():
        Image.fromarray(rgb).save(people / PERSON / name, "JPEG", quality=90)

    schema = "atk_" + uuid.uuid4().hex[:8]
    saved = {k: os.environ.get(k) for k in ("FACEPIPE_DB_SCHEMA", "FACEPIPE_ENROL_DIR")}
    os.environ.update(FACEPIPE_DB_SCHEMA=schema, FACEPIPE_ENROL_DIR=str(people))
    try:
        assert run_day("face_ingest", DAY.isoformat(), source=str(root)) == "success"
        assert run_day("face_report", DAY.isoformat()) == "success"
        yield Loaded(schema, root, people, settings().reports_dir / DAY.isoformat() / "report.html")
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        with psycopg.connect(pg_uri, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def table_counts(db, schema: str) -> dict[str, int]:
    names = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
    return {
        t: db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, t))).fetchone()[0]
        for t in sorted(names)
    }


# ----------------------------------------------------------------- SQL injection


def test_hostile_names_are_stored_exactly(loaded, db):
    uris = {u for (u,) in q(db, loaded.schema, "SELECT uri FROM {s}.images WHERE day = %s", DAY)}
    assert uris == {str(loaded.root / DAY.isoformat() / IMG_NAME), str(loaded.root / DAY.isoformat() / SVG_NAME)}
    assert q(db, loaded.schema, "SELECT DISTINCT source FROM {s}.images") == [(str(loaded.root),)]
    assert q(db, loaded.schema, "SELECT camera FROM {s}.images WHERE uri LIKE %s", "%svg%") == [(CAMERA,)]
    assert q(db, loaded.schema, "SELECT name FROM {s}.people") == [(PERSON,)]


def test_injection_through_the_day_param_is_refused_and_changes_nothing(loaded, db):
    from facepipe.core.days import resolve_day

    db.execute("CREATE TABLE IF NOT EXISTS public.x (id int)")
    try:
        before = table_counts(db, loaded.schema)
        hostile = "2026-11-20'; DROP TABLE x; --"
        with pytest.raises(ValueError) as refused:  # Airflow's ParamValidationError, before any task runs
            run_day("face_ingest", hostile, source=str(loaded.root))
        message = str(refused.value)
        assert "day" in message and "date" in message, message
        assert db.execute("SELECT to_regclass('public.x') IS NOT NULL").fetchone() == (True,)
        assert table_counts(db, loaded.schema) == before
        # and the task behind the param refuses it too, should a run get past Airflow's check
        with pytest.raises(ValueError, match=r"param day must be a date like \d{4}-\d\d-\d\d"):
            resolve_day(hostile, None)
    finally:
        db.execute("DROP TABLE IF EXISTS public.x")


def test_injection_through_the_search_filter_returns_nothing(loaded, db):
    from pgvector.psycopg import register_vector

    from facepipe.core.specs import model_spec
    from facepipe.search.query import query_vector, search_faces

    spec = model_spec("dlib-resnet-128")
    vector = query_vector(loaded.people / PERSON / "closeup.jpg", spec, "hog")
    register_vector(db)
    found = search_faces(db, loaded.schema, spec, vector, k=10, since=DAY, until=DAY, source=str(loaded.root))
    assert len(found) == 2  # the filter works: both photos of Eileen come back from the real source
    for hostile in (SQL_SOURCE, "x' OR 'a'='a", "%", "'; DROP TABLE faces; --"):
        assert search_faces(db, loaded.schema, spec, vector, k=10, since=DAY, until=DAY, source=hostile) == []
    assert q(db, loaded.schema, "SELECT count(*) FROM {s}.faces") == [(2,)]


def test_injection_through_the_search_command_returns_nothing(loaded):
    photo = loaded.people / PERSON / "closeup.jpg"
    env = {
        **os.environ,
        "FACEPIPE_DB_SCHEMA": loaded.schema,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]),
    }

    def search(source: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "facepipe",
                "search",
                str(photo),
                "--since",
                DAY.isoformat(),
                "--until",
                DAY.isoformat(),
                "--source",
                source,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def summary(run: subprocess.CompletedProcess) -> str:  # the "N nearest faces, ..." line
        assert run.returncode == 0, run.stderr[-2000:]
        lines = [line for line in run.stdout.splitlines() if re.match(r"\d+ nearest faces?, ", line)]
        assert len(lines) == 1, run.stdout
        return lines[0]

    hostile = summary(search(SQL_SOURCE))
    assert hostile.startswith("0 nearest faces") and hostile.endswith(f"source {SQL_SOURCE}:"), hostile
    assert summary(search(str(loaded.root))).startswith("2 nearest faces")  # control: the real source matches


# Reviewed: the ORDER BY is picked from a dict literal in the same function, keyed by the
# module constant REPORTS; nothing from outside reaches it.
_ALLOWED = {("report.py", "SELECT * FROM {} WHERE day = %s ORDER BY ")}
_SQLISH = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|DROP|CREATE|ALTER|TRUNCATE"
    r"|COPY|WHERE|ORDER\s+BY|SET\s+(LOCAL\s+)?\w+\s*(=|TO))\b"
)


def _string_building(tree: ast.AST):
    """(line, how, literal text) of every string built at run time: f-string, %, .format(), +."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "f-string", "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
        ):
            yield node.lineno, "%", node.left.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
        ):
            yield node.lineno, ".format", node.func.value.value
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            text = "".join(s.value for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str))
            if text and not all(isinstance(s, ast.Constant) for s in sides):
                yield node.lineno, "+", text


def test_no_sql_is_built_by_string_formatting():
    """Scan plugins/facepipe/**/*.py and dags/*.py: no f-string, %, .format() or + builds text that looks like SQL;
    queries are composed with psycopg.sql and take values as parameters."""
    control = ast.parse(
        'conn.execute(f"SELECT * FROM {table}")\nq = "DELETE FROM %s" % t\n'
        'q = "UPDATE {} SET a = 1".format(t)\nq = "SELECT * FROM t WHERE u = \'" + uri'
    )
    assert sorted(how for _, how, _ in _string_building(control)) == ["%", "+", ".format", "f-string"]
    found = []
    files = sorted((PROJECT_ROOT / "plugins" / "facepipe").rglob("*.py")) + sorted((PROJECT_ROOT / "dags").glob("*.py"))
    assert len(files) >= 15
    for path in files:
        for line, how, text in _string_building(ast.parse(path.read_text(), str(path))):
            if _SQLISH.search(text) and (path.name, text) not in _ALLOWED:
                found.append(f"{path.name}:{line}: {how} {text[:70]!r}")
        plain = path.read_text()
        for m in re.finditer(r"\.(execute|executemany|copy)\(\s*f[\"']", plain):
            found.append(f'{path.name}:{plain[: m.start()].count(chr(10)) + 1}: execute(f"...")')
    assert found == [], "SQL built from strings:\n" + "\n".join(found)


def test_sql_files_take_values_only_as_parameters(pg_uri):
    """include/sql/*.sql: placeholders are identifiers bound by psycopg.sql, values are %(name)s, never quoted."""
    import psycopg

    from facepipe.core.db import load_sql

    identifiers = {"schema", "images_part", "faces_part", "table"}  # table: a version of the search structure
    hostile = 'x"; DROP TABLE faces; --'
    files = sorted((PROJECT_ROOT / "include" / "sql").glob("*.sql"))
    assert len(files) >= 10
    with psycopg.connect(pg_uri) as conn:
        for path in files:
            code = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
            names = set(re.findall(r"\{(\w*)\}", code))
            assert names <= identifiers | {"op", "vector_type", "opclass"}, (path.name, names)
            assert not re.search(r"'[^'\n]*%(\(\w+\))?s[^'\n]*'", code), f"{path.name}: a parameter inside quotes"
            assert not re.search(r"\bEXECUTE\b|\bformat\s*\(", code, re.IGNORECASE), f"{path.name}: dynamic SQL"
            if names & {
                "vector_type",
                "opclass",
            }:  # schema files: bound by facepipe.core.migrations from facepipe.core.specs only
                continue
            text = load_sql(
                path.name,
                op="<->" if "op" in names else None,
                **{k: hostile for k in names - {"op"}},
            ).as_string(conn)
            assert hostile not in text.replace('"x""; DROP TABLE faces; --"', ""), path.name
    with pytest.raises(ValueError):
        load_sql("search_ivf.sql", schema="s", table="t", op="<->; DROP TABLE faces")


# ----------------------------------------------------------------- the HTML report


def _open_report(path: Path, bypass_csp: bool) -> dict:
    from playwright.sync_api import sync_playwright

    out: dict = {"dialogs": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(bypass_csp=bypass_csp)
            page.on("dialog", lambda d: (out["dialogs"].append(d.message), d.dismiss()))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # let any onload/onerror handler fire
            out["text"] = page.inner_text("body")
            out["svg"] = len(page.query_selector_all("svg"))
            out["marquee"] = len(page.query_selector_all("marquee"))
            out["script"] = len(page.query_selector_all("script"))
            out["img_src"] = page.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src'))")
            out["on_attrs"] = page.evaluate(
                "() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
                ".filter(n => n.startsWith('on'))"
            )
        finally:
            browser.close()
    return out


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
@pytest.mark.parametrize("bypass_csp", [False, True], ids=["as-shipped", "csp-bypassed"])
def test_the_report_escapes_names_from_outside(loaded, bypass_csp):
    """With its CSP the page could not run a script anyway; with the CSP bypassed, escaping alone must hold."""
    html = loaded.report.read_text()
    assert "Content-Security-Policy" in html
    page = _open_report(loaded.report, bypass_csp)
    assert page["dialogs"] == []
    assert (page["svg"], page["marquee"], page["script"], page["on_attrs"]) == (0, 0, 0, [])
    assert page["img_src"] and all(src.startswith("data:image/jpeg;base64,") for src in page["img_src"]), page[
        "img_src"
    ]
    for literal in (IMG_NAME, SVG_NAME, CAMERA, SOURCE_DIR, PERSON):
        assert literal in page["text"], f"{literal!r} is not shown as text"


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
def test_the_browser_check_catches_unescaped_markup(loaded, tmp_path):
    """Control: the same page with the names put in raw. The check above must see it (or it proves nothing)."""
    from markupsafe import escape

    html = loaded.report.read_text()
    for literal in (IMG_NAME, SVG_NAME, CAMERA):
        assert str(escape(literal)) in html
        html = html.replace(str(escape(literal)), literal)
    raw = tmp_path / "unescaped.html"
    raw.write_text(html)
    shipped = _open_report(raw, bypass_csp=False)
    assert shipped["svg"] > 0 and shipped["script"] > 0  # the markup became elements ...
    assert shipped["dialogs"] == []  # ... which the page's CSP alone kept from running
    bypassed = _open_report(raw, bypass_csp=True)
    assert {"1", "2", "3"} <= set(bypassed["dialogs"]), bypassed["dialogs"]


def test_the_csv_files_hold_the_names_unchanged(loaded):
    import csv

    with (loaded.report.parent / "sightings.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {Path(r["uri"]).name for r in rows} == {IMG_NAME, SVG_NAME}
    assert {r["person_name"] for r in rows} == {PERSON}
    assert CAMERA in {r["camera"] for r in rows}


# ----------------------------------------------------------------- the database's door


def test_the_embedded_database_listens_on_a_unix_socket_only(pg_uri):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from facepipe.core.db import embedded_uri
    from facepipe.core.deployment import settings

    uri = embedded_uri(settings().home)
    info = conninfo_to_dict(uri)
    assert info.get("host", "").startswith("/"), uri  # a socket directory, not a network host
    assert "hostaddr" not in info
    assert re.match(r"^postgres(ql)?://[^@/]*@/", uri), uri  # no host:port in the authority part
    with psycopg.connect(uri) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)  # NULL over a Unix socket
