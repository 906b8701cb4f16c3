"""Hide a person from the Faces view (facepipe.people.hiding): a POST on the identity's
page, 303 back to it with a notice (Post/Redirect/Get), as the rest of the view."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from facepipe.web.auth import Access, access, check_post


def register(app: FastAPI) -> None:
    from facepipe.web import pages as web

    def _change(request: Request, who: Access, op: str, identity_id: int):
        from facepipe.people.identities import PeopleError
        from facepipe.people.tasks import change_people

        back = f"/people/{identity_id}"
        try:
            with web._db() as (conn, _schema):
                r = change_people(op, actor=who.actor, conn=conn, identity_id=identity_id)
        except PeopleError:
            return web._see(
                request, "/people", f"Nothing was changed: there is no identity #{identity_id} now.", kind="error"
            )
        label = r["name"] or f"Identity #{identity_id}"
        if not r["changed"]:
            return web._see(request, back, f"{label} was {'hidden' if r['hidden'] else 'shown'} already.")
        text = (
            f"{label} is hidden: not on the People page or in the day reports; search still finds them."
            if r["hidden"]
            else f"{label} is shown again."
        )
        more = []
        if r.get("report_days"):
            more.append(f"Day reports rebuilt: {', '.join(str(d) for d in r['report_days'][:20])}.")
        for d, why in (r.get("report_failures") or [])[:3]:
            more.append(f"The report of {d} was not rebuilt ({why}); face_report builds it again.")
        kind = "error" if r.get("report_failures") else "ok"
        return web._see(request, back, text, kind=kind, more=more)

    def routes(op: str) -> None:
        async def post(request: Request, identity_id: int, who: Access = Depends(access)):
            check_post(request, who, edit=True)
            return await run_in_threadpool(_change, request, who, op, web._known_id(identity_id))

        def get(request: Request, identity_id: int, who: Access = Depends(access)):
            return web._see(request, f"/people/{web._known_id(identity_id)}")

        app.post(f"/people/{{identity_id}}/{op}")(post)
        app.get(f"/people/{{identity_id}}/{op}")(get)

    routes("hide")
    routes("unhide")
