"""The Faces view's Unassigned page: the faces without an identity, grouped by likeness
(facepipe.people.unassigned), largest groups first; name a group, add it or some of its
faces to an identity (the one it looks like, or one picked by face or name), or dismiss
faces that are not faces. Every change is a POST that answers 303 to the page it came from
with a notice (Post/Redirect/Get), as the rest of the view (facepipe.web.app)."""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from facepipe.web.auth import Access, access, check_post

GROUPS_SHOWN = 12  # groups on a page
FACES_SHOWN = 24  # faces shown of a group (the largest); the rest wait for the next look
PICK_SHOWN = 24  # identities offered by the picker


def _face_ref(text: str) -> tuple[dt.date, uuid.UUID, int]:
    """A face as the page names it: DAY/IMAGE_ID/FACE_NO; 400 for anything else."""
    from facepipe.web.pages import _day

    parts = text.strip().split("/")
    if len(parts) != 3:
        raise HTTPException(400, "a face is named DAY/IMAGE_ID/FACE_NO")
    day = _day(parts[0])
    try:
        image_id = uuid.UUID(parts[1])
        face_no = int(parts[2])
    except ValueError:
        raise HTTPException(400, "a face is named DAY/IMAGE_ID/FACE_NO") from None
    if day is None or not 0 <= face_no <= 32767:
        raise HTTPException(400, "a face is named DAY/IMAGE_ID/FACE_NO")
    return day, image_id, face_no


def _refs(values: list[str]) -> list[tuple[dt.date, uuid.UUID, int]]:
    if len(values) > 500:
        raise HTTPException(400, "at most 500 faces at once")
    return [_face_ref(v) for v in values]


async def _form(request: Request) -> dict[str, list[str]]:
    """The form's fields, every value of each (a group's checked faces)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > 256 * 1024:
        raise HTTPException(413, "the form is too large")
    from facepipe.web.pages import no_nul

    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    no_nul(v for values in form.values() for v in values)
    return form


def _one(form: dict, key: str) -> str:
    return (form.get(key) or [""])[0]


def _back(form: dict) -> str:
    from facepipe.web.pages import _int

    page = _int(_one(form, "page"), "page", 1, 1_000_000, 1)
    show = _one(form, "show")
    q = {"page": page if page > 1 else None, "show": show if show in ("groups", "lone") else None}
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in q.items() if v is not None})
    return "/unassigned" + (f"?{query}" if query else "")


def _ref_text(day, image_id, face_no) -> str:
    return f"{day}/{image_id}/{face_no}"


def register(app: FastAPI) -> None:
    from facepipe.web import pages as web

    SHOWS = {"all": (1, 2**31 - 1), "groups": (2, 2**31 - 1), "lone": (1, 1)}

    @app.get("/unassigned")
    def unassigned(request: Request, page: str | None = None, show: str = "all", who: Access = Depends(access)):
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec
        from facepipe.people.identities import PeopleSettings
        from facepipe.people.unassigned import built, pool_size, regroup_if_stale, stale

        if show not in SHOWS:
            raise HTTPException(400, "show must be all, groups or lone")
        pg = web._int(page, "page", 1, 1_000_000, 1)
        lo, hi = SHOWS[show]
        with web._db() as (conn, schema):
            spec = model_spec(settings().model)
            regroup_if_stale(conn, schema, spec, spec.match_threshold, PeopleSettings.from_env())
            rows = web._rows(
                conn.execute(
                    load_sql("web_unassigned_page.sql", schema=schema),
                    {
                        "min_size": lo,
                        "max_size": hi,
                        "limit": GROUPS_SHOWN + 1,
                        "offset": (pg - 1) * GROUPS_SHOWN,
                        "faces": FACES_SHOWN,
                    },
                )
            )
            made = built(conn, schema)
            waiting = pool_size(conn, schema)
            old = stale(conn, schema)
        groups: list[dict] = []
        for r in rows:
            if not groups or groups[-1]["group_id"] != r["group_id"]:
                groups.append({**r, "faces": []})
            groups[-1]["faces"].append({**r, "ref": _ref_text(r["day"], r["image_id"], r["face_no"])})
        if pg > 1 and not groups:
            if web._flash(request) is not None:  # a change emptied the page it was made on: the one before
                return web._see(request, _back({"page": [str(pg - 1)], "show": [show]}))
            raise HTTPException(404, f"page {pg} is past the last page of unassigned faces")
        more = len(groups) > GROUPS_SHOWN
        return web._page(
            request,
            who,
            "unassigned.html.j2",
            groups=groups[:GROUPS_SHOWN],
            page=pg,
            more=more,
            show=show,
            built=made,
            waiting=waiting,
            stale=old,
            pool_days=settings().people_pool_days,
        )

    @app.get("/unassigned/pick")
    def pick(request: Request, q: str | None = None, who: Access = Depends(access)):
        """Add the chosen faces (``face``, repeated) to an identity: picked by face (the
        nearest first) or by name."""
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec

        values = request.query_params.getlist("face")
        refs = _refs(values)
        if not refs:
            return web._see(request, "/unassigned", "Choose at least one face first.", kind="error")
        text = (q or "").strip()[:200] or None
        with web._db() as (conn, schema):
            op = model_spec(settings().model).distance_op
            rows = web._rows(
                conn.execute(
                    load_sql("web_unassigned_pick.sql", schema=schema, op=op),
                    {
                        "days": [r[0] for r in refs],
                        "image_ids": [r[1] for r in refs],
                        "face_nos": [r[2] for r in refs],
                        "q": text,
                        "limit": PICK_SHOWN,
                    },
                )
            )
        faces = [{"day": d, "image_id": i, "face_no": n, "ref": _ref_text(d, i, n)} for d, i, n in refs]
        form = {k: request.query_params.getlist(k) for k in ("page", "show")}
        back = _back(form)  # checked: the page and the filter to go back to
        return web._page(
            request,
            who,
            "unassigned_pick.html.j2",
            faces=faces,
            rows=rows,
            q=text or "",
            back=back,
            page=_one(form, "page"),
            show=_one(form, "show"),
        )

    def _change(request: Request, who: Access, op: str, back: str, refs, to=None, new_name=None):
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec
        from facepipe.people.identities import PeopleError
        from facepipe.people.tasks import rebuild_reports, reports_touched
        from facepipe.people.unassigned import add_faces, describe, dismiss

        try:
            with web._db() as (conn, schema):
                if op == "dismiss":
                    result = dismiss(conn, schema, refs, actor=who.actor)
                    reports = {"report_days": [], "report_failures": []}
                else:
                    result = add_faces(conn, schema, refs, to=to, new_name=new_name, actor=who.actor)
                    spec = model_spec(settings().model)
                    reports = rebuild_reports(
                        conn, schema, spec, reports_touched(conn, schema, [result["identity_id"]])
                    )
        except PeopleError as exc:
            return web._see(request, back, f"Nothing was changed: {exc}.", kind="error")
        more = []
        if reports["report_days"]:
            more.append(f"Day reports rebuilt: {', '.join(str(d) for d in reports['report_days'][:20])}.")
        for d, why in reports["report_failures"][:3]:
            more.append(f"The report of {d} was not rebuilt ({why}); face_report builds it again.")
        links = []
        if op != "dismiss":
            ident = result["identity_id"]
            links.append((result.get("name") or f"identity #{ident}", f"/people/{ident}"))
        kind = "error" if reports["report_failures"] else "ok"
        return web._see(request, back, describe(result, op), kind=kind, more=more, links=links)

    @app.post("/unassigned/name")
    async def name_group(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await _form(request)
        refs, back = _refs(form.get("face", [])), _back(form)
        new_name = _one(form, "name").strip()
        if not new_name:
            return web._see(request, back, "Nothing was changed: type a name first.", kind="error")
        return await run_in_threadpool(_change, request, who, "name", back, refs, new_name=new_name)

    @app.post("/unassigned/add")
    async def add_group(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await _form(request)
        refs, back = _refs(form.get("face", [])), _back(form)
        to = web._int(_one(form, "to"), "the identity to add to", 1, 2**62)
        if to is None:
            raise HTTPException(400, "choose the identity to add the faces to")
        return await run_in_threadpool(_change, request, who, "add", back, refs, to=to)

    @app.post("/unassigned/dismiss")
    async def dismiss_faces(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await _form(request)
        refs, back = _refs(form.get("face", [])), _back(form)
        return await run_in_threadpool(_change, request, who, "dismiss", back, refs)

    # a change's URL asked for with GET (a reload, a bookmark): the page it changes
    @app.get("/unassigned/name")
    @app.get("/unassigned/add")
    @app.get("/unassigned/dismiss")
    def change_get(request: Request, who: Access = Depends(access)):
        return web._see(request, "/unassigned")
