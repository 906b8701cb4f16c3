"""Who may do what in the Faces view: Airflow's own auth manager decides.

Every route depends on ``access``: the user comes from the request the way Airflow's
REST API takes it (``airflow.api_fastapi.core_api.security.get_user``: a bearer token
in the Authorization header, else the UI's ``_token`` cookie), and the auth manager
answers for the DAG ``face_report`` (FACEPIPE_WEB_DAG): reading needs GET access to it,
every change needs PUT (edit) access. A mounted app inherits none of this from
Airflow, and when Airflow's modules cannot be imported every request is refused.

Writes are POST only and refuse cross-site requests: the UI's token is a cookie, which
a browser sends along with a form another site posts (Airflow core adds no CSRF token).
A request whose credential is the cookie must show, through Origin or Sec-Fetch-Site,
that it came from this origin; one with an explicit bearer token was not made by a
browser on the user's behalf.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

log = logging.getLogger(__name__)


def guarded_dag() -> str:
    """The DAG whose permissions gate the view (read: GET, change: PUT)."""
    from facepipe.core.deployment import settings

    # strict=False: with the database down the view still asks Airflow about a DAG (the
    # environment's or face_report), and then shows that the database is down
    return settings(strict=False).web_dag


@dataclass(frozen=True)
class Access:
    user: str  # the Airflow user's name, recorded in the audit as ui:<name>
    can_edit: bool
    by_cookie: bool  # the credential was the UI's cookie (so writes need the origin check)

    @property
    def actor(self) -> str:
        return f"ui:{self.user}"


def _airflow():
    """Airflow's user and permission functions, or None when they cannot be imported."""
    try:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
    except Exception as exc:  # any failure: deny, never serve without auth
        log.error("Faces view: Airflow's auth cannot be imported (%s); every request is refused", exc)
        return None
    return get_auth_manager, DagDetails, bearer_scheme, get_user


async def access(request: Request) -> Access:
    """The user and what they may do; 401/403 (and no data) otherwise."""
    airflow = _airflow()
    if airflow is None:
        raise HTTPException(503, "the Faces view cannot check permissions (Airflow's auth is unavailable): refused")
    get_auth_manager, DagDetails, bearer_scheme, get_user = airflow
    credentials = await bearer_scheme(request)
    user = await get_user(request, None, credentials)  # raises 401 (no or expired token) / 403 (invalid)
    manager = get_auth_manager()
    details = DagDetails(id=guarded_dag())
    if not manager.is_authorized_dag(method="GET", user=user, details=details):
        raise HTTPException(403, f"reading faces needs read access to the DAG {guarded_dag()}")
    can_edit = bool(manager.is_authorized_dag(method="PUT", user=user, details=details))
    by_cookie = not (credentials and credentials.scheme.lower() == "bearer")
    return Access(user=user.get_name(), can_edit=can_edit, by_cookie=by_cookie)


def own_origins(request: Request) -> set[str]:
    """This server's origin as the request reached it, and [api] base_url's."""
    origins = set()
    host = request.headers.get("host")
    if host:
        origins.add(f"{request.url.scheme}://{host}")
    base = os.environ.get("AIRFLOW__API__BASE_URL")
    if base is None:
        try:
            from airflow.configuration import conf

            base = conf.get("api", "base_url", fallback="")
        except Exception:
            base = ""
    if base:
        parts = urlsplit(base)
        if parts.scheme and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def same_origin(request: Request, who: Access) -> str | None:
    """Why a POST is refused as cross-site, or None when it may go on."""
    if request.method != "POST":
        return "changes are POST only"
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request (Sec-Fetch-Site) may not change anything"
    if site == "same-origin":
        # The browser says so itself (no page can set a Sec-Fetch-* header); behind a proxy
        # that ends TLS, Origin says https while this server sees http, so it is not compared.
        return None
    if origin is not None and origin not in own_origins(request):
        return "a request from another origin may not change anything"
    if who.by_cookie and site is None and origin is None:
        return "a browser request without Origin or Sec-Fetch-Site may not change anything"
    return None


def check_post(request: Request, who: Access, *, edit: bool) -> None:
    """A POST from this origin, by a user who may change things when ``edit``."""
    why = same_origin(request, who)
    if why is not None:
        raise HTTPException(403, why)
    if edit and not who.can_edit:
        raise HTTPException(403, f"changing faces needs edit access to the DAG {guarded_dag()}")
