"""The Faces view's Search: by an uploaded photo or from a face in the tables, with what a
person needs to judge the answer: the photo searched with its faces boxed and the one used
marked (the largest by default; a click on another searches for that one), the results
grouped by identity with each group's best distance, and a line at the model's threshold.

Where the uploaded photo is kept: nowhere on the server. It is read in memory
(facepipe.web.upload), decoded, its faces found and embedded, and dropped when the response
is sent. To let a click choose another face without uploading again, the page carries its
own state: a preview of the photo (SEARCH_PREVIEW_SIDE px) and its faces' boxes and vectors,
encrypted and authenticated (Fernet) with a key derived from Airflow's [api_auth] jwt_secret
(the same in every api-server worker), refused after STATE_SECONDS. Only this api-server can
read it; nothing is written to disk, the database or a log. Pages are sent no-store.

Registered on the app by facepipe.web.app.create_app.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import uuid
from functools import cache

from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from facepipe.web.auth import Access, access, check_post

log = logging.getLogger(__name__)

STATE_SECONDS = 1800  # a search page's photo and faces can be searched again for this long
STATE_MAX_BYTES = 2 * 1024 * 1024  # the largest form that carries a search's state back
FACES_KEPT = 20  # the largest faces of an uploaded photo offered to choose from


@cache
def _fernet():
    from cryptography.fernet import Fernet

    from facepipe.web.notice import _key

    key = hashlib.sha256(b"facepipe-web-search\0" + _key()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(state: dict) -> str:
    """The search's state (preview, boxes, vectors), encrypted for this api-server only."""
    return _fernet().encrypt(json.dumps(state, separators=(",", ":")).encode()).decode("ascii")


def unseal(token: str) -> dict | None:
    """A state this api-server sealed less than STATE_SECONDS ago, else None."""
    from cryptography.fernet import InvalidToken

    try:
        state = json.loads(_fernet().decrypt(token.encode("ascii"), ttl=STATE_SECONDS))
    except (InvalidToken, ValueError, UnicodeEncodeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("faces"), list) else None


def upload_state(width: int, height: int, faces: list, preview: bytes) -> dict:
    import numpy as np

    return {
        "w": int(width),
        "h": int(height),
        "preview": base64.b64encode(preview).decode("ascii"),
        "faces": [
            [int(b.x), int(b.y), int(b.w), int(b.h), base64.b64encode(np.asarray(v, "<f4").tobytes()).decode("ascii")]
            for b, v in faces
        ],
    }


def face_vector(state: dict, i: int):
    import numpy as np

    return np.frombuffer(base64.b64decode(state["faces"][i][4]), dtype="<f4").copy()


def boxes(state: dict, chosen: int) -> list[dict]:
    """The upload's faces as percentages of the photo (CSS draws them over the preview)."""
    W, H = max(1, state["w"]), max(1, state["h"])
    out = []
    for i, (x, y, w, h, _v) in enumerate(state["faces"]):
        out.append(
            {
                "i": i,
                "left": round(100 * x / W, 3),
                "top": round(100 * y / H, 3),
                "width": round(100 * w / W, 3),
                "height": round(100 * h / H, 3),
                "chosen": i == chosen,
                "px": max(w, h),
            }
        )
    return out


def group_matches(results: list[dict], threshold: float) -> list[dict]:
    """Results grouped by identity (an unassigned face is a group of its own), the closest group
    first; each group's best distance, and whether it is below the model's threshold."""
    groups: dict = {}
    for r in results:
        key = (
            ("identity", r["identity_id"])
            if r["identity_id"]
            else ("face", r["m"].day, r["m"].image_id, r["m"].face_no)
        )
        g = groups.setdefault(key, {"identity_id": r["identity_id"], "name": r["name"], "faces": []})
        g["faces"].append(r["m"])
    out = []
    for g in groups.values():
        g["faces"].sort(key=lambda m: m.distance)
        g["best"] = g["faces"][0].distance
        g["same"] = g["best"] < threshold
        out.append(g)
    out.sort(key=lambda g: g["best"])
    merged: list[dict] = []  # beyond the line, faces of no identity side by side: one row, not one each
    for g in out:
        prev = merged[-1] if merged else None
        if not g["same"] and g["identity_id"] is None and prev is not None and prev.get("loose"):
            prev["faces"].extend(g["faces"])
            continue
        merged.append({**g, "loose": not g["same"] and g["identity_id"] is None})
    return merged


def register(app: FastAPI) -> None:
    from facepipe.web.pages import _day, _db, _int, _page, no_nul, upload_max_bytes

    def _search_page(
        request,
        who,
        *,
        vector=None,
        query_face=None,
        upload=None,
        chosen=0,
        since=None,
        until=None,
        source="",
        k=12,
        error=None,
        status=None,
    ):
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec

        until = until or dt.datetime.now(dt.UTC).date()
        since = since or until - dt.timedelta(days=30)
        form = {"since": since.isoformat(), "until": until.isoformat(), "source": source or "", "k": k}
        spec = model_spec(settings().model)
        shown = None
        if upload is not None:
            shown = {
                "preview": upload["preview"],
                "boxes": boxes(upload, chosen),
                "token": seal(upload),
                "chosen": chosen,
                "count": len(upload["faces"]),
            }
        values = {"form": form, "query_face": query_face, "upload": shown, "threshold": spec.match_threshold}
        values["model"] = spec.name
        if error or vector is None:
            code = status or (400 if error else 200)
            return _page(request, who, "search.html.j2", status=code, error=error, groups=None, **values)
        if since > until:
            return _page(
                request, who, "search.html.j2", status=400, error="since is after until", groups=None, **values
            )
        from facepipe.search.query import search_faces

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
                "identity_id": who_is.get((m.day, str(m.image_id), m.face_no), (None, None))[0],
                "name": who_is.get((m.day, str(m.image_id), m.face_no), (None, None))[1],
            }
            for m in matches
        ]
        groups = group_matches(results, spec.match_threshold)
        return _page(
            request,
            who,
            "search.html.j2",
            error=None,
            groups=groups,
            matches=len(matches),
            above=sum(1 for g in groups if g["same"]),
            **values,
        )

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
        from psycopg import sql

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
        with _db() as (conn, schema):
            row = conn.execute(
                sql.SQL("SELECT embedding FROM {} WHERE day = %s AND image_id = %s AND face_no = %s").format(
                    sql.Identifier(schema, "faces")
                ),
                (d, iid, fno),
            ).fetchone()  # the face's own vector is the query: nothing leaves the database
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

    def _filters(fields: dict):
        since, until = _day(fields.get("since"), "since"), _day(fields.get("until"), "until")
        source = (fields.get("source") or "").strip()
        k = _int(fields.get("k"), "k", 1, 200, 12)
        return since, until, source, k

    @app.post("/search")
    async def search_upload(request: Request, who: Access = Depends(access)):
        check_post(request, who, edit=False)
        from facepipe.web.upload import UploadRefused, read_upload

        try:
            fields, photo = await read_upload(request, upload_max_bytes())
        except UploadRefused as exc:
            return _search_page(request, who, error=f"{exc.reason}: {exc.detail}")
        no_nul(fields.values())
        since, until, source, k = _filters(fields)
        if not photo:
            return _search_page(request, who, since=since, until=until, source=source, k=k, error="choose a photo")
        return await run_in_threadpool(_search_by_photo, request, who, photo, since, until, source, k)

    def _search_by_photo(request, who, photo: bytes, since, until, source, k):
        from facepipe.core.deployment import settings
        from facepipe.core.sources import Unreadable
        from facepipe.web.crops import embed_upload_faces

        s = settings()
        try:
            width, height, faces, preview = embed_upload_faces(
                photo, s.detector, s.model, s.min_face, s.haar_scale_factor
            )
        except Unreadable as exc:
            return _search_page(
                request, who, since=since, until=until, source=source, k=k, error=f"{exc.reason}: {exc.detail}"
            )
        finally:
            del photo  # held in memory for this request only, never written
        state = upload_state(width, height, faces[:FACES_KEPT], preview)
        if not faces:
            return _search_page(
                request,
                who,
                upload=state,
                chosen=-1,
                since=since,
                until=until,
                source=source,
                k=k,
                error="no face found in the photo",
            )
        return _search_page(
            request,
            who,
            vector=face_vector(state, 0),
            upload=state,
            chosen=0,
            since=since,
            until=until,
            source=source,
            k=k,
        )

    @app.post("/search/face")
    async def search_face(request: Request, who: Access = Depends(access)):
        """Another face of the photo just searched (a click on its box): the page's own state."""
        check_post(request, who, edit=False)
        from urllib.parse import parse_qs

        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > STATE_MAX_BYTES:
                raise HTTPException(413, "the form is too large")
        fields = {k: v[0] for k, v in parse_qs(body.decode("ascii", "replace"), keep_blank_values=True).items()}
        no_nul(fields.values())
        since, until, source, k = _filters(fields)
        state = unseal(fields.get("state") or "")
        if state is None:
            return _search_page(
                request,
                who,
                since=since,
                until=until,
                source=source,
                k=k,
                error=f"this search's photo is no longer held (after {STATE_SECONDS // 60} minutes): upload it again",
            )
        face = _int(fields.get("face"), "face", 0, max(0, len(state["faces"]) - 1), 0)
        if not state["faces"]:
            raise HTTPException(400, "no face found in the photo")
        return await run_in_threadpool(
            lambda: _search_page(
                request,
                who,
                vector=face_vector(state, face),
                upload=state,
                chosen=face,
                since=since,
                until=until,
                source=source,
                k=k,
            )
        )

    @app.get("/search/face")
    def search_face_get(request: Request, who: Access = Depends(access)):
        from facepipe.web.pages import _see

        return _see(request, "/search")
