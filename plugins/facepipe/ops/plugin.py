"""facepipe as an Airflow plugin, registered through the ``airflow.plugins`` entry point
of the installed package (pyproject.toml), the way packaged plugins are.

It adds the Faces view: a FastAPI app (facepipe.web.app) that the api-server mounts at
``/facepipe``, and a nav entry that shows it in the UI. Airflow loads plugins in every
component at start-up, so the app is built only when asked for (the api-server asks;
the scheduler and the workers never do) and building it imports only fastapi.
"""

from __future__ import annotations

import os
from functools import cache
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/facepipe"


def _base_path() -> str:
    """The path of [api] base_url (e.g. /airflow behind a proxy), for the nav entry's href."""
    base = os.environ.get("AIRFLOW__API__BASE_URL")
    if base is None:
        try:
            from airflow.configuration import conf

            base = conf.get("api", "base_url", fallback="")
        except Exception:
            base = ""
    return urlsplit(base or "").path.rstrip("/")


@cache
def faces_app():
    from facepipe.web.app import create_app

    return create_app()


class FacepipePlugin(AirflowPlugin):
    name = "facepipe"

    @property
    def fastapi_apps(self) -> list[dict]:  # type: ignore[override]
        return [{"app": faces_app(), "url_prefix": URL_PREFIX, "name": "facepipe Faces"}]

    @property
    def external_views(self) -> list[dict]:  # type: ignore[override]
        return [
            {
                "name": "Faces",
                "href": f"{_base_path()}{URL_PREFIX}/people",
                "destination": "nav",
                "url_route": "faces",
                "category": "browse",
            }
        ]
