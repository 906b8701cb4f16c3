"""The Faces view's "Not this person": a face's move picked by face or by name, not by a typed
number. GET /faces/move/pick shows the face (its photo one click away), the identity it is in,
the identities nearest to it (each with its best face and how close) or those whose name holds
the text typed, and "an identity of its own"; each choice is one POST to /faces/move (the
app's, with its checks and Post/Redirect/Get). Registered by facepipe.web.app.create_app."""

from __future__ import annotations

import uuid

from fastapi import Depends, FastAPI, HTTPException, Request

from facepipe.web.auth import Access, access, guarded_dag

CANDIDATES = 12  # identities offered to move a face to


def register(app: FastAPI) -> None:
    from facepipe.web.pages import _day, _db, _int, _known_id, _page, _rows

    @app.get("/faces/move/pick")
    def move_pick(
        request: Request,
        day: str | None = None,
        image_id: str | None = None,
        face_no: str | None = None,
        back: str | None = None,
        q: str | None = None,
        who: Access = Depends(access),
    ):
        from facepipe.core.db import load_sql
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec

        if not who.can_edit:
            raise HTTPException(403, f"moving a face needs edit access to the DAG {guarded_dag()}")
        d = _day(day)
        if d is None:
            raise HTTPException(400, "give the face's day")
        try:
            iid = uuid.UUID((image_id or "").strip())
        except ValueError:
            raise HTTPException(400, "image_id must be a UUID") from None
        fno = _int(face_no, "face_no", 0, 32767)
        if fno is None:
            raise HTTPException(400, "give face_no")
        back_id = _int(back, "back", 1, 2**62)
        text = (q or "").strip()[:200] or None
        spec = model_spec(settings().model)
        with _db() as (conn, schema):
            faces = _rows(conn.execute(load_sql("web_photo_faces.sql", schema=schema), {"day": d, "image_id": iid}))
            face = next((f for f in faces if f["face_no"] == fno), None)
            if face is None:
                raise HTTPException(404, "no such face")
            current = face["identity_id"]
            rows = _rows(
                conn.execute(
                    load_sql("web_move_candidates.sql", schema=schema, op=spec.distance_op),
                    {"day": d, "image_id": iid, "face_no": fno, "current": current, "q": text, "limit": CANDIDATES},
                )
            )
            uri = conn.execute(load_sql("web_photo.sql", schema=schema), {"day": d, "image_id": iid}).fetchone()[0]
        if back_id is not None:
            _known_id(back_id)
        return _page(
            request,
            who,
            "move_pick.html.j2",
            day=d,
            image_id=iid,
            face_no=fno,
            current=current,
            current_name=face["name"],
            back=back_id,
            rows=rows,
            q=text or "",
            threshold=spec.match_threshold,
            file=uri.rsplit("/", 1)[-1],
            uri=uri,
        )
