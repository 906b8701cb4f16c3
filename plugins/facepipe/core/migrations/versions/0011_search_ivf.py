"""The search structure over every day becomes an IVF facepipe keeps itself (search_ivf,
search_centroids; each version's table is made by facepipe.search.ivf): the generations'
tables and the days' HNSW indexes go.

face_search trains the first version on its next run (from facepipe.search.ivf.MIN_FACES
faces); until then searches read every face of their range, exactly.

Revision ID: 0011
Revises: 0010
"""

from facepipe.core.migrations import _context, execute, execute_file, exists

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _tables(pattern: str) -> list[str]:
    conn, schema, _ = _context()
    return [
        name
        for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname ~ %s ORDER BY 1",
            (schema, pattern),
        ).fetchall()
    ]


def upgrade() -> None:
    execute_file("0011_search_ivf.sql")
    # the generations, with every copy of the vectors in their files
    for table in _tables("^search_sealed_g[0-9]+$"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
    for table in ("search_sealed_days", "search_generations"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
    # one HNSW graph a day: no search reads them now
    conn, schema, _ = _context()
    for (index,) in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND indexname ~ '^faces_[0-9]{8}_embedding_hnsw$'",
        (schema,),
    ).fetchall():
        execute("DROP INDEX IF EXISTS {schema}.{i}", i=index)


def downgrade() -> None:
    # An older facepipe finds no generation (searches go day by day, exactly, without the
    # days' HNSW indexes) until its face_search builds one.
    if exists("search_ivf"):
        for table in _tables("^search_lists_v[0-9]+$"):
            execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
    for table in ("search_centroids", "search_ivf"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
    execute_file("0006_search_generations.sql")
    execute_file("0009_search_half.sql")
