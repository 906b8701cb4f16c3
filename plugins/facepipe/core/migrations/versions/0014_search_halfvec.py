"""The search table's vectors become halfvec (facepipe.search.ivf.search_type): the covering
btree a search reads is about half; a search re-ranks its candidates by the exact vectors in
``faces``. Each version's table is converted in place (rewritten into new files).

Revision ID: 0014
Revises: 0013
"""

from facepipe.core.migrations import _context, held_model

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from facepipe.search import ivf

    conn, schema, wanted = _context()
    ivf.to_search_type(conn, schema, held_model(conn, schema, wanted))


def downgrade() -> None:
    # a facepipe before 0014 ranks by the table's vectors without a re-rank: their exact values
    from facepipe.search import ivf

    conn, schema, wanted = _context()
    ivf.to_model_type(conn, schema, held_model(conn, schema, wanted))
