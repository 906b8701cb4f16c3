"""Undo a merge from its notice (facepipe.people.unmerge). The notice's Undo button carries
a token the app signed (which merge, into which identity, when); the POST checks the
signature and its age, then the audit trail (the merge is there, not undone, nothing changed
since), never the form's word alone. 303 back to the identity with a notice."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from facepipe.web.auth import Access, access, check_post

UNDO_SECONDS = 3600  # an Undo button works this long after its merge


def undo_button(op: str, result: dict) -> tuple[str, str] | None:
    """The Undo button of a change's notice: (POST path, signed token), for a merge that can be undone."""
    from facepipe.web.notice import sign

    if op != "merge" or not result.get("undoable") or not result.get("op_no"):
        return None
    into, other = result["identity_id"], result["merged"]
    return f"/people/{into}/undo", sign({"undo": "merge", "op_no": result["op_no"], "into": into, "other": other})


def register(app: FastAPI) -> None:
    from facepipe.web import pages as web

    def _undo(request: Request, who: Access, identity_id: int, token: str):
        from facepipe.people.identities import PeopleError
        from facepipe.people.tasks import change_people
        from facepipe.web.notice import unsign

        back = f"/people/{identity_id}"
        claim = unsign(token, UNDO_SECONDS)
        if claim is None or claim.get("undo") != "merge" or claim.get("into") != identity_id:
            return web._see(
                request, back, "Nothing was changed: this undo is not valid (expired, or not made here).", kind="error"
            )
        try:
            with web._db() as (conn, schema):
                from psycopg import sql

                row = conn.execute(
                    sql.SQL("SELECT identity_id, other_id FROM {} WHERE op_no = %s AND op = 'merge'").format(
                        sql.Identifier(schema, "audit")
                    ),
                    (claim.get("op_no"),),
                ).fetchone()
                if row is None or tuple(row) != (identity_id, claim.get("other")):
                    raise PeopleError("this undo does not match a merge into this identity")
                r = change_people("unmerge", actor=who.actor, conn=conn, merge_op=int(claim["op_no"]))
        except PeopleError as exc:
            return web._see(request, back, f"Nothing was changed: {exc}.", kind="error")
        more = []
        if r.get("report_days"):
            more.append(f"Day reports rebuilt: {', '.join(str(d) for d in r['report_days'][:20])}.")
        for d, why in (r.get("report_failures") or [])[:3]:
            more.append(f"The report of {d} was not rebuilt ({why}); face_report builds it again.")
        restored = r["restored"]
        return web._see(
            request,
            back,
            f"Merge undone: identity #{restored} is back with its {web.plural(r['faces_moved'], 'face')}.",
            kind="error" if r.get("report_failures") else "ok",
            more=more,
            links=[(f"identity #{restored}", f"/people/{restored}")],
        )

    @app.post("/people/{identity_id}/undo")
    async def undo_merge(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        web._known_id(identity_id)
        from facepipe.web.groups import _form, _one

        form = await _form(request)
        return await run_in_threadpool(_undo, request, who, identity_id, _one(form, "token"))

    @app.get("/people/{identity_id}/undo")
    def undo_get(request: Request, identity_id: int, who: Access = Depends(access)):
        return web._see(request, f"/people/{web._known_id(identity_id)}")
