"""facepipe as an Airflow plugin, registered through the ``airflow.plugins`` entry point
of the installed package (pyproject.toml), the way packaged plugins are.

It adds nothing to Airflow yet; the Faces view (a FastAPI app and a nav entry) will
be its ``fastapi_apps`` and ``external_views``. Importing it is cheap: Airflow loads
plugins in every component at start-up.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class FacepipePlugin(AirflowPlugin):
    name = "facepipe"
