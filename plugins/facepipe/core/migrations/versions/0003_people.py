"""People: identities, face_identity, the pool of unassigned faces, report runs, and the
report columns that name identities.

Revision ID: 0003
Revises: 0002
"""

from facepipe.core.migrations import execute, execute_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0003_people.sql")


def downgrade() -> None:
    execute(
        "ALTER TABLE {schema}.report_recurring_unknowns DROP COLUMN IF EXISTS identity_id,"
        " DROP COLUMN IF EXISTS identity_faces, DROP COLUMN IF EXISTS identity_days"
    )
    execute("ALTER TABLE {schema}.report_sightings DROP COLUMN IF EXISTS identity_id, DROP COLUMN IF EXISTS matched_by")
    for table in ("report_runs", "identity_pool", "face_identity", "identities"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
