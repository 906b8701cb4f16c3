"""Unassigned faces grouped by likeness for the Faces view, faces dismissed as not a face,
and hidden identities.

Revision ID: 0012
Revises: 0011
"""

from facepipe.core.migrations import execute, execute_file

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0012_unassigned.sql")


def downgrade() -> None:
    # the groups are derived (made again from identity_pool); dismissals and hiding are in audit too
    execute("DROP TABLE IF EXISTS {schema}.unassigned_members")
    execute("DROP TABLE IF EXISTS {schema}.unassigned_groups")
    execute("DROP TABLE IF EXISTS {schema}.unassigned_built")
    execute("DROP TABLE IF EXISTS {schema}.dismissed_faces")
    # the reader view as revision 0005 made it (the grants on it are given back by the downgrade)
    execute("DROP VIEW IF EXISTS {reader}.identities")
    execute_file("0012_down_identities_view.sql")
    execute("ALTER TABLE {schema}.identities DROP COLUMN IF EXISTS hidden_at")
