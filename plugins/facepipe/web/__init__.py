"""The Faces view: people, search, days and forget inside the Airflow UI (an Airflow 3
plugin's FastAPI app, mounted by the api-server; facepipe.ops.plugin registers it)."""
