"""The Faces view's app without an api-server: refusals that need no Airflow, and the plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def app():
    from facepipe.web.app import create_app

    return create_app()


def test_every_route_is_refused_when_airflow_auth_cannot_be_imported(app, monkeypatch):
    from fastapi.testclient import TestClient

    import facepipe.web.auth as auth

    monkeypatch.setattr(auth, "_airflow", lambda: None)
    client = TestClient(app)
    for path in (
        "/",
        "/people",
        "/people/1",
        "/crop/2026-11-20/00000000-0000-0000-0000-000000000000/0",
        "/search",
        "/days",
        "/days/2026-11-20",
        "/days/2026-11-20/report",
        "/forget",
    ):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 503 and "refused" in r.text, path
    assert client.post("/people/1/name", data={"name": "x"}).status_code == 503


def test_a_database_that_is_down_gives_a_clear_page(app, monkeypatch):
    """The app starts without the database; each page then says it is not available."""
    from fastapi.testclient import TestClient

    from facepipe.web.auth import Access, access

    monkeypatch.setenv("AIRFLOW_CONN_FACEPIPE_DB", "postgresql://nobody:x@127.0.0.1:9/none")
    app.dependency_overrides[access] = lambda: Access(user="t", can_edit=True, by_cookie=False)
    client = TestClient(app)
    for path in ("/people", "/people/1", "/days", "/days/2026-11-20"):
        r = client.get(path)
        assert r.status_code == 503 and "facepipe database is not available" in r.text, (path, r.text[-300:])


def test_origin_checks():
    from starlette.requests import Request

    from facepipe.web.auth import Access, same_origin

    def request(headers: dict, method="POST"):
        scope = {
            "type": "http",
            "method": method,
            "scheme": "http",
            "path": "/",
            "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:8080", **headers}.items()],
        }
        return Request(scope)

    cookie, bearer = Access("u", True, True), Access("u", True, False)
    assert same_origin(request({"origin": "http://127.0.0.1:8080"}), cookie) is None
    assert same_origin(request({"sec-fetch-site": "same-origin"}), cookie) is None
    assert same_origin(request({"origin": "http://evil.example"}), cookie)
    assert same_origin(request({"origin": "null"}), cookie)
    assert same_origin(request({"sec-fetch-site": "cross-site", "origin": "http://127.0.0.1:8080"}), cookie)
    assert same_origin(request({}), cookie)  # the cookie and nothing to say where from
    assert same_origin(request({}), bearer) is None  # an explicit token: not a browser's ambient credential
    assert same_origin(request({}, method="GET"), bearer)


def test_the_plugin_mounts_the_app_and_adds_a_nav_entry():
    from facepipe.ops.plugin import FacepipePlugin

    plugin = FacepipePlugin()
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/facepipe" and app["app"] is plugin.fastapi_apps[0]["app"]
    (view,) = plugin.external_views
    assert view["destination"] == "nav" and view["href"].endswith("/facepipe/people") and view["url_route"] == "faces"


def test_tables_cut_nothing():
    from facepipe.ops.tables import table

    long = "/photos/" + "x" * 200 + "/end.jpg"
    out = table(["id", "who", "source"], [(1, "airflow:face_report/manual__2026-12-01T10:00:00+00:00", long)])
    assert out.splitlines()[0].split() == ["id", "who", "source"]
    assert long in out and "manual__2026-12-01T10:00:00+00:00" in out


def test_a_stopped_embedded_server_is_not_started_by_the_view(app, monkeypatch, tmp_path):
    """Under make airflow the embedded server is the api-server's own; the view never starts it."""
    from fastapi.testclient import TestClient

    from facepipe.core.deployment import settings
    from facepipe.web.auth import Access, access

    monkeypatch.delenv("AIRFLOW_CONN_FACEPIPE_DB", raising=False)
    monkeypatch.setenv("FACEPIPE_EMBEDDED_DB", "1")
    monkeypatch.setenv("FACEPIPE_HOME", str(tmp_path / "home"))
    assert settings().home == (tmp_path / "home").resolve()
    app.dependency_overrides[access] = lambda: Access(user="t", can_edit=True, by_cookie=False)
    r = TestClient(app).get("/people")
    assert r.status_code == 503 and "facepipe database is not available" in r.text
    assert "OperationalError" not in r.text and "Stopped" not in r.text  # the reason goes to the log
    assert not (tmp_path / "home" / "pgdata").exists()  # nothing was initialised or started


def test_requests_out_of_range_are_refused_before_the_database(app):
    """Dates whose windows overflow, identity numbers past bigint, face numbers past smallint."""
    from fastapi.testclient import TestClient

    from facepipe.web.auth import Access, access

    app.dependency_overrides[access] = lambda: Access(user="t", can_edit=True, by_cookie=False)
    client = TestClient(app)
    for path, status in (
        ("/days?until=0001-01-15", 400),
        ("/search?until=0001-01-10", 400),
        ("/search?since=9999-12-31", 400),
        ("/people?since=0001-01-01", 400),
        ("/people/99999999999999999999", 404),
        ("/people/0", 404),
        ("/crop/2026-11-20/00000000-0000-0000-0000-000000000000/99999", 404),
    ):
        r = client.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[-300:])
        assert "Traceback" not in r.text
    r = client.post("/people/99999999999999999999/name", data={"name": "x"}, headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 404


PLUGIN_ERRORS = """
import json, sys
from pathlib import Path
plugins = sys.argv[1]
# the venv's editable .pth points at the checkout it was installed from; this checkout's
# `make install` points it here (a worktree may share another checkout's venv)
sys.path = [plugins if (Path(p) / "facepipe" / "__init__.py").is_file() else p for p in sys.path]
from airflow import plugins_manager
found, errors = plugins_manager._get_plugins()
print(json.dumps({"plugins": [p.name for p in found], "errors": errors}))
"""


def _plugin_errors(checkout, tmp_path) -> dict:
    """Airflow's plugins_manager as `make airflow` runs it: the checkout's plugins/ as the
    plugins folder and on PYTHONPATH, and the installed package's airflow.plugins entry point."""
    import json
    import os
    import subprocess
    import sys

    plugins = str(checkout / "plugins")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": plugins,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": plugins,
    }
    run = subprocess.run(
        [sys.executable, "-c", PLUGIN_ERRORS, plugins],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_fresh_install_registers_the_plugin_once(tmp_path):
    """`pip install -e .` (make install, the Dockerfile) leaves no second facepipe distribution in
    plugins/: Airflow reports no plugin import error ("Plugin 'facepipe' already registered")."""
    import shutil
    import subprocess
    import venv

    from facepipe.core.config import PROJECT_ROOT

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(PROJECT_ROOT / name, checkout / name)
    shutil.copytree(PROJECT_ROOT / "include", checkout / "include")
    shutil.copytree(
        PROJECT_ROOT / "plugins", checkout / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    # make install's own step (pip's isolated build), in a venv of its own
    venv.create(tmp_path / "venv", with_pip=True)
    build = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "pip"), "install", "--quiet", "--no-deps", "-e", "."],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert not list((checkout / "plugins").glob("*.egg-info")), "the build left its metadata in plugins/"
    assert (checkout / "include" / "facepipe.egg-info" / "entry_points.txt").is_file()

    found = _plugin_errors(checkout, tmp_path)
    assert found["errors"] == {} and found["plugins"].count("facepipe") == 1, found
    # control: the metadata in plugins/ (as builds before this left it) is what Airflow loads twice
    shutil.copytree(checkout / "include" / "facepipe.egg-info", checkout / "plugins" / "facepipe.egg-info")
    found = _plugin_errors(checkout, tmp_path)
    assert any("already registered" in e for e in found["errors"].values()), found


def test_notices_are_signed_fresh_and_for_one_page(monkeypatch):
    import time

    from facepipe.web import notice

    value = notice.sign({"to": "/facepipe/people/1", "text": "Named Ann."})
    assert notice.unsign(value, 120)["text"] == "Named Ann."
    body, mac = value.split(".")
    assert notice.unsign(body + "." + mac[:-2] + "AA", 120) is None  # tampered
    assert notice.unsign(body.replace("A", "B", 1) + "." + mac, 120) is None
    assert notice.unsign("not-a-notice", 120) is None and notice.unsign(None, 120) is None
    later = time.time() + 121
    monkeypatch.setattr(notice.time, "time", lambda: later)
    assert notice.unsign(value, 120) is None  # stale


def test_the_theme_script_is_served_under_script_src_self(app):
    """The pages' one script is this app's static file; the CSP allows no other."""
    from fastapi.testclient import TestClient

    from facepipe.web.auth import Access, access

    app.dependency_overrides[access] = lambda: Access(user="t", can_edit=True, by_cookie=False)
    client = TestClient(app)
    r = client.get("/static/theme.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert "MutationObserver" in r.text and 'classList.contains("dark")' in r.text
    assert client.get("/static/nothing.js").status_code == 404
    from facepipe.web.app import CSP

    assert "script-src 'self';" in CSP and "unsafe" not in CSP.split("script-src")[1].split(";")[0]


def test_a_runs_days_are_what_its_resolve_task_returned():
    import datetime as dt

    from facepipe.web.days import run_days

    t = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    rows = [
        # face_ingest: resolve returned the day; face_report: the list of its days
        ("face_ingest", "manual__1", "success", t, None, {"day": "2026-11-20"}, '{"day": "2026-11-20", "run_id": "x"}'),
        ("face_report", "asset_triggered__2", "failed", t, None, None, ["2026-11-20", "2026-11-21"]),
        # no resolve value (it failed first): the day param, else the data interval's day
        ("face_ingest", "manual__3", "failed", t, None, '{"day": "2026-11-23"}', None),
        ("face_ingest", "scheduled__4", "queued", t, dt.datetime(2026, 11, 24, tzinfo=dt.UTC), {}, None),
    ]
    got = run_days(rows)
    assert [r["run_id"] for r in got[("face_ingest", dt.date(2026, 11, 20))]] == ["manual__1"]
    assert [r["state"] for r in got[("face_report", dt.date(2026, 11, 21))]] == ["failed"]
    assert ("face_ingest", dt.date(2026, 11, 23)) in got and ("face_ingest", dt.date(2026, 11, 24)) in got
    assert ("face_report", dt.date(2026, 11, 23)) not in got


def test_the_days_list_says_loaded_never_loaded_expired_and_arriving():
    import datetime as dt

    from facepipe.web.days import at_load, day_list

    loaded = {"day": dt.date(2026, 11, 20), "loaded_at": dt.datetime(2026, 11, 21), "images": 5, "duplicates": 0}
    loaded |= {"faces": 6, "rejects": 1, "loaded_images": 6, "loaded_duplicates": 0, "loaded_faces": 8}
    loaded |= {"loaded_rejects": 1}
    days = day_list(
        dt.date(2026, 11, 10),
        dt.date(2026, 11, 25),
        [loaded],
        dt.date(2026, 11, 15),
        dt.date(2026, 11, 18),
        dt.date(2026, 11, 24),
    )
    states = {d["day"].day: d["state"] for d in days}
    assert min(states) == 15 and max(states) == 25  # from the start date, newest first
    assert [d["day"].day for d in days][:2] == [25, 24]
    assert states[15] == states[17] == "expired" and states[18] == "never loaded" and states[20] == "loaded"
    assert states[24] == states[25] == "arriving"
    from facepipe.web.days import collapse

    rows = collapse([{**d, "runs": {"face_ingest": [], "face_report": []}} for d in days])
    assert [(r["first"].day, r["day"].day, r["state"]) for r in rows][:3] == [
        (25, 25, "arriving"),
        (24, 24, "arriving"),
        (21, 23, "never loaded"),
    ]
    assert [(r["first"].day, r["day"].day) for r in rows if r["state"] == "expired"] == [(15, 17)]
    # the four numbers of a load, in words, only where the tables now differ
    assert at_load(loaded) == "6 photos and videos, 0 duplicates, 8 faces, 1 reject"
    assert at_load({**loaded, "images": 6, "faces": 8}) == ""


def test_names_are_shown_as_people_write_them():
    from facepipe.core.text import display_name

    assert display_name("eileen_collins") == "Eileen Collins"
    assert display_name("jean-luc_picard") == "Jean-Luc Picard"
    # a name with its own capitals, spaces or letters outside ASCII is the person's: as stored
    for name in ("Vera Visitor", "danah boyd", "José_maría", "McDonald_Ann", "ALICE_B", "alice", "_x_", None):
        assert display_name(name) == name


def test_search_results_are_grouped_by_identity_closest_first():
    import datetime as dt
    from types import SimpleNamespace as M

    from facepipe.web.searchpage import group_matches

    def m(d, n):
        return M(day=dt.date(2026, 11, 20), image_id=f"i{n}", face_no=0, distance=d)

    results = [
        {"m": m(0.31, 1), "identity_id": 7, "name": "Ann"},
        {"m": m(0.72, 2), "identity_id": None, "name": None},
        {"m": m(0.12, 3), "identity_id": 7, "name": "Ann"},
        {"m": m(0.45, 4), "identity_id": None, "name": None},
        {"m": m(0.66, 5), "identity_id": 9, "name": None},
        {"m": m(0.70, 6), "identity_id": None, "name": None},
    ]
    groups = group_matches(results, 0.5)
    assert [(g["identity_id"], round(g["best"], 2), g["same"]) for g in groups] == [
        (7, 0.12, True),  # Ann's two faces, her best distance
        (None, 0.45, True),  # a face of no identity, under the threshold: a group of its own
        (9, 0.66, False),
        (None, 0.70, False),  # beyond the line, faces of no identity side by side
    ]
    assert [f.distance for f in groups[0]["faces"]] == [0.12, 0.31] and len(groups[-1]["faces"]) == 2


def test_the_views_notices_name_no_command():
    from facepipe.web.words import without_commands

    assert without_commands("no identity 5 (`facepipe people list` and the People page show them)") == "no identity 5"
    assert without_commands("to make them one, merge them (people merge 2 3)") == "to make them one, merge them"
    assert without_commands("Kept: 2 suppressions (no face data).") == "Kept: 2 suppressions (no face data)."


def test_a_corrupt_heic_is_unreadable_not_a_crash():
    """A HEIC photo damaged since its load (cut short, zeroed): the photo page's image and every
    crop say Unreadable, which the routes turn into "this photo cannot be read now" (404)."""
    import io

    import pillow_heif
    from PIL import Image

    from facepipe.core.sources import Unreadable
    from facepipe.models.crops import crop_jpeg
    from facepipe.web.crops import photo_jpeg

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 80, 60)).save(buf, format="HEIF")
    data = buf.getvalue()
    assert photo_jpeg(data)[:2] == b"\xff\xd8"  # the photo whole: a JPEG
    for damaged in (data[: len(data) // 2], data[:40], data[:-400] + b"\0" * 400):
        with pytest.raises(Unreadable):
            photo_jpeg(damaged)
        with pytest.raises(Unreadable):
            crop_jpeg(damaged, (10, 10, 50, 50), 0)
