"""The deployment's settings (one value for every process, each change audited) and the
retention horizon (the first day kept, as retention applied it), beside the data.

Revision ID: 0010
Revises: 0009
"""

from psycopg import sql

from facepipe.core.migrations import _context, execute, execute_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_file("0010_settings.sql")
    _from_the_audit()


def _from_the_audit() -> None:
    """The horizon and the settings as the audit trail last left them: retention only moves the
    horizon forward, `--reopen-from` sets it back; each setting's newest change (a NULL new value:
    unset). A new deployment's trail is empty: nothing is added."""
    conn, schema, _ = _context()
    audit = sql.Identifier(schema, "audit")
    horizon = None
    for op, who, at, detail in conn.execute(
        sql.SQL(
            "SELECT op, who, at, detail FROM {} WHERE op IN ('retention', 'retention_reopen', 'setting') ORDER BY op_no"
        ).format(audit)
    ).fetchall():
        if op == "retention" and detail.get("before"):
            if horizon is None or detail["before"] > horizon[0]:
                horizon = (detail["before"], int(detail.get("keep_days") or 0), who, at)
        elif op == "retention_reopen" and horizon is not None and detail.get("after"):
            horizon = (detail["after"], horizon[1], who, at)
        elif op == "setting" and detail.get("name"):
            if detail.get("new") is None:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE name = %s").format(sql.Identifier(schema, "settings")),
                    (detail["name"],),
                )
            else:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (name, value, set_by, set_at) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (name) DO UPDATE SET value = excluded.value, set_by = excluded.set_by,"
                        " set_at = excluded.set_at"
                    ).format(sql.Identifier(schema, "settings")),
                    (detail["name"], str(detail["new"]), who, at),
                )
    if horizon is not None:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (before, keep_days, set_by, set_at) VALUES (%s, %s, %s, %s) ON CONFLICT (one) DO NOTHING"
            ).format(sql.Identifier(schema, "retention_horizon")),
            horizon,
        )


def downgrade() -> None:
    # An older facepipe reads its settings from each process's environment only, and knows
    # no horizon: the audit trail keeps both (ops 'setting', 'retention', 'retention_reopen'),
    # and the upgrade takes them back from it (_from_the_audit).
    execute("DROP TABLE IF EXISTS {schema}.retention_horizon")
    execute("DROP TABLE IF EXISTS {schema}.settings")
