"""The search table's vectors become halfvec (facepipe.search.ivf.search_type): the covering
btree a search reads is about half; a search re-ranks its candidates by the exact vectors in
``faces``. Each version's table is converted in place (rewritten into new files); face_search's
next VACUUM gives it back the visibility map its index-only scans use.

Revision ID: 0014
Revises: 0013
"""

from facepipe.core.migrations import execute_file

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0014_search_halfvec.sql")


def downgrade() -> None:
    execute_file("0014_down_search_halfvec.sql")
