"""Privacy: the audit trail (an older schema's people_ops rows move into it, in order),
suppressions of forgotten photos and faces, block_future templates, report parameters.

Revision ID: 0004
Revises: 0003
"""

from facepipe.core.migrations import execute, execute_file, exists

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
    execute("ALTER TABLE {schema}.report_runs DROP COLUMN IF EXISTS params")
    execute("DROP FUNCTION IF EXISTS {schema}.box_iou(integer, integer, integer, integer,"
            " integer, integer, integer, integer)")  # fmt: skip
    for table in ("forget_templates", "suppressions", "audit"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
