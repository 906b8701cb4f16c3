"""The Faces view's FastAPI app: People, Search, Days and Forget, server-rendered.

Mounted by Airflow's api-server at ``/facepipe`` (facepipe.ops.plugin) and shown in
the UI's nav as an iframe. Every route depends on facepipe.web.auth.access (Airflow's
auth manager); changes are POST forms checked by ``check_post``, and every one answers
303 to the GET page it acted on with a notice of what changed (facepipe.web.notice), so
a reload or a bookmark inside Airflow's frame is a GET. Pages are Jinja2 templates with
autoescape (include/templates/web); their one script is a static file of this app
(include/static/web/theme.js: Airflow's light/dark choice, followed live), under CSP
script-src 'self'. Links are built from the mount's root path, so a base_url prefix
works. The database is opened per request: when it is down, the api-server still runs
and every page says so.

Only fastapi is imported here; the database, the models and OpenCV load on first use.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from facepipe.web.auth import Access, access, check_post, guarded_dag
from facepipe.web.pages import (  # noqa: F401  (the page helpers, shared with the page modules)
    _DAY,
    CSP,
    FACES_SHOWN,
    FORGET_SECONDS,
    NO_STORE,
    NOTICE_SECONDS,
    PAGE_SIZE,
    PRIVATE,
    SAMPLE,
    STATIC,
    DatabaseDown,
    SettingRefused,
    _day,
    _db,
    _flash,
    _here,
    _int,
    _known_id,
    _message,
    _page,
    _report_file,
    _root,
    _rows,
    _see,
    _templates,
    clean_query,
    log,
    no_nul,
    upload_max_bytes,
)


def create_app() -> FastAPI:
    from facepipe.core.deployment import server_may_start

    server_may_start(False)  # inside the api-server: reading the settings never starts the embedded server
    app = FastAPI(
        title="facepipe Faces",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(clean_query)],
    )

    @app.exception_handler(DatabaseDown)
    async def database_down(request: Request, exc: DatabaseDown):
        if isinstance(exc, SettingRefused):
            return _message(request, None, "A setting is not valid", f"{exc}.", 503)
        return _message(
            request,
            None,
            "The facepipe database is not available",
            f"{exc}. This view works again once it is back: with the Airflow connection facepipe_db, when"
            " that server is up again; with the embedded one, when facepipe's next task or the next start of"
            ' Airflow starts it. See "When the database is down" in facepipe\'s operating guide.',
            503,
        )

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException, and no such route (404, 405)
    async def http_error(request: Request, exc: StarletteHTTPException):
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
                flash=None,
                title={401: "Not logged in", 403: "Not allowed", 404: "Not found"}.get(exc.status_code, "Refused"),
                text=text + (" (log in to Airflow first)" if exc.status_code == 401 else ""),
            )
        )
        return HTMLResponse(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        # a path or query value of the wrong type (an identity "abc", an image id that is no
        # UUID): the view's own page, not FastAPI's JSON; a path that names nothing is a 404
        where = {str(e.get("loc", ("",))[0]) for e in exc.errors()}
        if "path" in where:
            return await http_error(
                request, HTTPException(404, "no such page: a number or id in its address is not valid")
            )
        return await http_error(request, HTTPException(400, "a value of this request is not valid"))

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
        hidden: str = "",
        who: Access = Depends(access),
    ):
        from facepipe.core.db import load_sql

        with_hidden = hidden in ("1", "on", "yes")  # hidden people (facepipe.people.hiding) too
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
                        "hidden": with_hidden,
                        "limit": PAGE_SIZE,
                        "offset": (pg - 1) * PAGE_SIZE,
                    },
                )
            )
        total = rows[0]["total"] if rows else 0
        pages = max(1, -(-total // PAGE_SIZE))
        if pg > 1 and not rows:  # the window count comes with the rows: past the end, there are none
            raise HTTPException(404, f"page {pg} is past the last page of these identities")
        filters = {
            "show": show,
            "since": since_day.isoformat() if since_day else "",
            "min_faces": mf,
            "hidden": "1" if with_hidden else "",
        }
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

    def _identity_view(request: Request, who: Access, identity_id: int, page: int = 1):
        from facepipe.people.identities import identity_faces, list_identities

        _known_id(identity_id)
        with _db() as (conn, schema):
            found = list_identities(conn, schema, identity_id=identity_id, min_faces=0)
            if not found:
                into = _merged_into(conn, schema, identity_id)
                if into is not None:  # an old link of an identity merged away: the one it went into
                    said = f"Identity #{identity_id} was merged into this one."
                    pending = _flash(request)  # what a change sent from a stale page of it said: kept
                    if pending is not None:
                        return _see(
                            request,
                            f"/people/{into}",
                            pending["text"],
                            kind=pending["kind"],
                            more=[*pending["more"], said],
                        )
                    return _see(request, f"/people/{into}", said)
                raise HTTPException(404, f"no identity {identity_id} (it may have been forgotten)")
            faces = identity_faces(conn, schema, identity_id, limit=FACES_SHOWN, offset=(page - 1) * FACES_SHOWN)
            enrolled = _enrolled(conn, schema, found[0].get("person_id"))
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
            ident=found[0],
            enrolled=enrolled,
            by_day=by_day,
            shown=len(faces),
            page=page,
            pages=pages,
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

        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        no_nul(form.values())
        return form

    def _people_change(request: Request, who: Access, op: str, back: str, **kw):
        """Run one change; 303 to the page it changed (``back`` when refused) with its notice."""
        from facepipe.people.identities import PeopleError
        from facepipe.people.suggestions import SuggestionError
        from facepipe.people.tasks import change_people

        try:
            with _db() as (conn, _schema):
                result = change_people(op, actor=who.actor, conn=conn, **kw)
                to, text, links = _changed(conn, _schema, op, result, back)
        except (SuggestionError, PeopleError) as exc:
            return _see(request, back, f"Nothing was changed: {exc}", kind="error")
        more = []
        if result.get("report_days"):
            more.append(f"Day reports rebuilt: {', '.join(str(d) for d in result['report_days'][:20])}.")
        failed = result.get("report_failures") or []
        for d, why in failed[:3]:
            more.append(f"The report of {d} was not rebuilt ({why}); face_report builds it again.")
        from facepipe.web.undo import undo_button

        undo = undo_button(op, result)  # a merge's notice: Undo, signed
        return _see(request, to, text, kind="error" if failed else "ok", more=more, links=links, undo=undo)

    @app.post("/people/{identity_id}/name")
    async def name(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        _known_id(identity_id)
        form = await _form(request)
        new_name = (form.get("name") or "").strip()
        if not new_name:
            raise HTTPException(400, "give a name")
        return await run_in_threadpool(
            _people_change, request, who, "name", f"/people/{identity_id}", identity_id=identity_id, name=new_name
        )

    @app.get("/people/{identity_id}/merge")
    def merge_preview(
        request: Request,
        identity_id: int,
        other: str | None = None,
        q: str | None = None,
        who: Access = Depends(access),
    ):
        """Merge another identity into this one: pick it by face or name (the nearest first),
        then see both sides' faces and what would change; the one POST below confirms."""
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec
        from facepipe.people.identities import list_identities

        _known_id(identity_id)
        other_id = _int(other, "the identity to merge", 1, 2**63 - 1)
        text = (q or "").strip()[:200] or None
        with _db() as (conn, schema):
            found = list_identities(conn, schema, identity_id=identity_id, min_faces=0)
            if not found:
                into = _merged_into(conn, schema, identity_id)
                if into is not None:
                    return _see(request, f"/people/{into}/merge", f"Identity #{identity_id} was merged into this one.")
                raise HTTPException(404, f"no identity {identity_id}")
            me = {**found[0], "sample": _sample(conn, schema, identity_id)}
            if other_id is None:
                op = model_spec(settings().model).distance_op
                rows = _rows(
                    conn.execute(
                        load_sql("web_merge_candidates.sql", schema=schema, op=op),
                        {"identity_id": identity_id, "q": text, "limit": 24},
                    )
                )
                return _page(request, who, "merge_pick.html.j2", me=me, rows=rows, q=text or "")
            if other_id == identity_id:
                raise HTTPException(400, "an identity cannot be merged with itself")
            theirs = list_identities(conn, schema, identity_id=other_id, min_faces=0)
            if not theirs:
                raise HTTPException(404, f"no identity {other_id}")
            them = {**theirs[0], "sample": _sample(conn, schema, other_id)}
            shared = _rows(
                conn.execute(
                    load_sql("web_shared_photos.sql", schema=schema), {"a": identity_id, "b": other_id, "limit": 6}
                )
            )
        refused = None
        if me["name"] and them["name"]:
            refused = (
                f"Both are named ({me['name']} and {them['name']}): a merge would lose a person."
                " Move the wrong faces out instead."
            )
        elif them.get("hidden") and not me.get("hidden"):
            refused = (
                f"Identity #{them['identity_id']} is hidden: merged into this one, its faces would be shown again."
                " Show it again first, or merge this one into it."
            )
        elif shared:
            refused = "They have faces in the same photo: two faces of one photo are two people. Move the wrong face out first."
        return _page(request, who, "merge_preview.html.j2", me=me, them=them, shared=shared, refused=refused)

    @app.post("/people/{identity_id}/merge")
    async def merge(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        _known_id(identity_id)
        form = await _form(request)
        other = _int(form.get("other"), "the identity to merge", 1, 2**62)
        if other is None:
            raise HTTPException(400, "give the number of the identity to merge into this one")
        return await run_in_threadpool(
            _people_change,
            request,
            who,
            "merge",
            f"/people/{identity_id}/merge",
            into=identity_id,
            other=other,
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
        where = f"/people/{back}" if back is not None else f"/photos/{day}/{image_id}"
        return await run_in_threadpool(
            _people_change, request, who, "move", where, day=day, image_id=image_id, face_no=face_no, to=to
        )

    # a change's URL asked for with GET (a reload, a bookmark): the page it changes
    @app.get("/people/{identity_id}/name")
    def name_get(request: Request, identity_id: int, who: Access = Depends(access)):
        return _see(request, f"/people/{_known_id(identity_id)}")

    @app.get("/faces/move")
    def move_get(request: Request, who: Access = Depends(access)):
        return _see(request, "/people")

    @app.get("/suggestions/{suggestion_id}/answer")
    def answer_get(request: Request, suggestion_id: int, who: Access = Depends(access)):
        return _see(request, "/suggestions")

    @app.get("/forget/confirm")
    def forget_confirm_get(request: Request, who: Access = Depends(access)):
        return _see(request, "/forget")

    # --- Suggestions: what the nightly assignment was not sure of ---------------

    def _suggestions_view(request: Request, who: Access, page: int = 1, answered=False):
        from facepipe.people.suggestions import list_suggestions, suggestion_row

        samples: dict = {}
        with _db() as (conn, schema):
            rows = list_suggestions(
                conn, schema, state=None if answered else "open", limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
            )
            for r in rows[:PAGE_SIZE]:  # the faces of both sides of each question
                for ident in (r.get("identity_id"), r.get("other_id")):
                    if ident is not None and ident not in samples:
                        samples[ident] = _sample(conn, schema, ident, limit=4)
            nearest, threshold = _next_nearest(conn, schema, rows[:PAGE_SIZE])
        if page > 1 and not rows:
            raise HTTPException(404, f"page {page} is past the last page of suggestions")
        more = len(rows) > PAGE_SIZE
        from facepipe.web.words import evidence_words, question_words

        shown = [
            {
                **r,
                "row": suggestion_row(r),
                "words": evidence_words(r, threshold, nearest.get(r["suggestion_id"])),
                "question": question_words(r),
            }
            for r in rows[:PAGE_SIZE]
        ]
        return _page(
            request,
            who,
            "suggestions.html.j2",
            rows=shown,
            samples=samples,
            page=page,
            more=more,
            answered=answered,
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
            _people_change, request, who, "answer", "/suggestions", suggestion_id=suggestion_id, yes=reply == "yes"
        )

    # --- the photo behind a face ---------------------------------------------------

    def _photo_row(conn, schema: str, day: dt.date, image_id: uuid.UUID):
        from facepipe.core.db import load_sql

        image = conn.execute(load_sql("web_photo.sql", schema=schema), {"day": day, "image_id": image_id}).fetchone()
        if image is None:
            raise HTTPException(404, "no such photo")
        return image

    @app.get("/photos/{day}/{image_id}")
    def photo_page(
        request: Request, day: str, image_id: uuid.UUID, face: str | None = None, who: Access = Depends(access)
    ):
        """The whole photo with every face's box and who it is (a video: the frame of one face)."""
        from facepipe.core.db import load_sql

        d = _day(day)
        face_no = _int(face, "face", 0, 32767)
        with _db() as (conn, schema):
            uri, source, width, height, media, captured_at, camera = _photo_row(conn, schema, d, image_id)
            faces = _rows(
                conn.execute(load_sql("web_photo_faces.sql", schema=schema), {"day": d, "image_id": image_id})
            )
        if face_no is not None and face_no not in {f["face_no"] for f in faces}:
            raise HTTPException(404, "no such face in this photo")
        frame_s = None
        if media == "video" and faces:  # one frame: the face asked for, else the first
            chosen = next((f for f in faces if f["face_no"] == face_no), faces[0])
            frame_s = chosen["frame_s"]
            face_no = chosen["face_no"]
            faces = [f for f in faces if f["frame_s"] == frame_s]
        W, H = max(1, width or 1), max(1, height or 1)
        for f in faces:  # boxes as percentages of the upright photo: CSS draws them over the <img>
            f["left"] = round(100 * f["box_x"] / W, 3)
            f["top"] = round(100 * f["box_y"] / H, 3)
            f["width"] = round(100 * f["box_w"] / W, 3)
            f["height"] = round(100 * f["box_h"] / H, 3)
        return _page(
            request,
            who,
            "photo.html.j2",
            day=d,
            image_id=image_id,
            uri=uri,
            file=uri.rsplit("/", 1)[-1],
            source=source,
            width=width,
            height=height,
            media=media,
            captured_at=captured_at,
            camera=camera,
            faces=faces,
            face_no=face_no,
            frame_s=frame_s,
        )

    @app.get("/photos/{day}/{image_id}/image")
    def photo_image(day: str, image_id: uuid.UUID, face: str | None = None, who: Access = Depends(access)):
        """The photo upright, scaled to PHOTO_SIDE (a video's frame: of ``face``), cut on request."""
        from facepipe.core.db import load_sql
        from facepipe.core.sources import Unreadable
        from facepipe.reports.report import read_uri
        from facepipe.web.crops import photo_jpeg

        d = _day(day)
        face_no = _int(face, "face", 0, 32767)
        with _db() as (conn, schema):
            uri, source, _w, _h, media, _c, _m = _photo_row(conn, schema, d, image_id)
            frame_s = None
            if media == "video":
                faces = _rows(
                    conn.execute(load_sql("web_photo_faces.sql", schema=schema), {"day": d, "image_id": image_id})
                )
                chosen = next((f for f in faces if f["face_no"] == face_no), faces[0] if faces else None)
                if chosen is None:
                    raise HTTPException(404, "no frame of this video has a face")
                frame_s = chosen["frame_s"]
        try:
            data = read_uri(uri, source) if frame_s is None else read_uri(uri, source, frame_s=frame_s)
            jpeg = photo_jpeg(data)
        except (Unreadable, OSError, ValueError) as exc:
            log.warning("no photo for %s: %s", d, type(exc).__name__)
            raise HTTPException(404, "this photo cannot be read now") from None
        return Response(jpeg, media_type="image/jpeg", headers=PRIVATE)

    # --- the one script: Airflow's light/dark choice, followed -------------------------

    @app.get("/static/{name}")
    def static(name: str, who: Access = Depends(access)):
        from facepipe.core.config import PROJECT_ROOT

        if name not in STATIC:
            raise HTTPException(404, "no such file")
        body = (PROJECT_ROOT / "include" / "static" / "web" / name).read_bytes()
        return Response(
            body,
            media_type=STATIC[name],
            headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
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
        return Response(jpeg, media_type="image/jpeg", headers=PRIVATE)

    # --- Search: facepipe.web.searchpage ---------------------------------------

    from facepipe.web.searchpage import register as register_search

    register_search(app)

    # --- Not this person: a face's move picked by face or name (facepipe.web.movepage) ---

    from facepipe.web.movepage import register as register_move

    register_move(app)

    # --- Days: facepipe.web.days ----------------------------------------------

    from facepipe.web.days import register as register_days

    register_days(app)

    # --- Forget ------------------------------------------------------------------

    def _forget_state(request: Request) -> dict | None:
        from facepipe.web.notice import FORGET, unsign

        state = unsign(request.cookies.get(FORGET), FORGET_SECONDS)
        if state is None or state.get("what") not in ("person", "photo") or not state.get("which"):
            return None
        return {"what": state["what"], "which": str(state["which"])}

    def _keep_forget(request: Request, resp, what: str, which: str):
        from facepipe.web.notice import FORGET, sign

        # what is previewed travels in a signed cookie, not the URL: a name or a photo's path
        # being forgotten is not written to the api-server's access log
        resp.set_cookie(
            FORGET,
            sign({"what": what, "which": which}),
            max_age=FORGET_SECONDS,
            path=_root(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return resp

    @app.get("/forget")
    def forget_form(
        request: Request, person: str | None = None, photo: str | None = None, who: Access = Depends(access)
    ):
        state = _forget_state(request) or {}
        what, which = (
            ("photo", photo)
            if photo
            else ("person", person)
            if person
            else (state.get("what", "person"), state.get("which", ""))
        )
        return _page(request, who, "forget.html.j2", step="ask", what=what, which=which or "", result=None)

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
        return forget(**kw, dry_run=dry_run, actor=who.actor, preview=dry_run)

    @app.post("/forget/preview")
    async def forget_preview_post(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        what, which = _forget_args(await _form(request))
        return _keep_forget(request, _see(request, "/forget/preview"), what, which)

    @app.get("/forget/preview")
    async def forget_preview(request: Request, who: Access = Depends(access)):
        """The dry run of the forget asked for (a GET: a reload shows it again; it changes nothing)."""
        if not who.can_edit:
            raise HTTPException(403, f"forgetting needs edit access to the DAG {guarded_dag()}")
        state = _forget_state(request)
        if state is None:
            return _see(request, "/forget")
        try:
            result = await run_in_threadpool(_forget, who, state["what"], state["which"], True)
        except ValueError as exc:  # PrivacyError, PeopleError: nothing changed
            return _see(request, "/forget", f"Nothing was changed: {exc}", kind="error")
        from facepipe.web.forget_view import shape

        return _page(request, who, "forget.html.j2", step="confirm", result=result, view=shape(result), **state)

    @app.post("/forget/confirm")
    async def forget_confirm(request: Request, who: Access = Depends(access)):
        from facepipe.web.notice import FORGET

        check_post(request, who, edit=True)
        form = await _form(request)
        what, which = _forget_args(form)
        typed = (form.get("typed") or "").strip()
        short = which.rsplit("/", 1)[-1] if what == "photo" else which  # a photo: its file name will do
        if typed not in (which, short) or not typed:
            resp = _see(
                request,
                "/forget/preview",
                "The confirmation did not match: type exactly what is to be forgotten. Nothing was changed.",
                kind="error",
            )
            return _keep_forget(request, resp, what, which)  # the dry run stays
        try:
            result = await run_in_threadpool(_forget, who, what, which, False)
        except ValueError as exc:
            return _see(request, "/forget", f"Nothing was changed: {exc}", kind="error")
        except Exception as exc:
            if type(exc).__name__ != "FilesLeft":
                raise
            resp = _see(request, "/forget", f"Forgotten in the database; left to do: {exc}", kind="error")
        else:
            resp = _see(request, "/forget", f"Forgotten: {which}.", more=_forget_summary(what, result))
        resp.delete_cookie(FORGET, path=_root(request) or "/")
        return resp

    from facepipe.web import export, groups, hide, undo

    groups.register(app)  # the Unassigned page
    hide.register(app)  # hide / unhide a person
    export.register(app)  # a person's data, on request
    undo.register(app)  # undo a merge from its notice
    return app


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _forget_summary(what: str, result: dict) -> list[str]:
    rows = result.get("rows", {})
    out = [
        f"Removed {_n(rows.get('faces', 0), 'face')} and {_n(rows.get('images', 0), 'photo')}"
        f" (audit entry {result.get('op_no')})."
    ]
    if rows.get("suppressions"):
        out.append(f"Kept so that it does not come back: {_n(rows['suppressions'], 'suppression')} (no face data).")
    if result.get("report_days"):
        out.append(f"Day reports rebuilt: {', '.join(str(d) for d in result['report_days'][:20])}.")
    if what == "person" and rows.get("person_refs"):  # enrolled: the people folder would enrol them again
        out.append("They were enrolled: remove their folder from the people folder too.")
    return out


def _merged_into(conn, schema: str, identity_id: int) -> int | None:
    """The identity an identity merged away went into (the audit's merges, followed), or None."""
    from facepipe.core.db import load_sql

    seen = {identity_id}
    current = identity_id
    for _ in range(50):
        row = conn.execute(load_sql("web_merged_into.sql", schema=schema), {"identity_id": current}).fetchone()
        if row is None or row[0] in seen:
            return None
        current, alive = row
        if alive:
            return current
        seen.add(current)
    return None


def _enrolled(conn, schema: str, person_id) -> int:
    """How many reference photos enrol this person (0: not enrolled; a rename is then allowed)."""
    from psycopg import sql

    if person_id is None:
        return 0
    return conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE person_id = %s").format(sql.Identifier(schema, "person_refs")),
        (person_id,),
    ).fetchone()[0]


def _next_nearest(conn, schema: str, rows: list[dict]) -> tuple[dict, float]:
    """For each open face question, the identity nearest its face other than the one asked
    about: {suggestion_id: (identity_id, name, distance)}; and the model's threshold."""
    from facepipe.core.db import load_sql
    from facepipe.core.deployment import settings
    from facepipe.core.specs import model_spec

    spec = model_spec(settings().model)
    out = {}
    for r in rows:
        if r.get("kind") != "face" or r.get("face_no") is None or r.get("state") != "open":
            continue
        found = conn.execute(
            load_sql("web_next_identity.sql", schema=schema, op=spec.distance_op),
            {"identity_id": r["identity_id"], "day": r["day"], "image_id": r["image_id"], "face_no": r["face_no"]},
        ).fetchone()
        if found is not None:
            out[r["suggestion_id"]] = (found[0], found[1], float(found[2]) if found[2] is not None else None)
    return out, spec.match_threshold


def _sample(conn, schema: str, identity_id: int, limit: int = SAMPLE) -> list[dict]:
    """An identity's largest faces (beside a merge)."""
    from facepipe.core.db import load_sql

    return _rows(
        conn.execute(load_sql("web_identity_sample.sql", schema=schema), {"identity_id": identity_id, "limit": limit})
    )


def _changed(conn, schema: str, op: str, result: dict, back: str) -> tuple[str, str, list]:
    """Where a change lands, and what it did in words."""
    from psycopg import sql

    if op == "name":
        target, new = result["identity_id"], result["name"]
        if not result.get("changed", True):
            return f"/people/{target}", f"Already named {new}.", []
        if result.get("merged_into"):
            return (
                f"/people/{target}",
                f"{new} already had this identity: {_n(result.get('faces_moved', 0), 'face')} joined it.",
                [],
            )
        if result.get("was"):
            return f"/people/{target}", f"Renamed from {result['was']} to {new}.", []
        return f"/people/{target}", f"Named {new}.", []
    if op == "merge":
        return (
            f"/people/{result['identity_id']}",
            f"Identity #{result['merged']} merged into this one: {_n(result.get('faces_moved', 0), 'face')} moved.",
            [],
        )
    if op == "move":
        to, old = result["identity_id"], result["from"]
        photo = ("the photo", f"/photos/{result['day']}/{result['image_id']}")
        where = back
        if old is not None and back == f"/people/{old}":
            alive = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE identity_id = %s").format(sql.Identifier(schema, "identities")), (old,)
            ).fetchone()
            if not alive:  # its last face moved out: the identity is gone
                where = f"/people/{to}"
        return where, f"1 face moved to identity #{to}.", [(f"identity #{to}", f"/people/{to}"), photo]
    from facepipe.people.suggestions import answer_summary

    done = (result.get("done") or {}).get("identity_id") or result.get("identity_id")
    links = [(f"identity #{done}", f"/people/{done}")] if done else []
    return "/suggestions", f"Answered {result['answer']}: {answer_summary(result)}.", links
