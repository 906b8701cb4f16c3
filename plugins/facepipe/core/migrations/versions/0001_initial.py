"""facepipe's tables as first released: images, faces, rejects, load runs, staging,
enrolled people and the day reports; embedding_space says which model's vectors they hold.

Revision ID: 0001
Revises:
"""

from psycopg import sql

from facepipe.core.migrations import _context, execute, execute_file, held_model

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "report_person_days", "report_recurring_unknowns", "report_sightings", "report_daily_summary",
    "person_refs", "people", "stage_rejects", "stage_faces", "stage_images", "stage_shards",
    "stage_manifest", "load_runs", "rejects", "faces", "images", "embedding_space",
)  # fmt: skip


def upgrade() -> None:
    conn, schema, wanted = _context()
    model = held_model(conn, schema, wanted)
    execute(
        "CREATE TABLE IF NOT EXISTS {schema}.embedding_space ("
        " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
        " model text NOT NULL, dim integer NOT NULL, vector_type text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (model, dim, vector_type) VALUES (%s, %s, %s) ON CONFLICT (singleton) DO NOTHING"
        ).format(sql.Identifier(schema, "embedding_space")),
        (model.name, model.dim, model.vector_type),
    )
    execute_file("0001_initial.sql")


def downgrade() -> None:
    for table in TABLES:  # the day partitions go with their parents
        execute("DROP TABLE IF EXISTS {schema}.{t} CASCADE", t=table)
