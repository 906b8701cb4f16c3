"""Alembic's environment: facepipe's revisions on facepipe's connection (given by
facepipe.core.schema), in one transaction under the DDL advisory lock, with the version
table in facepipe's own schema. The grants on the reader schema are read before the
revisions and given back after them, in that transaction (reader_grants)."""

from alembic import context
from psycopg import sql

from facepipe.core.db import ensure_vector_extension
from facepipe.core.migrations import reader_grants
from facepipe.core.schema import reader_schema

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema"]

context.configure(
    connection=connection,
    version_table="alembic_version",
    version_table_schema=schema,
    transactional_ddl=True,
    transaction_per_migration=False,
)

with context.begin_transaction():
    raw = connection.connection.driver_connection
    # Waits for loads (they hold it shared) and for another upgrade; the version is read
    # after it, so two tasks starting at once upgrade once.
    raw.execute("SELECT pg_advisory_xact_lock(hashtext('facepipe:ddl'))")
    ensure_vector_extension(raw)
    raw.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    config.attributes["before"] = context.get_context().get_current_revision()  # under the lock
    reader = reader_schema(schema)
    granted = reader_grants.held(raw, reader)  # a dropped view or schema takes its grants with it
    context.run_migrations()
    config.attributes["readers_given"] = reader_grants.carry_over(raw, schema, reader, granted)
