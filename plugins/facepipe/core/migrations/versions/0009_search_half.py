"""search_generations.half: the generation's IVFFlat index is on embedding::halfvec, and a
search re-ranks its candidates by the full vector.

Revision ID: 0009
Revises: 0008
"""

from facepipe.core.migrations import execute, execute_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0009_search_half.sql")


def downgrade() -> None:
    # Searches of an older facepipe on a halfvec generation still answer exactly (its
    # index unused, a scan of the generation) until the next rebuild.
    execute("ALTER TABLE {schema}.search_generations DROP COLUMN IF EXISTS half")
