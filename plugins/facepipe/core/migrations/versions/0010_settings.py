"""The deployment's settings (one value for every process, each change audited) and the
retention horizon (the first day kept, as retention applied it), beside the data.

Revision ID: 0010
Revises: 0009
"""

from facepipe.core.migrations import execute, execute_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0010_settings.sql")


def downgrade() -> None:
    # An older facepipe reads its settings from each process's environment only, and knows
    # no horizon: the audit trail keeps both (op 'setting', op 'retention'), and an upgrade
    # takes the horizon back from it.
    execute("DROP TABLE IF EXISTS {schema}.retention_horizon")
    execute("DROP TABLE IF EXISTS {schema}.settings")
