"""The Faces view's shared page helpers: its templates, notices, database access, argument
parsing and headers, used by facepipe.web.app and the page modules it registers (days,
movepage, searchpage), which import them from here rather than from the app."""

from __future__ import annotations

import datetime as dt
import logging
import re
from contextlib import contextmanager
from functools import cache
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from facepipe.core.text import display_name, plural
from facepipe.web.auth import Access, access

log = logging.getLogger(__name__)

PAGE_SIZE = 60  # identities per page of the People grid
FACES_SHOWN = 300  # faces on a page of an identity's, newest first


def upload_max_bytes() -> int:
    """The largest photo a search takes (web_upload_max_mb, the api-server's own setting)."""
    from facepipe.core.config import process_settings

    return process_settings().web_upload_max_mb * 1024 * 1024


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Pages load nothing from elsewhere: crops, photos and the one script come from this app.
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'self'; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
# photo bytes: only through the app's auth, never kept by a shared cache
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
NOTICE_SECONDS = 120  # a change's notice waits this long for its page
FORGET_SECONDS = 900  # a forget's preview stays open this long
STATIC = {"theme.js": "application/javascript", "airflow.js": "application/javascript"}
SAMPLE = 8  # faces of each side shown beside a merge


class DatabaseDown(RuntimeError):
    """The facepipe database cannot be reached (or its schema is not usable)."""


class SettingRefused(DatabaseDown):
    """The database is up, but a setting is not valid: the page names it and its fix."""


@cache
def _templates():
    import jinja2

    from facepipe.core.config import PROJECT_ROOT

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROJECT_ROOT / "include" / "templates" / "web"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["q"] = lambda d: urlencode({k: v for k, v in d.items() if v not in (None, "")})
    env.filters["plural"] = plural  # {{ n | plural("face") }}: "1 face", "2 faces"
    env.filters["person"] = display_name  # {{ name | person }}: eileen_collins as "Eileen Collins"
    return env


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _here(request: Request) -> str:
    """This request's path with the mount's root (Starlette keeps or strips it by version)."""
    root, path = _root(request), request.scope.get("path", "")
    return path if root and path.startswith(root + "/") else root + path


def _flash(request: Request) -> dict | None:
    """The notice a change left for this page (signed, fresh, for this path), or None."""
    from facepipe.web.notice import NOTICE, unsign

    payload = unsign(request.cookies.get(NOTICE), NOTICE_SECONDS)
    if payload is None or payload.get("to") != _here(request):
        return None
    links = [(str(a), str(b)) for a, b in payload.get("links", []) if str(b).startswith("/")]
    return {
        "kind": "error" if payload.get("kind") == "error" else "ok",
        "text": str(payload.get("text", "")),
        "more": [str(m) for m in payload.get("more", [])],
        "links": links,
        "undo": _undo_of(payload.get("undo")),
    }


def _undo_of(value) -> tuple[str, str] | None:
    """A notice's Undo button: (the POST path under the mount, its signed token), or None."""
    if not isinstance(value, list) or len(value) != 2 or not str(value[0]).startswith("/"):
        return None
    return str(value[0]), str(value[1])


def _page(request: Request, who: Access | None, template: str, status: int = 200, **values) -> HTMLResponse:
    from facepipe.web.notice import NOTICE

    flash = _flash(request) if status < 400 else None
    html = _templates().get_template(template).render(root=_root(request), who=who, flash=flash, **values)
    resp = HTMLResponse(html, status_code=status, headers=NO_STORE)
    if flash is not None:  # shown once: a reload shows the page as it is
        resp.delete_cookie(NOTICE, path=_root(request) or "/")
    return resp


def _see(request: Request, path: str, text: str | None = None, *, kind: str = "ok", more=(), links=(), undo=None):
    """303 to the GET page ``path`` (under the mount), with a notice of what changed for it."""
    from urllib.parse import urlsplit

    from facepipe.web.notice import NOTICE, sign
    from facepipe.web.words import without_commands

    url = _root(request) + path
    resp = RedirectResponse(url, status_code=303, headers=NO_STORE)
    if text:
        value = sign(
            {
                "to": urlsplit(url).path,
                "kind": kind,
                "text": without_commands(text)[:600],
                "more": [without_commands(m)[:300] for m in more][:8],
                "links": [[a, _root(request) + b] for a, b in links][:4],
                **({"undo": [_root(request) + undo[0], undo[1]]} if undo else {}),
            }
        )
        resp.set_cookie(
            NOTICE,
            value,
            max_age=NOTICE_SECONDS,
            path=_root(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return resp


def _message(request: Request, who: Access | None, title: str, text: str, status: int, **more) -> HTMLResponse:
    return _page(request, who, "message.html.j2", status=status, title=title, text=text, **more)


@contextmanager
def _db():
    """A connection to facepipe's database, its schema checked; DatabaseDown when it is not usable."""
    import psycopg

    from facepipe.core.config import ConfigError
    from facepipe.core.db import connect
    from facepipe.core.deployment import settings
    from facepipe.core.schema import SchemaBehind, require
    from facepipe.core.specs import model_spec

    s = settings()
    try:
        conn = connect(start=False)  # never starts the embedded server from inside the api-server
    except (psycopg.OperationalError, OSError, ConfigError) as exc:
        log.warning("Faces view: the facepipe database cannot be reached (%s)", type(exc).__name__)
        raise DatabaseDown("the facepipe database cannot be reached") from None
    except Exception as exc:  # the embedded server's files cannot be read, ...
        log.warning("Faces view: the facepipe database cannot be reached (%s)", type(exc).__name__)
        raise DatabaseDown("the facepipe database cannot be reached") from None
    try:
        try:
            model = model_spec(s.model)  # the deployment's setting, read from the database
        except (ConfigError, ValueError) as exc:
            raise SettingRefused(str(exc)) from None
        try:
            require(conn, s.db_schema, model)
        except (SchemaBehind, ConfigError) as exc:
            raise DatabaseDown(str(exc)) from None
        yield conn, s.db_schema
    except psycopg.OperationalError as exc:
        raise DatabaseDown(f"the facepipe database went away ({type(exc).__name__})") from None
    finally:
        conn.close()


def _day(text: str | None, what: str = "day") -> dt.date | None:
    """A YYYY-MM-DD date from the request, or None for empty; 400 for anything else."""
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if not _DAY.match(text):
        raise HTTPException(400, f"{what} must be a date like 2026-11-24")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{what} must be a date like 2026-11-24") from None
    if not 1900 <= day.year <= 9000:  # room for the windows computed around it (until - 60 days, ...)
        raise HTTPException(400, f"{what} must be a date from 1900 to 9000")
    return day


def _int(text, what: str, lo: int, hi: int, default: int | None = None) -> int | None:
    if text is None or str(text).strip() == "":
        return default
    try:
        n = int(str(text).strip())
    except ValueError:
        raise HTTPException(400, f"{what} must be a whole number") from None
    if not lo <= n <= hi:
        raise HTTPException(400, f"{what} must be from {lo} to {hi}")
    return n


def no_nul(values) -> None:
    """400 for a text the database cannot hold (a NUL character), before it reaches a query:
    PostgreSQL refuses it in every text value, which would be a 500 (and, in the forget's
    signed cookie, a preview that fails on every reload)."""
    for v in values:
        if "\x00" in str(v):
            raise HTTPException(400, "a field holds a NUL character: type it again")


async def clean_query(request: Request, who: Access = Depends(access)) -> None:
    """Every route's query string, checked as ``no_nul`` (an app-wide dependency, after the
    user's own check: an anonymous request is refused as such)."""
    no_nul(v for _k, v in request.query_params.multi_items())


def _known_id(identity_id: int) -> int:
    """An identity number from the path, or 404 before it reaches the database (a bigint)."""
    if not 1 <= identity_id < 2**63:
        raise HTTPException(404, f"no identity {identity_id}")
    return identity_id


def _rows(cur) -> list[dict]:
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _report_file(reports_dir, day: dt.date):
    """reports_dir/DAY/report.html for a date, only if it is a regular file inside reports_dir."""
    base = reports_dir.resolve()
    path = (reports_dir / day.isoformat() / "report.html").resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
