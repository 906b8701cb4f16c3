"""The reader contract: documented views for downstream readers in <schema>_reader
(images, faces without vectors, identities, people, sightings, day summaries, rejects,
loads, audit counts).

Revision ID: 0005
Revises: 0004
"""

from facepipe.core.migrations import execute, execute_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0005_reader_views.sql")


def downgrade() -> None:
    execute("DROP SCHEMA IF EXISTS {reader} CASCADE")
