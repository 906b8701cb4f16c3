"""The Faces view's api-server for the web and browser tiers: the real api-server
(facepipe.ops.local_airflow.Stack) over three ingested and reported sample days (only
Eileen Collins enrolled), logged in as the UI logs in (the simple auth manager's users
admin, viewer and editor). One api-server per test module that uses ``web``."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest
from psycopg import sql

from helpers.nights import reported_days
from helpers.rows import q

USERS = "admin:admin,viewer:viewer,editor:user"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    def __init__(self, url: str, passwords: dict, schema: str, tmp: Path):
        import httpx

        self.url, self.passwords, self.schema, self.tmp = url, passwords, schema, tmp
        self.anonymous = httpx.Client(base_url=url, timeout=60)
        self.clients = {"anonymous": self.anonymous}
        for user in ("viewer", "editor"):
            resp = httpx.post(f"{url}/auth/token", json={"username": user, "password": passwords[user]})
            assert resp.status_code == 201, resp.text
            # the UI's own credential: the _token cookie, and a browser's Origin on every POST
            self.clients[user] = httpx.Client(
                base_url=url, timeout=120, cookies={"_token": resp.json()["access_token"]}, headers={"Origin": url}
            )

    @property
    def editor(self):
        return self.clients["editor"]

    @property
    def viewer(self):
        return self.clients["viewer"]


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    from facepipe.ops.samples import enrolment_photos

    root = tmp_path_factory.mktemp("people")
    enrolment_photos(root)
    return root


@pytest.fixture(scope="module")
def web(photos, people, sample_days, tmp_path_factory, pg_uri, airflow_db):
    import psycopg

    from facepipe.core.deployment import settings
    from facepipe.ops.local_airflow import Stack, embedded_metadata_url, password_file

    with reported_days("web_", photos, sample_days) as night:
        schema = night.schema
        tmp = tmp_path_factory.mktemp("api-tmp")  # the api-server's TMPDIR: an upload must leave nothing here
        home = tmp_path_factory.mktemp("airflow-web")
        metadata_db = "airflow_" + uuid.uuid4().hex[:8]
        stack = Stack(
            airflow_home=home,
            port=free_port(),
            components=("api-server",),
            metadata_url=embedded_metadata_url(settings().home, metadata_db),
            env={
                "FACEPIPE_DB_SCHEMA": schema,
                "TMPDIR": str(tmp),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
                "FACEPIPE_WEB_UPLOAD_MAX_MB": "20",
            },
        )
        stack.migrate()
        stack.start()
        try:
            stack.wait_ready(timeout=240)
            served = Web(stack.url, json.loads(password_file(home).read_text()), schema, tmp)
            served.metadata_url = embedded_metadata_url(settings().home, metadata_db)  # the api-server's own
            yield served
        finally:
            stack.stop()
            with psycopg.connect(pg_uri, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(metadata_db)))


def identities(db, schema) -> dict[int, str | None]:
    return dict(
        q(db, schema, "SELECT i.identity_id, p.name FROM {s}.identities i LEFT JOIN {s}.people p USING (person_id)")
    )


def last_audit(db, schema) -> tuple:
    return q(db, schema, "SELECT op, who, identity_id, other_id FROM {s}.audit ORDER BY op_no DESC LIMIT 1")[0]


def faces_of(db, schema, identity_id) -> list[tuple]:
    return q(
        db,
        schema,
        "SELECT f.day, f.image_id, f.face_no FROM {s}.face_identity a JOIN {s}.faces f ON f.day = a.day"
        " AND f.image_id = a.image_id AND (f.box_x, f.box_y, f.box_w, f.box_h) = (a.box_x, a.box_y, a.box_w, a.box_h)"
        " WHERE a.identity_id = %s ORDER BY 1, 2, 3",
        identity_id,
    )


# --- the browser tier ---------------------------------------------------------------


def web_reports_dir() -> Path:
    from facepipe.core.deployment import settings

    return settings().reports_dir
