"""Privacy: the audit trail (an older schema's people_ops rows move into it, in order),
suppressions of forgotten photos and faces, block_future templates, report parameters.

Revision ID: 0004
Revises: 0003
"""

from psycopg import sql

from facepipe.core.config import ConfigError
from facepipe.core.migrations import _context, execute, execute_file, exists
from facepipe.core.text import plural

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0004_privacy.sql")
    if exists("people_ops"):  # the audit table's name before it held forgets and retention
        execute(
            "INSERT INTO {schema}.audit (at, who, op, identity_id, other_id, detail)"
            " SELECT at, who, op, identity_id, other_id, detail FROM {schema}.people_ops ORDER BY op_no"
        )
        execute("DROP TABLE {schema}.people_ops")


def downgrade() -> None:
    # What forgets keep so that nothing comes back, and who did what: never dropped by a
    # downgrade. Dropping suppressions would let a re-run index forgotten faces again.
    conn, schema, _ = _context()
    kept = {}
    for table in ("suppressions", "forget_templates", "audit"):
        if exists(table):
            n = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()[0]
            if n:
                kept[table] = n
    if kept:
        raise ConfigError(
            "refused: a downgrade below 0004 would drop "
            + ", ".join(f"{plural(n, 'row')} of {t}" for t, n in kept.items())
            + ". suppressions and forget_templates keep forgotten faces from being indexed again, and the"
            " audit records who did what. Nothing was changed."
        )
    execute("ALTER TABLE {schema}.report_runs DROP COLUMN IF EXISTS params")
    execute("DROP FUNCTION IF EXISTS {schema}.box_iou(integer, integer, integer, integer,"
            " integer, integer, integer, integer)")  # fmt: skip
    for table in ("forget_templates", "suppressions", "audit"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
