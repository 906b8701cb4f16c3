"""What each (day, source) holds now (day_tallies), kept by loads, forgets and retention, so
that Days and ``facepipe status`` need not count every face row; counted here for every day
the tables hold.

Revision ID: 0013
Revises: 0012
"""

from facepipe.core.migrations import _context, execute, execute_file

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from facepipe.core.days import refresh_tallies

    execute_file("0013_day_tallies.sql")
    conn, schema, _ = _context()
    refresh_tallies(conn, schema, None)


def downgrade() -> None:
    execute("DROP TABLE IF EXISTS {schema}.day_tallies")  # derived: counted again on the next upgrade
