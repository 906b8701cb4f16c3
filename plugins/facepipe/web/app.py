"""The Faces view's FastAPI app: People, Search, Days and Forget, server-rendered.

Mounted by Airflow's api-server at ``/facepipe`` (facepipe.ops.plugin) and shown in
the UI's nav as an iframe. Every route depends on facepipe.web.auth.access (Airflow's
auth manager); changes are POST forms checked by ``check_post``. Pages are Jinja2
templates with autoescape (include/templates/web) and no script; links are built from
the mount's root path, so a base_url prefix works. The database is opened per request:
when it is down, the api-server still runs and every page says so.

Only fastapi is imported here; the database, the models and OpenCV load on first use.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from contextlib import contextmanager
from functools import cache
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from facepipe.core.text import plural
from facepipe.web.auth import Access, access, check_post

log = logging.getLogger(__name__)

PAGE_SIZE = 60  # identities per page of the People grid
FACES_SHOWN = 300  # faces on a page of an identity's, newest first


def upload_max_bytes() -> int:
    """The largest photo a search takes (web_upload_max_mb, the api-server's own setting)."""
    from facepipe.core.config import process_settings

    return process_settings().web_upload_max_mb * 1024 * 1024


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Pages run no script and load nothing from elsewhere; crops come from this app.
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


class DatabaseDown(RuntimeError):
    """The facepipe database cannot be reached (or its schema is not usable)."""


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
    return env


def _page(request: Request, who: Access | None, template: str, status: int = 200, **values) -> HTMLResponse:
    html = (
        _templates()
        .get_template(template)
        .render(root=request.scope.get("root_path", "").rstrip("/"), who=who, **values)
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


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
            require(conn, s.db_schema, model_spec(s.model))
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


def _known_id(identity_id: int) -> int:
    """An identity number from the path, or 404 before it reaches the database (a bigint)."""
    if not 1 <= identity_id < 2**63:
        raise HTTPException(404, f"no identity {identity_id}")
    return identity_id


def _rows(cur) -> list[dict]:
    names = [c.name for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def create_app() -> FastAPI:
    from facepipe.core.deployment import server_may_start

    server_may_start(False)  # inside the api-server: reading the settings never starts the embedded server
    app = FastAPI(title="facepipe Faces", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(DatabaseDown)
    async def database_down(request: Request, exc: DatabaseDown):
        return _message(
            request,
            None,
            "The facepipe database is not available",
            f"{exc}. This view works again once it is back: with the Airflow connection facepipe_db,"
            " start that server; with the embedded one, `make airflow` (or any facepipe task or command)"
            ' starts it. See docs/operating.md, "When the database is down".',
            503,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        # errors are plain pages, with no data; 401 keeps its header for API clients
        headers = {**NO_STORE, **(exc.headers or {})}
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        text = str(exc.detail)
        body = (
            _templates()
            .get_template("message.html.j2")
            .render(
                root=request.scope.get("root_path", "").rstrip("/"),
                who=None,
                title={401: "Not logged in", 403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Refused"),
                text=text + (" (log in to Airflow first)" if exc.status_code == 401 else ""),
            )
        )
        return HTMLResponse(body, status_code=exc.status_code, headers=headers)

    @app.get("/")
    async def home(who: Access = Depends(access)):
        return RedirectResponse("people", status_code=307)

    # --- People --------------------------------------------------------------

    @app.get("/people")
    def people(
        request: Request,
        show: str = "all",
        since: str | None = None,
        min_faces: str | None = None,
        page: str | None = None,
        who: Access = Depends(access),
    ):
        from facepipe.core.db import load_sql

        named = {"all": None, "named": True, "unnamed": False}.get(show)
        if show not in ("all", "named", "unnamed"):
            raise HTTPException(400, "show must be all, named or unnamed")
        since_day = _day(since, "seen since")
        mf = _int(min_faces, "min faces", 0, 10_000_000, 1)
        pg = _int(page, "page", 1, 1_000_000, 1)
        with _db() as (conn, schema):
            rows = _rows(
                conn.execute(
                    load_sql("web_people_page.sql", schema=schema),
                    {
                        "named": named,
                        "since": since_day,
                        "min_faces": mf,
                        "limit": PAGE_SIZE,
                        "offset": (pg - 1) * PAGE_SIZE,
                    },
                )
            )
        total = rows[0]["total"] if rows else 0
        pages = max(1, -(-total // PAGE_SIZE))
        if pg > 1 and not rows:  # the window count comes with the rows: past the end, there are none
            raise HTTPException(404, f"page {pg} is past the last page of these identities")
        filters = {"show": show, "since": since_day.isoformat() if since_day else "", "min_faces": mf}
        return _page(
            request,
            who,
            "people.html.j2",
            rows=rows,
            total=total,
            page=pg,
            pages=pages,
            filters=filters,
        )

    def _identity_view(
        request: Request, who: Access, identity_id: int, notice=None, error=None, status=200, page: int = 1
    ):
        from facepipe.people.identities import identity_faces, list_identities

        _known_id(identity_id)
        with _db() as (conn, schema):
            found = list_identities(conn, schema, identity_id=identity_id, min_faces=0)
            if not found:
                raise HTTPException(404, f"no identity {identity_id} (it may have been merged or forgotten)")
            faces = identity_faces(conn, schema, identity_id, limit=FACES_SHOWN, offset=(page - 1) * FACES_SHOWN)
        pages = max(1, -(-found[0]["faces"] // FACES_SHOWN))
        if page > pages:
            raise HTTPException(404, f"page {page} is past the last page ({pages}) of identity {identity_id}'s faces")
        by_day: dict = {}
        for f in faces:
            by_day.setdefault(f["day"], []).append(f)
        return _page(
            request,
            who,
            "identity.html.j2",
            status=status,
            ident=found[0],
            by_day=by_day,
            shown=len(faces),
            page=page,
            pages=pages,
            notice=notice,
            error=error,
        )

    @app.get("/people/{identity_id}")
    def identity(request: Request, identity_id: int, page: str | None = None, who: Access = Depends(access)):
        return _identity_view(request, who, identity_id, page=_int(page, "page", 1, 1_000_000, 1))

    async def _form(request: Request) -> dict:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
        body = await request.body()
        if len(body) > 64 * 1024:
            raise HTTPException(413, "the form is too large")
        from urllib.parse import parse_qs

        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def _people_change(request: Request, who: Access, op: str, back: int | None, **kw):
        from facepipe.people.identities import PeopleError
        from facepipe.people.suggestions import SuggestionError
        from facepipe.people.tasks import change_people

        try:
            with _db() as (conn, _schema):
                result = change_people(op, actor=who.actor, conn=conn, **kw)
        except SuggestionError as exc:
            return _suggestions_view(request, who, error=str(exc), status=409)
        except PeopleError as exc:
            if back is not None:
                return _identity_view(request, who, back, error=str(exc), status=409)
            return _message(request, who, "Refused", str(exc), 409)
        target = result.get("identity_id")
        if op == "answer":
            from facepipe.people.suggestions import answer_summary

            target = (result.get("done") or {}).get("identity_id") or target
            return _page(
                request, who, "changed.html.j2", op=op, result=result, target=target, summary=answer_summary(result)
            )
        return _page(request, who, "changed.html.j2", op=op, result=result, target=target)

    @app.post("/people/{identity_id}/name")
    async def name(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        _known_id(identity_id)
        form = await _form(request)
        new_name = (form.get("name") or "").strip()
        if not new_name:
            raise HTTPException(400, "give a name")
        return await run_in_threadpool(
            _people_change, request, who, "name", identity_id, identity_id=identity_id, name=new_name
        )

    @app.post("/people/{identity_id}/merge")
    async def merge(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        _known_id(identity_id)
        form = await _form(request)
        other = _int(form.get("other"), "the identity to merge", 1, 2**62)
        if other is None:
            raise HTTPException(400, "give the number of the identity to merge into this one")
        return await run_in_threadpool(
            _people_change, request, who, "merge", identity_id, into=identity_id, other=other
        )

    @app.post("/faces/move")
    async def move(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await _form(request)
        day = _day(form.get("day"))
        if day is None:
            raise HTTPException(400, "give the face's day")
        try:
            image_id = uuid.UUID((form.get("image_id") or "").strip())
        except ValueError:
            raise HTTPException(400, "image_id must be a UUID") from None
        face_no = _int(form.get("face_no"), "face_no", 0, 32767)
        if face_no is None:
            raise HTTPException(400, "give face_no")
        to = _int(form.get("to"), "the identity to move it into", 1, 2**62)
        back = _int(form.get("back"), "back", 1, 2**62)
        return await run_in_threadpool(
            _people_change, request, who, "move", back, day=day, image_id=image_id, face_no=face_no, to=to
        )

    # --- Suggestions: what the nightly assignment was not sure of ---------------

    def _suggestions_view(request: Request, who: Access, error=None, status=200, page: int = 1, answered=False):
        from facepipe.people.suggestions import list_suggestions, suggestion_row

        with _db() as (conn, schema):
            rows = list_suggestions(
                conn, schema, state=None if answered else "open", limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
            )
        if page > 1 and not rows:
            raise HTTPException(404, f"page {page} is past the last page of suggestions")
        more = len(rows) > PAGE_SIZE
        shown = [{**r, "row": suggestion_row(r)} for r in rows[:PAGE_SIZE]]
        return _page(
            request,
            who,
            "suggestions.html.j2",
            status=status,
            rows=shown,
            page=page,
            more=more,
            answered=answered,
            error=error,
        )

    @app.get("/suggestions")
    def suggestions(request: Request, page: str | None = None, answered: str = "", who: Access = Depends(access)):
        return _suggestions_view(
            request, who, page=_int(page, "page", 1, 1_000_000, 1), answered=answered in ("1", "yes", "on")
        )

    @app.post("/suggestions/{suggestion_id}/answer")
    async def answer(request: Request, suggestion_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        _known_id(suggestion_id)
        form = await _form(request)
        reply = (form.get("answer") or "").strip()
        if reply not in ("yes", "no"):
            raise HTTPException(400, "answer yes or no")
        return await run_in_threadpool(
            _people_change, request, who, "answer", None, suggestion_id=suggestion_id, yes=reply == "yes"
        )

    # --- crops -----------------------------------------------------------------

    @app.get("/crop/{day}/{image_id}/{face_no}")
    def crop(day: str, image_id: uuid.UUID, face_no: int, who: Access = Depends(access)):
        from facepipe.core.db import load_sql
        from facepipe.core.sources import Unreadable
        from facepipe.reports.report import read_uri
        from facepipe.web.crops import crop_jpeg

        d = _day(day)
        if not 0 <= face_no <= 32767:
            raise HTTPException(404, "no such face")
        with _db() as (conn, schema):
            row = conn.execute(
                load_sql("web_face.sql", schema=schema), {"day": d, "image_id": image_id, "face_no": face_no}
            ).fetchone()
        if row is None:
            raise HTTPException(404, "no such face")
        _, _, _, x, y, w, h, source, uri, width, height, frame_s = row
        try:
            # through the photo's own source, by the URI the tables hold; a video's face from its frame
            data = read_uri(uri, source) if frame_s is None else read_uri(uri, source, frame_s=frame_s)
            jpeg = crop_jpeg(data, (x, y, w, h), max(width or 0, height or 0))
        except (Unreadable, OSError, ValueError) as exc:
            log.warning("no crop for a face of %s: %s", d, type(exc).__name__)
            raise HTTPException(404, "the photo of this face cannot be read now") from None
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    # --- Search ----------------------------------------------------------------

    def _search_page(
        request, who, *, vector=None, query_face=None, since=None, until=None, source="", k=12, error=None
    ):
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec

        until = until or dt.date.today()
        since = since or until - dt.timedelta(days=30)
        form = {"since": since.isoformat(), "until": until.isoformat(), "source": source or "", "k": k}
        if error or vector is None:
            return _page(
                request, who, "search.html.j2", status=400 if error else 200, form=form, error=error, results=None
            )
        if since > until:
            return _page(request, who, "search.html.j2", status=400, form=form, error="since is after until")
        from facepipe.search.query import search_faces

        spec = model_spec(settings().model)
        with _db() as (conn, schema):
            matches = search_faces(conn, schema, spec, vector, k=k, since=since, until=until, source=source or None)
            who_is = {}
            if matches:
                for day, image_id, face_no, identity_id, person in conn.execute(
                    load_sql("web_face_identities.sql", schema=schema),
                    {
                        "days": [m.day for m in matches],
                        "image_ids": [m.image_id for m in matches],
                        "face_nos": [m.face_no for m in matches],
                    },
                ):
                    who_is[(day, str(image_id), face_no)] = (identity_id, person)
        results = [
            {
                "m": m,
                "identity_id": who_is.get((m.day, m.image_id, m.face_no), (None, None))[0],
                "name": who_is.get((m.day, m.image_id, m.face_no), (None, None))[1],
            }
            for m in matches
        ]
        return _page(request, who, "search.html.j2", form=form, error=None, results=results, query_face=query_face)

    @app.get("/search")
    def search(
        request: Request,
        day: str | None = None,
        image_id: str | None = None,
        face_no: str | None = None,
        since: str | None = None,
        until: str | None = None,
        source: str | None = None,
        k: str | None = None,
        who: Access = Depends(access),
    ):
        from facepipe.core.db import load_sql

        kk = _int(k, "k", 1, 200, 12)
        s_day, u_day = _day(since, "since"), _day(until, "until")
        if not (day and image_id and face_no):
            return _search_page(request, who, since=s_day, until=u_day, source=source, k=kk)
        d = _day(day)
        try:
            iid = uuid.UUID(image_id)
        except ValueError:
            raise HTTPException(400, "image_id must be a UUID") from None
        fno = _int(face_no, "face_no", 0, 32767)
        from psycopg import sql

        with _db() as (conn, schema):
            row = conn.execute(
                sql.SQL("SELECT embedding FROM {} WHERE day = %s AND image_id = %s AND face_no = %s").format(
                    sql.Identifier(schema, "faces")
                ),
                (d, iid, fno),
            ).fetchone()
            _ = load_sql  # the face's own vector is the query: nothing leaves the database
        if row is None:
            raise HTTPException(404, "no such face")
        import numpy as np

        vector = np.asarray(row[0].to_list() if hasattr(row[0], "to_list") else row[0], dtype=np.float32)
        return _search_page(
            request,
            who,
            vector=vector,
            query_face={"day": d, "image_id": iid, "face_no": fno},
            since=s_day,
            until=u_day,
            source=source,
            k=kk,
        )

    @app.post("/search")
    async def search_upload(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=False)
        from facepipe.web.upload import UploadRefused, read_upload

        try:
            fields, photo = await read_upload(request, upload_max_bytes())
        except UploadRefused as exc:
            return _search_page(request, who, error=f"{exc.reason}: {exc.detail}")
        since, until = _day(fields.get("since"), "since"), _day(fields.get("until"), "until")
        source = (fields.get("source") or "").strip()
        k = _int(fields.get("k"), "k", 1, 200, 12)
        if not photo:
            return _search_page(request, who, since=since, until=until, source=source, k=k, error="choose a photo")
        return await run_in_threadpool(_search_by_photo, request, who, photo, since, until, source, k)

    def _search_by_photo(request, who, photo: bytes, since, until, source, k):
        from facepipe.core.deployment import settings
        from facepipe.core.sources import Unreadable
        from facepipe.web.crops import embed_upload

        s = settings()
        try:
            vector = embed_upload(photo, s.detector, s.model, s.min_face, s.haar_scale_factor)
        except Unreadable as exc:
            vector, error = None, f"{exc.reason}: {exc.detail}"
        else:
            error = None if vector is not None else "no face found in the photo"
        finally:
            del photo  # held in memory only, never written
        return _search_page(request, who, vector=vector, since=since, until=until, source=source, k=k, error=error)

    # --- Days ------------------------------------------------------------------

    @app.get("/days")
    def days(request: Request, since: str | None = None, until: str | None = None, who: Access = Depends(access)):
        from facepipe.core.db import load_sql

        u = _day(until, "until") or dt.date.today()
        s = _day(since, "since") or u - dt.timedelta(days=60)
        with _db() as (conn, schema):
            rows = _rows(conn.execute(load_sql("web_days.sql", schema=schema), {"since": s, "until": u}))
        return _page(request, who, "days.html.j2", rows=rows, since=s, until=u)

    @app.get("/days/{day}")
    def day_page(request: Request, day: str, who: Access = Depends(access)):
        from psycopg import sql

        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings

        d = _day(day)
        with _db() as (conn, schema):
            counts = _rows(conn.execute(load_sql("web_days.sql", schema=schema), {"since": d, "until": d}))
            rejects = _rows(
                conn.execute(
                    sql.SQL("SELECT uri, reason, detail, source FROM {} WHERE day = %s ORDER BY uri").format(
                        sql.Identifier(schema, "rejects")
                    ),
                    (d,),
                )
            )
            built = conn.execute(
                sql.SQL("SELECT built_at FROM {} WHERE day = %s").format(sql.Identifier(schema, "report_runs")), (d,)
            ).fetchone()
        has_report = _report_file(settings().reports_dir, d) is not None
        return _page(
            request,
            who,
            "day.html.j2",
            day=d,
            counts=counts,
            rejects=rejects,
            built_at=built[0] if built else None,
            has_report=has_report,
        )

    @app.get("/days/{day}/report")
    def report(day: str, who: Access = Depends(access)):
        from facepipe.core.deployment import settings

        d = _day(day)  # a date or 400: nothing else of the request reaches the path
        path = _report_file(settings().reports_dir, d)
        if path is None:
            raise HTTPException(404, f"no report page for {d} (face_report writes it)")
        return HTMLResponse(
            path.read_bytes(),
            headers={
                "Cache-Control": "no-store",
                # the page is self-contained: its crops are data URIs, it runs no script
                "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline';"
                " frame-ancestors 'self'; base-uri 'none'; form-action 'none'",
                "X-Content-Type-Options": "nosniff",
            },
        )

    # --- Forget ------------------------------------------------------------------

    @app.get("/forget")
    def forget_form(
        request: Request, person: str | None = None, photo: str | None = None, who: Access = Depends(access)
    ):
        what, which = ("photo", photo) if photo else ("person", person or "")
        return _page(request, who, "forget.html.j2", step="ask", what=what, which=which, result=None, error=None)

    def _forget_args(form: dict) -> tuple[str, str]:
        what = form.get("what")
        which = (form.get("which") or "").strip()
        if what not in ("person", "photo"):
            raise HTTPException(400, "what must be person or photo")
        if not which:
            raise HTTPException(400, "say which person (identity number or name) or photo (URI or SHA-256)")
        return what, which

    def _forget(who: Access, what: str, which: str, dry_run: bool) -> dict:
        from facepipe.privacy.tasks import forget

        with _db():  # a clear message when the database is down, before the forget tries
            pass
        kw = {"person": which} if what == "person" else {"photo": which}
        return forget(**kw, dry_run=dry_run, actor=who.actor)

    @app.post("/forget/preview")
    async def forget_preview(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        what, which = _forget_args(await _form(request))
        try:
            result = await run_in_threadpool(_forget, who, what, which, True)
        except ValueError as exc:  # PrivacyError, PeopleError: nothing changed
            return _page(
                request, who, "forget.html.j2", 409, step="ask", what=what, which=which, result=None, error=str(exc)
            )
        return _page(request, who, "forget.html.j2", step="confirm", what=what, which=which, result=result, error=None)

    @app.post("/forget/confirm")
    async def forget_confirm(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await _form(request)
        what, which = _forget_args(form)
        if (form.get("typed") or "").strip() != which:
            return _page(
                request,
                who,
                "forget.html.j2",
                400,
                step="ask",
                what=what,
                which=which,
                result=None,
                error="the confirmation did not match: type exactly what is to be forgotten. Nothing was changed.",
            )
        left = None
        try:
            result = await run_in_threadpool(_forget, who, what, which, False)
        except ValueError as exc:
            return _page(
                request, who, "forget.html.j2", 409, step="ask", what=what, which=which, result=None, error=str(exc)
            )
        except Exception as exc:
            if type(exc).__name__ != "FilesLeft":
                raise
            result, left = None, str(exc)
        return _page(
            request, who, "forget.html.j2", step="done", what=what, which=which, result=result, error=None, left=left
        )

    return app


def _report_file(reports_dir, day: dt.date):
    """reports_dir/DAY/report.html for a date, only if it is a regular file inside reports_dir."""
    base = reports_dir.resolve()
    path = (reports_dir / day.isoformat() / "report.html").resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
