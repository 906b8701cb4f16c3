"""The data products facepipe publishes, shared by the DAG that writes and the DAG that reads."""

from airflow.sdk import Asset

# Carries {day, images, duplicates, faces, rejects} in each event's extra.
FACES = Asset(name="facepipe_faces", uri="facepipe://faces", group="facepipe")
