"""Arrivals and plans: when each loose file was first seen, the days planned per source,
one plan row per run.

Revision ID: 0002
Revises: 0001
"""

from facepipe.core.migrations import execute, execute_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0002_arrivals.sql")


def downgrade() -> None:
    execute("DROP INDEX IF EXISTS {schema}.load_runs_day_source")
    for table in ("stage_plans", "planned_days", "first_seen"):
        execute("DROP TABLE IF EXISTS {schema}.{t}", t=table)
