"""search_generations.half: the generation's IVFFlat index is on embedding::halfvec, and a
search re-ranks its candidates by the full vector.

Revision ID: 0009
Revises: 0008
"""

from psycopg import sql

from facepipe.core.migrations import _context, execute, execute_file

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0009_search_half.sql")
    # a generation built on halfvec, then downgraded and upgraded again: its flag back from
    # its index, else searches would not use it (a scan of the generation, exact but slow)
    conn, schema, _ = _context()
    for (table,) in conn.execute(
        "SELECT tablename FROM pg_indexes WHERE schemaname = %s AND tablename ~ '^search_sealed_g[0-9]+$'"
        " AND indexdef LIKE %s",
        (schema, "%::halfvec%"),
    ).fetchall():
        conn.execute(
            sql.SQL("UPDATE {} SET half = true WHERE gen = %s").format(sql.Identifier(schema, "search_generations")),
            (int(table.rsplit("g", 1)[1]),),
        )


def downgrade() -> None:
    # Searches of an older facepipe on a halfvec generation still answer exactly (its
    # index unused, a scan of the generation) until the next rebuild.
    execute("ALTER TABLE {schema}.search_generations DROP COLUMN IF EXISTS half")
