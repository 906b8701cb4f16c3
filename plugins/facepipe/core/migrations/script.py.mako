"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from facepipe.core.migrations import execute_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("${up_revision}.sql")


def downgrade() -> None:
    raise NotImplementedError
