"""A person's data, on request, from their identity page (facepipe.privacy.export): a POST by
a user who may change, answered with the zip itself (built in memory, never written on the
api-server; sent ``private, no-store``), audited as who exported whom."""

from __future__ import annotations

import io

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from facepipe.web.auth import Access, access, check_post


def register(app: FastAPI) -> None:
    from facepipe.web import pages as web

    def _export(request: Request, who: Access, identity_id: int, vectors: bool):
        from facepipe.core.deployment import settings
        from facepipe.core.specs import model_spec
        from facepipe.privacy.export import export_person
        from facepipe.privacy.forget import PrivacyError

        buf = io.BytesIO()
        try:
            with web._db() as (conn, schema):
                export_person(
                    conn,
                    schema,
                    f"identity:{identity_id}",
                    buf,
                    model_spec(settings().model),
                    vectors=vectors,
                    actor=who.actor,
                )
        except PrivacyError:
            return web._see(
                request, "/people", f"Nothing was exported: there is no identity #{identity_id} now.", kind="error"
            )
        return Response(
            buf.getvalue(),
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="facepipe-identity-{identity_id}.zip"',
                **web.PRIVATE,
            },
        )

    @app.post("/people/{identity_id}/export")
    async def export(request: Request, identity_id: int, who: Access = Depends(access)):
        check_post(request, who, edit=True)
        form = await request.form()
        web.no_nul(form.values())
        vectors = form.get("vectors") in ("1", "on", "yes")
        return await run_in_threadpool(_export, request, who, web._known_id(identity_id), vectors)

    @app.get("/people/{identity_id}/export")
    def export_get(request: Request, identity_id: int, who: Access = Depends(access)):
        return web._see(request, f"/people/{web._known_id(identity_id)}")
