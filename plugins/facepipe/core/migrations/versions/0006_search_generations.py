"""The search structure over every day: generations of one HNSW graph (search_generations,
search_sealed_days; the generations' own tables are made by facepipe.search.generations).

Revision ID: 0006
Revises: 0005
"""

from facepipe.core.migrations import _context, execute, execute_file, exists

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0006_search_generations.sql")


def downgrade() -> None:
    if exists("search_generations"):
        conn, schema, _ = _context()
        for (gen,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname ~ '^search_sealed_g[0-9]+$'",
            (schema,),
        ).fetchall():
            execute("DROP TABLE IF EXISTS {schema}.{t}", t=gen)
    for table in ("search_sealed_days", "search_generations"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
