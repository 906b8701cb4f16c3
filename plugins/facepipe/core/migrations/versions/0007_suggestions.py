"""Suggestions: the questions the nightly assignment asks instead of guessing (is this
face identity X? are identities A and B one person?), with their answers.

Revision ID: 0007
Revises: 0006
"""

from facepipe.core.migrations import execute, execute_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0007_suggestions.sql")


def downgrade() -> None:
    execute("DROP TABLE IF EXISTS {schema}.suggestions")
